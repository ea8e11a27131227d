//! Shared plumbing for the example frameworks: flags, runtime, logging, task building.

use std::collections::HashSet;

use libprocess::{Config, Runtime};
use mesos_proto::mesos::{
    CommandInfo, FrameworkInfo, Offer, Resource, SlaveId, TaskId, TaskInfo, TaskState,
};

use crate::resources::{scalar, take_scalar};

/// Starts logging (RUST_LOG, default warn) and a runtime honouring `LIBPROCESS_*`.
pub fn start_runtime() -> anyhow::Result<Runtime> {
    libprocess::logging::init("RUST_LOG", "warn");
    let rt = Runtime::start(Config::local().from_env()?)?;
    rt.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
    Ok(rt)
}

pub fn framework_info(name: &str, role: Option<&str>) -> FrameworkInfo {
    FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: name.to_string(),
        hostname: Some(libprocess::config::hostname()),
        roles: role.map(|r| vec![r.to_string()]).unwrap_or_default(),
        capabilities: if role.is_some() {
            vec![mesos_proto::mesos::framework_info::Capability {
                r#type: Some(
                    mesos_proto::mesos::framework_info::capability::Type::MultiRole as i32,
                ),
            }]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

/// A command task using `cpus`/`mem` taken from the offer, or None if it does not fit.
pub fn command_task(
    offer: &Offer,
    remaining: &mut Vec<Resource>,
    id: &str,
    command: &str,
    cpus: f64,
    mem: f64,
) -> Option<TaskInfo> {
    if scalar(remaining, "cpus") + 1e-9 < cpus || scalar(remaining, "mem") + 1e-9 < mem {
        return None;
    }
    let r_cpus = take_scalar(remaining, "cpus", cpus)?;
    let r_mem = take_scalar(remaining, "mem", mem)?;
    for (name, amount) in [("cpus", cpus), ("mem", mem)] {
        if let Some(r) = remaining
            .iter_mut()
            .find(|r| r.name == name && r.scalar.is_some())
        {
            if let Some(s) = r.scalar.as_mut() {
                s.value -= amount;
            }
        }
    }
    Some(TaskInfo {
        name: id.to_string(),
        task_id: TaskId {
            value: id.to_string(),
        },
        slave_id: SlaveId {
            value: offer.slave_id.value.clone(),
        },
        resources: vec![r_cpus, r_mem],
        command: Some(CommandInfo {
            value: Some(command.to_string()),
            shell: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_UNKNOWN")
}

/// Whether a raw `TaskStatus.state` is terminal.
pub use mesos_proto::task_state::is_terminal_value as is_terminal;

/// Ids seen terminal, to count each task once.
pub type Seen = HashSet<String>;

/// Runs a scheduler over the chosen API (`v0` or `v1`) until it stops; then lets the last
/// calls leave and stops the runtime. With a `zk://` master it subscribes to whichever
/// master leads whenever the current one is lost.
pub fn run(
    rt: &Runtime,
    api: &str,
    master: impl Into<crate::master::MasterSpec>,
    info: FrameworkInfo,
    scheduler: Box<dyn crate::Scheduler>,
) -> anyhow::Result<crate::driver::Outcome> {
    let crate::master::MasterSpec { pid, detect } = master.into();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = if api == "v1" {
        tokio_rt.block_on(crate::v1::run_following(
            pid.socket_addr(),
            detect,
            info,
            scheduler,
        ))?
    } else {
        tokio_rt.block_on(crate::Driver::run_following(
            rt, pid, detect, info, scheduler,
        ))?
    };
    // Give the TEARDOWN a moment to leave before the runtime stops.
    std::thread::sleep(std::time::Duration::from_millis(100));
    rt.shutdown();
    Ok(outcome)
}

/// One status update as genuine `mesos-execute` prints it: the state and task, then the
/// message, source and reason when present, so a user sees why a task ended.
pub fn describe_status(status: &mesos_proto::mesos::TaskStatus) -> String {
    let mut out = format!(
        "Received status update {} for task '{}'",
        state_name(status.state),
        status.task_id.value
    );
    if let Some(m) = &status.message {
        out.push_str(&format!("\n  message: '{m}'"));
    }
    if let Some(source) = status
        .source
        .and_then(|s| mesos_proto::mesos::task_status::Source::try_from(s).ok())
    {
        out.push_str(&format!("\n  source: {}", source.as_str_name()));
    }
    if let Some(reason) = status
        .reason
        .and_then(|r| mesos_proto::mesos::task_status::Reason::try_from(r).ok())
    {
        out.push_str(&format!("\n  reason: {}", reason.as_str_name()));
    }
    if let Some(healthy) = status.healthy {
        out.push_str(&format!("\n  healthy?: {}", u8::from(healthy)));
    }
    out
}

#[cfg(test)]
mod describe_tests {
    use super::*;
    use mesos_proto::mesos::{task_status, TaskId, TaskState, TaskStatus};

    #[test]
    fn an_update_is_printed_with_its_message_source_and_reason_like_genuine_mesos_execute() {
        let mut s = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskFailed as i32,
            message: Some("Memory limit exceeded".into()),
            ..Default::default()
        };
        s.set_source(task_status::Source::Slave);
        s.set_reason(task_status::Reason::ContainerLimitationMemory);
        assert_eq!(
            describe_status(&s),
            "Received status update TASK_FAILED for task 't'\n  message: 'Memory limit exceeded'\n  source: SOURCE_SLAVE\n  reason: REASON_CONTAINER_LIMITATION_MEMORY"
        );
        let bare = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskRunning as i32,
            ..Default::default()
        };
        assert_eq!(
            describe_status(&bare),
            "Received status update TASK_RUNNING for task 't'"
        );
    }
}
