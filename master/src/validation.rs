//! Checks on ACCEPT before anything reaches an agent: the offers, each task, task groups.
//!
//! Genuine agents abort on some malformed launches (a TaskInfo with both or neither of
//! `command` and `executor`), so everything a framework sends is checked here, and every
//! failure becomes a status update to the framework, never a crash.

use std::collections::BTreeSet;

use mesos_proto::mesos::{offer, ExecutorInfo, OfferId, Resource, TaskInfo};

use crate::master::Master;
use crate::resources;

/// What a task is checked against.
pub struct TaskCheck<'a> {
    pub framework_id: &'a str,
    pub agent_id: &'a str,
    /// Task ids launched earlier in the same ACCEPT.
    pub launched: &'a BTreeSet<String>,
    /// What is left of the offered resources.
    pub available: &'a [Resource],
}

/// Checks that the offers exist, belong to the framework and share one agent.
pub fn validate_offers(
    master: &Master,
    framework_id: &str,
    offer_ids: &[OfferId],
) -> Result<(), String> {
    if offer_ids.is_empty() {
        return Err("No offers specified".into());
    }
    let mut seen = BTreeSet::new();
    let mut agent: Option<&str> = None;
    for id in offer_ids {
        if !seen.insert(id.value.as_str()) {
            return Err(format!("Duplicate offer {} in the same call", id.value));
        }
        let Some(entry) = master.offers.get(&id.value) else {
            return Err(format!("Offer {} is no longer valid", id.value));
        };
        if entry.offer.framework_id.value != framework_id {
            return Err(format!("Offer {} has invalid framework", id.value));
        }
        let this = entry.offer.slave_id.value.as_str();
        match agent {
            Some(a) if a != this => {
                return Err("Aggregated offers must belong to one single agent".into());
            }
            _ => agent = Some(this),
        }
        if !master.agents.registered.get(this).is_some_and(|a| a.active) {
            return Err(format!(
                "Offer {} is on an agent that is not active",
                id.value
            ));
        }
    }
    Ok(())
}

/// Mesos's rules for ids (task, executor): non-empty, no `/`, no whitespace or control
/// characters, not `.` or `..`.
pub fn validate_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{kind} ID must not be empty"));
    }
    if id == "." || id == ".." {
        return Err(format!("{kind} ID '{id}' is disallowed"));
    }
    if id
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("{kind} ID '{id}' contains invalid characters"));
    }
    Ok(())
}

/// Checks one task; returns the resources it consumes from the offer (its own plus
/// those of a new executor).
pub fn validate_task(
    master: &Master,
    check: &TaskCheck<'_>,
    task: &TaskInfo,
) -> Result<Vec<Resource>, String> {
    validate_id("Task", &task.task_id.value)?;
    common_task_checks(master, check, task)?;
    match (&task.command, &task.executor) {
        (Some(_), Some(_)) => return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                .into(),
        ),
        (None, None) => return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                .into(),
        ),
        _ => {}
    }
    let mut needed = task.resources.clone();
    if let Some(executor) = &task.executor {
        if validate_executor(master, check, executor)? {
            needed.extend(executor.resources.iter().cloned());
        }
    }
    if !resources::contains(check.available, &needed) {
        return Err(format!(
            "Task uses more resources {} than available {}",
            resources::describe(&needed),
            resources::describe(check.available)
        ));
    }
    Ok(needed)
}

fn common_task_checks(
    master: &Master,
    check: &TaskCheck<'_>,
    task: &TaskInfo,
) -> Result<(), String> {
    let framework = master
        .frameworks
        .get(check.framework_id)
        .ok_or("Framework is not registered")?;
    if framework.tasks.contains_key(&task.task_id.value)
        || check.launched.contains(&task.task_id.value)
    {
        return Err(format!("Task has duplicate ID: {}", task.task_id.value));
    }
    if task.slave_id.value != check.agent_id {
        return Err(format!(
            "Task uses invalid agent {} while the offers are on agent {}",
            task.slave_id.value, check.agent_id
        ));
    }
    resources::validate(&task.resources)
        .map_err(|e| format!("Task uses invalid resources: {e}"))?;
    Ok(())
}

/// Checks an executor; returns true if it is new on the agent (its resources are needed).
fn validate_executor(
    master: &Master,
    check: &TaskCheck<'_>,
    executor: &ExecutorInfo,
) -> Result<bool, String> {
    validate_id("Executor", &executor.executor_id.value)?;
    if let Some(fid) = &executor.framework_id {
        if fid.value != check.framework_id {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                fid.value, check.framework_id
            ));
        }
    }
    resources::validate(&executor.resources)
        .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
    let existing = master
        .agents
        .registered
        .get(check.agent_id)
        .and_then(|a| a.executors.get(check.framework_id))
        .and_then(|e| e.get(&executor.executor_id.value));
    match existing {
        Some(known) => {
            if known.command != executor.command
                || !resources::same(&known.resources, &executor.resources)
            {
                return Err(format!(
                    "ExecutorInfo is not compatible with the ExecutorInfo of the running executor {}",
                    executor.executor_id.value
                ));
            }
            Ok(false)
        }
        None => Ok(true),
    }
}

/// Checks a LAUNCH_GROUP; returns the resources it consumes.
pub fn validate_task_group(
    master: &Master,
    check: &TaskCheck<'_>,
    group: &offer::operation::LaunchGroup,
) -> Result<Vec<Resource>, String> {
    if group.task_group.tasks.is_empty() {
        return Err("Task group must not be empty".into());
    }
    let mut ids = BTreeSet::new();
    let mut needed = Vec::new();
    for task in &group.task_group.tasks {
        validate_id("Task", &task.task_id.value)?;
        if !ids.insert(task.task_id.value.clone()) {
            return Err(format!(
                "Task group has duplicate task ID: {}",
                task.task_id.value
            ));
        }
        common_task_checks(master, check, task)?;
        if task.executor.is_some() {
            return Err(format!(
                "Task '{}' in a task group must not have an ExecutorInfo",
                task.task_id.value
            ));
        }
        needed.extend(task.resources.iter().cloned());
    }
    if validate_executor(master, check, &group.executor)? {
        needed.extend(group.executor.resources.iter().cloned());
    }
    if !resources::contains(check.available, &needed) {
        return Err(format!(
            "Task group uses more resources {} than available {}",
            resources::describe(&needed),
            resources::describe(check.available)
        ));
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn ids_with_slashes_spaces_or_dots_are_rejected() {
        assert!(validate_id("Task", "task-1").is_ok());
        assert!(validate_id("Task", "").is_err());
        assert!(validate_id("Task", "a/b").is_err());
        assert!(validate_id("Task", "a b").is_err());
        assert!(validate_id("Task", "..").is_err());
    }
}
