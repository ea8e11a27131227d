//! The Mesos agent: registers this machine's resources with a master and runs tasks in
//! executors, speaking the genuine Mesos 1.11 wire protocol.
//!
//! # Layout
//! - [`flags`]: `mesos-agent` flags (`--master`, `--work_dir`, ... and `MESOS_*`).
//! - [`resources`]: resource detection and the `--resources` / `--attributes` text forms.
//! - [`paths`]: the sandbox layout under the work dir; path confinement for `/files`.
//! - [`containerizer`]: the posix launcher (process groups, executor environment).
//! - [`status_update_manager`]: per-task update streams with retries until acknowledged.
//! - [`history`]: the bounds on completed frameworks, executors and tasks.
//! - [`slave`]: the `slave(1)` process: registration, pings, tasks, v0 executors.
//! - `executor_api`: the v1 HTTP executor API.
//! - `kill`: `KillTaskMessage` cases (queued, launched, unknown to the agent).
//! - `reconciliation`: the master's reconciliation requests on re-registration.
//! - `termination`: the terminal status of tasks whose executor ended.
//! - `http`: `/state`, `/health`, and the `/files` routes.
//! - [`operator_http`]: `/flags`, `/version`, `.json` aliases, the v1 operator API `/api/v1`.
//! - `files`: `/files/read` and `/files/download` (off the mailbox, bounded memory).
//! - `browse`: `/files/browse` (off the mailbox, at most `MAX_BROWSE_ENTRIES` entries).
//! - [`run`]: starting an agent from flags (what `mesos-agent` does).
#![deny(unsafe_code)]

mod browse;
pub mod containerizer;
mod executor_api;
mod files;
pub mod flags;
pub mod history;
mod http;
mod kill;
pub mod operator_http;
pub mod paths;
mod reconciliation;
pub mod resources;
pub mod slave;
pub mod status_update_manager;
mod termination;

pub use flags::Flags;
pub use slave::{Slave, SlaveConfig};

use std::path::PathBuf;

use libprocess::{Config, Pid, Runtime};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Flags(#[from] flags::FlagError),
    #[error(transparent)]
    Resources(#[from] resources::ResourceError),
    #[error("cannot create work dir {path}: {source}")]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] libprocess::config::ConfigError),
    #[error(transparent)]
    Runtime(#[from] libprocess::Error),
}

/// A running agent.
pub struct Agent {
    pub runtime: Runtime,
    pub slave: Pid<Slave>,
    /// Receives a reason when the master shuts the agent down.
    pub shutdown: std::sync::mpsc::Receiver<String>,
}

/// The configuration the flags describe (resources detected, master resolved).
pub fn config_from_flags(flags: &Flags) -> Result<SlaveConfig, StartError> {
    flags.validate()?;
    let master = flags::master_upid(&flags.master)?;
    std::fs::create_dir_all(&flags.work_dir).map_err(|source| StartError::WorkDir {
        path: flags.work_dir.clone(),
        source,
    })?;
    let work_dir = flags
        .work_dir
        .canonicalize()
        .map_err(|source| StartError::WorkDir {
            path: flags.work_dir.clone(),
            source,
        })?;
    let launcher_dir = flags.launcher_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    Ok(SlaveConfig {
        master,
        resources: resources::total(flags.resources.as_deref(), &work_dir)?,
        attributes: match &flags.attributes {
            Some(a) => resources::parse_attributes(a)?,
            None => Vec::new(),
        },
        work_dir,
        hostname: flags
            .hostname
            .clone()
            .unwrap_or_else(libprocess::config::hostname),
        launcher_dir,
        registration_backoff_factor: flags.registration_backoff_factor,
        executor_registration_timeout: flags.executor_registration_timeout,
        executor_shutdown_grace_period: flags.executor_shutdown_grace_period,
        http_command_executor: flags.http_command_executor,
        max_completed_executors_per_framework: flags.max_completed_executors_per_framework,
        flags: flags.to_map(),
    })
}

/// Starts the runtime (the agent is its HTTP delegate) and the `slave(1)` process.
pub fn run(flags: &Flags) -> Result<Agent, StartError> {
    let config = config_from_flags(flags)?;
    let rt_config = Config {
        ip: flags.ip,
        port: flags.port,
        advertise_ip: flags.advertise_ip,
        advertise_port: flags.advertise_port,
        delegate: Some("slave(1)".into()),
        ..Default::default()
    };
    start(rt_config, config)
}

/// Starts an agent on a runtime built from `rt_config` (tests pass `Config::local()`).
pub fn start(mut rt_config: Config, config: SlaveConfig) -> Result<Agent, StartError> {
    rt_config.delegate = Some("slave(1)".into());
    let runtime = Runtime::start(rt_config)?;
    runtime.set_validator(|n, b| mesos_proto::check(n, b).map_err(|e| e.to_string()));
    let (tx, rx) = std::sync::mpsc::channel();
    let id = runtime.generate_id("slave");
    let slave = runtime.spawn(id, Slave::new(config, Some(tx)))?;
    Ok(Agent {
        runtime,
        slave,
        shutdown: rx,
    })
}
