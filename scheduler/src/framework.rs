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
/// calls leave and stops the runtime.
pub fn run(
    rt: &Runtime,
    api: &str,
    master: libprocess::Upid,
    info: FrameworkInfo,
    scheduler: Box<dyn crate::Scheduler>,
) -> anyhow::Result<crate::driver::Outcome> {
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = if api == "v1" {
        tokio_rt.block_on(crate::v1::run(master.socket_addr(), info, scheduler))?
    } else {
        tokio_rt.block_on(crate::Driver::run(rt, master, info, scheduler))?
    };
    // Give the TEARDOWN a moment to leave before the runtime stops.
    std::thread::sleep(std::time::Duration::from_millis(100));
    rt.shutdown();
    Ok(outcome)
}
