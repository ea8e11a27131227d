//! The agent process (`slave(1)`): registration with the master, pings, tasks and their
//! executors, and the executor side of the v0 executor API.
//!
//! The process's state lives here; its handlers are split by concept, as the master's:
//! `registration` (master, pings), `tasks` (RunTask/RunTaskGroup), `executors` (launch,
//! registration, shutdown, termination), `status_updates` (executor and agent updates,
//! forwarding, acknowledgements), `frameworks`, `containers` (asking the containerizer),
//! `framework_shutdown`, `launch_guard`.
//!
//! Everything here runs in the process's mailbox; timers go through the runtime clock
//! (registration backoff, ping timeout, executor registration timeout, status update
//! retries, shutdown grace periods), so tests can drive them with a paused clock.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Ctx, Process, Upid};
use mesos_proto::mesos::internal::{
    ExecutorRegisteredMessage, ExecutorToFrameworkMessage, ExitedExecutorMessage,
    FrameworkToExecutorMessage, KillTaskMessage, PingSlaveMessage, PongSlaveMessage,
    RegisterExecutorMessage, RegisterSlaveMessage, ReregisterSlaveMessage, RunTaskGroupMessage,
    RunTaskMessage, ShutdownExecutorMessage, ShutdownFrameworkMessage, ShutdownMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage, UpdateFrameworkMessage,
};
use mesos_proto::mesos::{
    executor_info, slave_info, task_status, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId,
    FrameworkInfo, Resource, SlaveId, SlaveInfo, Task, TaskGroupInfo, TaskId, TaskInfo, TaskState,
    TaskStatus, Uuid,
};
use mesos_proto::task_state::is_terminal;
use rand::Rng;
use tokio::sync::mpsc::UnboundedSender;

use crate::containerizer;

mod master_detection;
use crate::history;
use crate::paths;
use crate::status_update_manager::{key_of, StatusUpdateManager};
use crate::termination::{executor_terminated_status, PendingTermination};

mod containers;
mod early_launches;
mod executors;
mod framework_shutdown;
mod frameworks;
mod launch_guard;
mod registration;
mod status_updates;
mod tasks;

/// Mesos version this agent reports.
pub const VERSION: &str = "1.11.0";
/// Cap of the registration backoff.
pub const REGISTRATION_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// `total_ping_timeout_seconds` when the master does not say (15 s × 5).
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(75);
/// Extra resources of an executor the agent builds for a command task.
pub const COMMAND_EXECUTOR_CPUS: f64 = 0.1;
pub const COMMAND_EXECUTOR_MEM: f64 = 32.0;

/// The capabilities a genuine 1.11 agent announces, in its order.
pub const AGENT_CAPABILITIES: [slave_info::capability::Type; 8] = {
    use slave_info::capability::Type::*;
    [
        MultiRole,
        HierarchicalRole,
        ReservationRefinement,
        ResourceProvider,
        ResizeVolume,
        AgentOperationFeedback,
        AgentDraining,
        TaskResourceLimits,
    ]
};

/// What the agent is configured with.
#[derive(Debug, Clone)]
pub struct SlaveConfig {
    pub master: Upid,
    pub work_dir: PathBuf,
    pub hostname: String,
    pub resources: Vec<Resource>,
    pub attributes: Vec<mesos_proto::mesos::Attribute>,
    pub launcher_dir: PathBuf,
    pub registration_backoff_factor: Duration,
    pub executor_registration_timeout: Duration,
    pub executor_shutdown_grace_period: Duration,
    /// Command executors use the v1 HTTP executor API (`--http_command_executor`).
    pub http_command_executor: bool,
    /// Exited executors remembered per framework (`--max_completed_executors_per_framework`).
    pub max_completed_executors_per_framework: usize,
    /// `name -> value`, shown in `/state`.
    pub flags: Vec<(String, String)>,
}

/// Where the agent stands with its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegState {
    Disconnected,
    Registering,
    Registered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecState {
    Registering,
    Running,
    Terminating,
    Terminated,
}

/// A v1 HTTP executor's event stream.
pub(crate) struct EventStream {
    pub tx: UnboundedSender<Bytes>,
    pub json: bool,
}

pub(crate) struct Executor {
    pub info: ExecutorInfo,
    pub container_id: String,
    pub directory: PathBuf,
    pub state: ExecState,
    /// The v0 executor's UPID once registered.
    pub pid: Option<Upid>,
    /// The v1 executor's stream once subscribed.
    pub stream: Option<EventStream>,
    pub os_pid: Option<u32>,
    /// Tasks waiting for the executor to register.
    pub queued: Vec<TaskInfo>,
    /// Task groups waiting for the executor to subscribe.
    pub queued_groups: Vec<TaskGroupInfo>,
    /// Tasks given to the executor, by task id.
    pub tasks: BTreeMap<String, Task>,
    /// The newest terminal tasks (at most `MAX_COMPLETED_TASKS_PER_EXECUTOR`).
    pub completed_tasks: VecDeque<Task>,
    pub command_executor: bool,
    /// Why the agent ended the executor, if it did: its tasks' terminal state says so.
    pub pending_termination: Option<PendingTermination>,
}

/// What a newly launched executor is started for.
pub(crate) enum Pending {
    Task(Box<TaskInfo>),
    Group(TaskGroupInfo),
}

impl Pending {
    fn task_ids(&self) -> Vec<TaskId> {
        match self {
            Pending::Task(t) => vec![t.task_id.clone()],
            Pending::Group(g) => g.tasks.iter().map(|t| t.task_id.clone()).collect(),
        }
    }
}

pub(crate) struct Framework {
    pub info: FrameworkInfo,
    pub pid: Option<String>,
    /// The master shut it down: its executors are going, its updates are not sent.
    pub terminating: bool,
    pub executors: BTreeMap<String, Executor>,
    /// The newest exited executors (at most `--max_completed_executors_per_framework`).
    pub completed_executors: VecDeque<Executor>,
}

/// The agent.
pub struct Slave {
    pub(crate) config: SlaveConfig,
    pub(crate) state: RegState,
    pub(crate) id: Option<SlaveId>,
    reg_generation: u64,
    backoff: Duration,
    ping_generation: u64,
    ping_timeout: Duration,
    resource_version_uuid: Vec<u8>,
    pub(crate) frameworks: BTreeMap<String, Framework>,
    /// The newest removed frameworks (at most `MAX_COMPLETED_FRAMEWORKS`).
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) sum: StatusUpdateManager,
    pub(crate) start_time: f64,
    shutdown: Option<mpsc::Sender<String>>,
    /// Launches and owns executors' containers: the only owner of their processes.
    pub(crate) containerizer: Option<libprocess::Pid<containerizer::Containerizer>>,
    /// Launches received while the registration was unacknowledged (`early_launches`).
    early: early_launches::EarlyLaunches,
    /// The detected leader's MasterInfo id (`master_detection`).
    master_id: Option<String>,
}

/// Whether a `pid` field names a process: genuine masters write the empty UPID
/// (`@0.0.0.0:0`) for frameworks without one (HTTP frameworks).
fn names_a_process(pid: &str) -> bool {
    Upid::parse(pid).is_ok_and(|p| !p.is_none())
}

/// What the agent itself checks of a task group (the master validated the rest).
fn validate_group(group: &TaskGroupInfo) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for t in &group.tasks {
        if t.executor.is_some() {
            return Err(format!(
                "Task '{}' in a task group must not have an ExecutorInfo",
                t.task_id.value
            ));
        }
        if !seen.insert(t.task_id.value.as_str()) {
            return Err(format!(
                "Task group has duplicate task ID: {}",
                t.task_id.value
            ));
        }
    }
    Ok(())
}

fn random_upto(max: Duration) -> Duration {
    if max.is_zero() {
        return max;
    }
    libprocess::duration::from_secs_f64(rand::thread_rng().gen_range(0.0..=max.as_secs_f64()))
        .unwrap_or(max)
}

/// The next registration wait and the new backoff bound: wait in `[0, b]`, then `b` doubles
/// (capped at one minute).
pub fn registration_backoff(bound: Duration) -> (Duration, Duration) {
    (
        random_upto(bound),
        (bound * 2).min(REGISTRATION_BACKOFF_MAX),
    )
}

impl Slave {
    /// `shutdown` receives a reason when the master tells the agent to shut down.
    pub fn new(config: SlaveConfig, shutdown: Option<mpsc::Sender<String>>) -> Slave {
        Slave {
            backoff: config.registration_backoff_factor * 2,
            config,
            state: RegState::Disconnected,
            id: None,
            reg_generation: 0,
            ping_generation: 0,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            resource_version_uuid: uuid::Uuid::new_v4().as_bytes().to_vec(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            sum: StatusUpdateManager::new(),
            start_time: 0.0,
            shutdown,
            containerizer: None,
            early: Default::default(),
            master_id: None,
        }
    }

    pub fn state(&self) -> RegState {
        self.state
    }

    /// Process ids of the running executors.
    pub fn executor_pids(&self) -> Vec<u32> {
        self.frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .filter_map(|e| e.os_pid)
            .collect()
    }

    pub fn agent_id(&self) -> Option<&str> {
        self.id.as_ref().map(|i| i.value.as_str())
    }

    pub(crate) fn slave_info(&self, ctx: &Ctx<'_, Self>) -> SlaveInfo {
        SlaveInfo {
            hostname: self.config.hostname.clone(),
            resources: self.config.resources.clone(),
            attributes: self.config.attributes.clone(),
            id: self.id.clone(),
            checkpoint: Some(false),
            port: Some(i32::from(ctx.pid().address().port())),
            domain: None,
        }
    }

    fn capabilities() -> Vec<slave_info::Capability> {
        AGENT_CAPABILITIES
            .iter()
            .map(|t| slave_info::Capability {
                r#type: Some(*t as i32),
            })
            .collect()
    }

    // ---- registration -------------------------------------------------------------------

    pub(crate) fn executor_mut(&mut self, fw: &str, ex: &str) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(fw)
            .and_then(|f| f.executors.get_mut(ex))
    }
}

impl Process for Slave {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start_time = ctx.clock().now_secs();
        ctx.install::<SlaveRegisteredMessage>(Self::registered);
        ctx.install::<SlaveReregisteredMessage>(Self::reregistered);
        ctx.install::<PingSlaveMessage>(Self::ping);
        ctx.install::<ShutdownMessage>(Self::master_shutdown);
        ctx.install::<RunTaskMessage>(Self::run_task);
        ctx.install::<RunTaskGroupMessage>(Self::run_task_group);
        ctx.install::<KillTaskMessage>(Self::kill_task);
        ctx.install::<ShutdownFrameworkMessage>(Self::shutdown_framework);
        ctx.install::<ShutdownExecutorMessage>(Self::shutdown_executor_msg);
        ctx.install::<StatusUpdateAcknowledgementMessage>(Self::master_ack);
        ctx.install::<UpdateFrameworkMessage>(Self::update_framework);
        ctx.install::<FrameworkToExecutorMessage>(Self::framework_message);
        ctx.install::<ExecutorToFrameworkMessage>(Self::executor_message);
        ctx.install::<RegisterExecutorMessage>(Self::register_executor);
        ctx.install::<StatusUpdateMessage>(Self::executor_status_update);
        crate::http::install_routes(ctx);
        crate::executor_api::install_routes(ctx);
        crate::operator_http::install_routes(ctx);
        let factor = self.config.registration_backoff_factor;
        self.start_registration(ctx, factor);
    }

    /// This agent does not checkpoint, so nothing could recover its executors after it
    /// stops: the containerizer stops with it and kills them.
    fn finalize(&mut self, _ctx: &mut Ctx<'_, Self>) {
        if let Some(cz) = &self.containerizer {
            tracing::info!("agent stopping: stopping the containerizer");
            cz.terminate();
        }
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if *pid == self.config.master {
            tracing::warn!(master = %pid, "lost the connection to the master; re-registering");
            let factor = self.config.registration_backoff_factor;
            self.start_registration(ctx, factor);
            return;
        }
        for fw in self.frameworks.values() {
            for ex in fw.executors.values() {
                if ex.pid.as_ref() == Some(pid) {
                    tracing::info!(executor = %ex.info.executor_id.value, "executor's connection closed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_backoff_waits_within_the_bound_and_doubles_to_one_minute() {
        let mut bound = Duration::from_secs(2);
        let mut bounds = Vec::new();
        for _ in 0..8 {
            let (wait, next) = registration_backoff(bound);
            assert!(wait <= bound, "{wait:?} > {bound:?}");
            bounds.push(bound.as_secs());
            bound = next;
        }
        assert_eq!(bounds, vec![2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(registration_backoff(Duration::ZERO).0, Duration::ZERO);
    }

    #[test]
    fn capabilities_are_the_genuine_agents_in_order() {
        let names: Vec<&str> = AGENT_CAPABILITIES.iter().map(|c| c.as_str_name()).collect();
        assert_eq!(
            names,
            vec![
                "MULTI_ROLE",
                "HIERARCHICAL_ROLE",
                "RESERVATION_REFINEMENT",
                "RESOURCE_PROVIDER",
                "RESIZE_VOLUME",
                "AGENT_OPERATION_FEEDBACK",
                "AGENT_DRAINING",
                "TASK_RESOURCE_LIMITS"
            ]
        );
    }
}
