//! Checks on an agent's (re-)registration before the master believes anything in it.
//!
//! An agent's totals feed the allocator's fixed-point sums and every offer, so a NaN,
//! negative or absurd scalar, or a range that begins after it ends, must never get in.
//! As genuine Mesos, an invalid (re-)registration is dropped with a logged reason; the
//! agent keeps retrying and stays out of the cluster until it sends something valid.

use std::collections::BTreeSet;

use mesos_proto::mesos::internal::{RegisterSlaveMessage, ReregisterSlaveMessage};
use mesos_proto::mesos::{Resource, SlaveInfo, TaskState};

use crate::frameworks::validate_framework_info;
use crate::resources;
use crate::validation::validate_id;

fn check_resources(what: &str, r: &[Resource]) -> Result<(), String> {
    resources::validate(r).map_err(|e| format!("{what} invalid resources: {e}"))
}

fn check_slave_info(info: &SlaveInfo) -> Result<(), String> {
    if let Some(id) = &info.id {
        validate_id("Agent", &id.value)?;
    }
    check_resources("Agent has", &info.resources)
}

/// Why a RegisterSlaveMessage is refused, if it is.
pub fn validate_register(msg: &RegisterSlaveMessage) -> Result<(), String> {
    check_slave_info(&msg.slave)?;
    if !msg.checkpointed_resources.is_empty() && !msg.slave.checkpoint() {
        return Err("Checkpointed resources provided when checkpointing is not enabled".into());
    }
    check_resources("Agent has checkpointed", &msg.checkpointed_resources)
}

/// Why a ReregisterSlaveMessage is refused, if it is: the agent itself, then what it says it
/// runs (frameworks, executors, tasks) must be well formed and consistent.
pub fn validate_reregister(msg: &ReregisterSlaveMessage) -> Result<(), String> {
    check_slave_info(&msg.slave)?;
    check_resources("Agent has checkpointed", &msg.checkpointed_resources)?;
    let mut frameworks = BTreeSet::new();
    for f in &msg.frameworks {
        validate_framework_info(f)?;
        let id = f.id.as_ref().map(|i| i.value.as_str()).unwrap_or("");
        if !frameworks.insert(id) {
            return Err(format!("Framework has a duplicate FrameworkID: '{id}'"));
        }
    }
    let mut executors = BTreeSet::new();
    for e in &msg.executor_infos {
        validate_id("Executor", &e.executor_id.value)?;
        check_resources("Executor uses", &e.resources)?;
        let fid = e
            .framework_id
            .as_ref()
            .map(|i| i.value.as_str())
            .unwrap_or("");
        if !frameworks.contains(fid) {
            return Err(format!("Executor has an invalid FrameworkID '{fid}'"));
        }
        if !executors.insert((fid, e.executor_id.value.as_str())) {
            return Err(format!(
                "Framework '{fid}' has a duplicate ExecutorID '{}'",
                e.executor_id.value
            ));
        }
    }
    let agent_id = msg
        .slave
        .id
        .as_ref()
        .map(|i| i.value.as_str())
        .unwrap_or("");
    for t in &msg.tasks {
        validate_id("Task", &t.task_id.value)
            .map_err(|e| format!("Task has an invalid TaskID: {e}"))?;
        if t.slave_id.value != agent_id {
            return Err(format!(
                "Task has an invalid SlaveID '{}'",
                t.slave_id.value
            ));
        }
        let fid = t.framework_id.value.as_str();
        if !frameworks.contains(fid) {
            return Err(format!("Task has an invalid FrameworkID '{fid}'"));
        }
        if let Some(eid) = &t.executor_id {
            let running = t.state == TaskState::TaskRunning as i32;
            if running && !executors.contains(&(fid, eid.value.as_str())) {
                return Err(format!("Task has an invalid ExecutorID '{}'", eid.value));
            }
        }
        check_resources("Task uses", &t.resources)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{value, Resource, SlaveId};

    fn scalar(name: &str, v: f64) -> Resource {
        Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            ..Default::default()
        }
    }

    fn register(resources: Vec<Resource>) -> RegisterSlaveMessage {
        RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "h".into(),
                resources,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn registrations_with_nan_negative_infinite_or_huge_scalars_are_refused() {
        assert!(validate_register(&register(vec![scalar("cpus", 4.0)])).is_ok());
        for bad in [f64::NAN, -1.0, f64::INFINITY, 1e16] {
            let err = validate_register(&register(vec![scalar("cpus", bad)])).unwrap_err();
            assert!(err.contains("Agent has invalid resources"), "{err}");
        }
    }

    #[test]
    fn registrations_with_inverted_ranges_are_refused() {
        let ports = Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(value::Ranges {
                range: vec![value::Range {
                    begin: 32000,
                    end: 31000,
                }],
            }),
            ..Default::default()
        };
        let err = validate_register(&register(vec![ports])).unwrap_err();
        assert!(err.contains("begins after it ends"), "{err}");
    }

    #[test]
    fn reregistrations_with_tasks_of_unknown_frameworks_or_bad_resources_are_refused() {
        let mut msg = ReregisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "h".into(),
                id: Some(SlaveId { value: "S1".into() }),
                resources: vec![scalar("cpus", 2.0)],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(validate_reregister(&msg).is_ok());
        msg.tasks.push(mesos_proto::mesos::Task {
            name: "t".into(),
            task_id: mesos_proto::mesos::TaskId { value: "t1".into() },
            framework_id: mesos_proto::mesos::FrameworkId { value: "F".into() },
            slave_id: SlaveId { value: "S1".into() },
            resources: vec![scalar("cpus", f64::NAN)],
            ..Default::default()
        });
        let err = validate_reregister(&msg).unwrap_err();
        assert!(err.contains("invalid FrameworkID 'F'"), "{err}");
        msg.frameworks.push(mesos_proto::mesos::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(mesos_proto::mesos::FrameworkId { value: "F".into() }),
            ..Default::default()
        });
        let err = validate_reregister(&msg).unwrap_err();
        assert!(err.contains("Task uses invalid resources"), "{err}");
    }
}
