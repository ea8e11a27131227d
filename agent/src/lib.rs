//! The Mesos agent: registers this machine's resources with a master and runs tasks in
//! executors, speaking the genuine Mesos 1.11 wire protocol.
//!
//! # Layout
//! - [`flags`]: `mesos-agent` flags (`--master`, `--work_dir`, ... and `MESOS_*`).
//! - [`resources`]: resource detection and the `--resources` / `--attributes` text forms.
//! - [`paths`]: the sandbox layout under the work dir; path confinement for `/files`.
//! - [`containerizer`]: `mesos-containerizer(N)`, the only owner of containers: the posix
//!   launcher plus the isolators of `--isolation` (recover, launch, update, usage, wait,
//!   destroy).
//! - [`status_update_manager`]: per-task update streams with retries until acknowledged.
//! - [`history`]: the bounds on completed frameworks, executors and tasks.
//! - [`slave`]: the `slave(1)` process: registration, pings, tasks, v0 executors.
//! - `executor_api`: the v1 HTTP executor API.
//! - `kill`: `KillTaskMessage` cases (queued, launched, unknown to the agent).
//! - `reconciliation`: the master's reconciliation requests on re-registration.
//! - `termination`: the terminal status of tasks whose executor ended.
//! - `http`: `/state`, `/health`, and the `/files` routes.
//! - `monitor`: `/monitor/statistics(.json)`, every executor's usage from the containerizer.
//! - [`metrics`]: `slave/*` counters and state gauges with genuine's names.
//! - [`operator_calls`]: LIST_FILES, READ_FILE, GET_CONTAINERS, SET_LOGGING_LEVEL.
//! - [`operator_http`]: `/flags`, `/version`, `.json` aliases, the v1 operator API `/api/v1`.
//! - `files`: `/files/read` and `/files/download` (off the mailbox, bounded memory).
//! - `browse`: `/files/browse` (off the mailbox, at most `MAX_BROWSE_ENTRIES` entries).
//! - [`run`]: starting an agent from flags (what `mesos-agent` does).
#![deny(unsafe_code)]

mod browse;
pub mod containerizer;
pub mod detection;
mod executor_api;
mod files;
pub mod flags;
pub mod history;
mod http;
mod kill;
pub mod metrics;
mod monitor;
pub mod operator_calls;
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
    #[error("--master: {0}")]
    ZkUrl(#[from] mesos_zookeeper::UrlError),
    #[error("master detection: {0}")]
    Detector(String),
    #[error(transparent)]
    Isolation(#[from] mesos_isolators::RegistryError),
}

/// What the containerizer is built from: `--isolation` and the flags its isolators read
/// (`--cgroups_hierarchy`, `--cgroups_root`, `--cgroups_enable_cfs`).
#[derive(Debug, Clone)]
pub struct IsolationConfig {
    pub isolation: String,
    pub flags: mesos_isolators::IsolationFlags,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            isolation: mesos_isolators::registry::DEFAULT_ISOLATION.to_string(),
            flags: mesos_isolators::IsolationFlags::default(),
        }
    }
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
    let master = match detection::zk_master(&flags.master)? {
        Some(_) => detection::undetected_master(),
        None => flags::master_upid(&flags.master)?,
    };
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
    let isolation = flags.isolation_config();
    let rt_config = Config {
        ip: flags.ip,
        port: flags.port,
        advertise_ip: flags.advertise_ip,
        advertise_port: flags.advertise_port,
        delegate: Some("slave(1)".into()),
        ..Default::default()
    };
    if let Some(url) = detection::zk_master(&flags.master)? {
        // Like a genuine agent, wait (practically forever) for a leading master.
        let forever = std::time::Duration::from_secs(365 * 24 * 3600);
        return detection::start_isolated_with_detector(rt_config, config, isolation, url, forever);
    }
    start_isolated(rt_config, config, isolation)
}

/// Starts an agent on a runtime built from `rt_config` (tests pass `Config::local()`), with
/// the default isolation.
pub fn start(rt_config: Config, config: SlaveConfig) -> Result<Agent, StartError> {
    start_isolated(rt_config, config, IsolationConfig::default())
}

/// Starts an agent whose containerizer uses `isolation`; a bad `--isolation` or an
/// unusable cgroups hierarchy is a start-up error.
pub fn start_isolated(
    mut rt_config: Config,
    config: SlaveConfig,
    isolation: IsolationConfig,
) -> Result<Agent, StartError> {
    let specs = mesos_isolators::registry::with_filesystem_isolator(
        mesos_isolators::parse_isolation(&isolation.isolation)?,
    );
    rt_config.delegate = Some("slave(1)".into());
    let runtime = Runtime::start(rt_config)?;
    runtime.set_validator(|n, b| mesos_proto::check(n, b).map_err(|e| e.to_string()));
    let isolators =
        match mesos_isolators::registry::start_isolators(&runtime, &specs, &isolation.flags) {
            Ok(handles) => handles,
            Err(e) => {
                runtime.shutdown();
                return Err(e.into());
            }
        };
    let containerizer = runtime.spawn(
        runtime.generate_id("mesos-containerizer"),
        containerizer::Containerizer::new(isolators).switch_user(isolation.flags.switch_user),
    )?;
    let (tx, rx) = std::sync::mpsc::channel();
    let id = runtime.generate_id("slave");
    let mut slave = Slave::new(config, Some(tx));
    slave.containerizer = Some(containerizer);
    let slave = runtime.spawn(id, slave)?;
    Ok(Agent {
        runtime,
        slave,
        shutdown: rx,
    })
}
