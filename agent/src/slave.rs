//! The agent process (`slave(1)`): registration with the master, pings, tasks and their
//! executors, and the executor side of the v0 executor API.
//!
//! Everything here runs in the process's mailbox; timers go through the runtime clock
//! (registration backoff, ping timeout, executor registration timeout, status update
//! retries, shutdown grace periods), so tests can drive them with a paused clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Ctx, Process, TimerId, Upid};
use mesos_executors::child::Exit;
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
use crate::status_update_manager::{key_of, StatusUpdateManager, StreamKey};
use crate::termination::{executor_terminated_status, PendingTermination};

mod framework_shutdown;
mod launch_guard;

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
    retry_timers: HashMap<StreamKey, TimerId>,
    pub(crate) start_time: f64,
    shutdown: Option<mpsc::Sender<String>>,
    /// Launches and owns executors' containers (spawned in `initialize`).
    containerizer: Option<libprocess::Pid<containerizer::Containerizer>>,
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
            retry_timers: HashMap::new(),
            start_time: 0.0,
            shutdown,
            containerizer: None,
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

    /// Starts (or restarts) registering after a random wait in `[0, first_wait]`.
    fn start_registration(&mut self, ctx: &mut Ctx<'_, Self>, first_wait: Duration) {
        self.state = RegState::Registering;
        self.reg_generation += 1;
        self.backoff = self.config.registration_backoff_factor * 2;
        let generation = self.reg_generation;
        ctx.delay(random_upto(first_wait), "register", move |me, ctx| {
            me.attempt_registration(ctx, generation)
        });
    }

    fn attempt_registration(&mut self, ctx: &mut Ctx<'_, Self>, generation: u64) {
        if generation != self.reg_generation || self.state == RegState::Registered {
            return;
        }
        let master = self.config.master.clone();
        ctx.link(&master);
        match &self.id {
            None => {
                let msg = RegisterSlaveMessage {
                    slave: self.slave_info(ctx),
                    version: Some(VERSION.into()),
                    checkpointed_resources: Vec::new(),
                    agent_capabilities: Self::capabilities(),
                    resource_version_uuid: Some(Uuid {
                        value: self.resource_version_uuid.clone(),
                    }),
                };
                tracing::info!(%master, "registering with the master");
                ctx.send(&master, &msg);
            }
            Some(id) => {
                let msg = self.reregister_message(ctx, id.clone());
                tracing::info!(%master, agent_id = %id.value, tasks = msg.tasks.len(), "re-registering with the master");
                ctx.send(&master, &msg);
            }
        }
        let (wait, next) = registration_backoff(self.backoff);
        self.backoff = next;
        ctx.delay(wait, "register_retry", move |me, ctx| {
            me.attempt_registration(ctx, generation)
        });
    }

    fn reregister_message(&self, ctx: &Ctx<'_, Self>, id: SlaveId) -> ReregisterSlaveMessage {
        let mut tasks = Vec::new();
        let mut executor_infos = Vec::new();
        let mut frameworks = Vec::new();
        for fw in self.frameworks.values() {
            frameworks.push(fw.info.clone());
            for ex in fw
                .executors
                .values()
                .filter(|e| e.state != ExecState::Terminated)
            {
                if !ex.command_executor {
                    executor_infos.push(ex.info.clone());
                }
                let first = tasks.len();
                tasks.extend(ex.tasks.values().cloned());
                for t in ex
                    .queued
                    .iter()
                    .chain(ex.queued_groups.iter().flat_map(|g| g.tasks.iter()))
                {
                    tasks.push(self.task_record(fw, ex, t, TaskState::TaskStaging));
                }
                // A command executor is the agent's own and is not listed above: its tasks
                // name no executor, as genuine agents send them (a master rejects a RUNNING
                // task whose executor is not listed).
                if ex.command_executor {
                    for t in &mut tasks[first..] {
                        t.executor_id = None;
                    }
                }
            }
        }
        let mut slave = self.slave_info(ctx);
        slave.id = Some(id);
        ReregisterSlaveMessage {
            slave,
            tasks,
            executor_infos,
            completed_frameworks: Vec::new(),
            version: Some(VERSION.into()),
            checkpointed_resources: Vec::new(),
            frameworks,
            agent_capabilities: Self::capabilities(),
            resource_version_uuid: Some(Uuid {
                value: self.resource_version_uuid.clone(),
            }),
        }
    }

    fn registered(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: SlaveRegisteredMessage) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring SlaveRegisteredMessage not from the master");
            return;
        }
        if let Some(id) = &self.id {
            if *id != msg.slave_id {
                tracing::error!(old = %id.value, new = %msg.slave_id.value, "registered under a different id; ignoring");
                return;
            }
        }
        if self.state == RegState::Registered {
            return;
        }
        tracing::info!(agent_id = %msg.slave_id.value, "registered with the master");
        self.id = Some(msg.slave_id);
        self.on_registered(
            ctx,
            msg.connection.and_then(|c| c.total_ping_timeout_seconds),
        );
    }

    fn reregistered(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: SlaveReregisteredMessage) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring SlaveReregisteredMessage not from the master");
            return;
        }
        if self.id.as_ref() != Some(&msg.slave_id) {
            tracing::error!(new = %msg.slave_id.value, "re-registered under a different agent id; shutting down");
            self.shut_down(ctx, "re-registered with a different agent id".into());
            return;
        }
        if self.state == RegState::Registered {
            tracing::warn!(agent_id = %msg.slave_id.value, "already re-registered with the master");
        } else {
            tracing::info!(agent_id = %msg.slave_id.value, "re-registered with the master");
            self.on_registered(
                ctx,
                msg.connection.and_then(|c| c.total_ping_timeout_seconds),
            );
        }
        // As in Mesos, every accepted reply's requests are answered, even a repeated one's.
        self.reconcile_with_master(ctx, msg.reconciliations);
    }

    fn on_registered(&mut self, ctx: &mut Ctx<'_, Self>, ping_timeout: Option<f64>) {
        self.state = RegState::Registered;
        self.reg_generation += 1;
        // From the master: NaN, negative and zero keep the default; huge values saturate.
        if let Some(d) = ping_timeout
            .and_then(|s| libprocess::duration::from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
        {
            self.ping_timeout = d;
        }
        self.reset_ping_timer(ctx);
        // Anything queued while disconnected goes out now.
        for head in self.sum.heads() {
            self.forward(ctx, head);
        }
    }

    fn ping(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: PingSlaveMessage) {
        ctx.send(&from, &PongSlaveMessage {});
        ctx.metrics().counter("slave/pings_received").inc();
        if from.address() != self.config.master.address() {
            return;
        }
        if self.state == RegState::Registered && !msg.connected {
            tracing::warn!("the master says we are not connected; re-registering");
            self.start_registration(ctx, Duration::ZERO);
            return;
        }
        self.reset_ping_timer(ctx);
    }

    fn reset_ping_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.ping_generation += 1;
        let generation = self.ping_generation;
        ctx.delay(self.ping_timeout, "ping_timeout", move |me, ctx| {
            if generation == me.ping_generation && me.state == RegState::Registered {
                tracing::warn!(timeout = ?me.ping_timeout, "no ping from the master; re-registering");
                let factor = me.config.registration_backoff_factor;
                me.start_registration(ctx, factor);
            }
        });
    }

    fn master_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: ShutdownMessage) {
        if from != self.config.master {
            return;
        }
        let why = msg
            .message
            .unwrap_or_else(|| "the master asked the agent to shut down".into());
        tracing::warn!(%why, "shutting down");
        self.shut_down(ctx, why);
    }

    fn shut_down(&mut self, _ctx: &mut Ctx<'_, Self>, why: String) {
        for fw in self.frameworks.values() {
            for ex in fw.executors.values() {
                if let Some(pid) = ex.os_pid {
                    containerizer::destroy(pid);
                }
            }
        }
        self.state = RegState::Disconnected;
        self.reg_generation += 1;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(why);
        }
    }

    // ---- tasks --------------------------------------------------------------------------

    fn task_record(&self, fw: &Framework, ex: &Executor, t: &TaskInfo, state: TaskState) -> Task {
        Task {
            name: t.name.clone(),
            task_id: t.task_id.clone(),
            framework_id: fw.info.id.clone().unwrap_or_default(),
            executor_id: Some(ex.info.executor_id.clone()),
            slave_id: self.id.clone().unwrap_or_default(),
            state: state as i32,
            resources: t.resources.clone(),
            labels: t.labels.clone(),
            discovery: t.discovery.clone(),
            container: t.container.clone(),
            health_check: t.health_check.clone(),
            kill_policy: t.kill_policy,
            ..Default::default()
        }
    }

    /// The executor the agent builds for a command task.
    pub fn command_executor_info(
        &self,
        framework_id: &FrameworkId,
        task: &TaskInfo,
    ) -> ExecutorInfo {
        let path = self.config.launcher_dir.join("mesos-executor");
        let mut resources = task.resources.clone();
        crate::resources::add_scalars(&mut resources, COMMAND_EXECUTOR_CPUS, COMMAND_EXECUTOR_MEM);
        let shown = task.command.as_ref().map(|c| {
            if c.shell() {
                format!("sh -c '{}'", c.value())
            } else {
                format!("[{}]", c.arguments.join(", "))
            }
        });
        ExecutorInfo {
            executor_id: ExecutorId {
                value: task.task_id.value.clone(),
            },
            framework_id: Some(framework_id.clone()),
            name: Some(format!(
                "Command Executor (Task: {}) (Command: {})",
                task.task_id.value,
                shown.unwrap_or_default()
            )),
            command: Some(CommandInfo {
                value: Some(path.display().to_string()),
                shell: Some(false),
                arguments: vec![
                    "mesos-executor".into(),
                    format!("--launcher_dir={}", self.config.launcher_dir.display()),
                ],
                ..Default::default()
            }),
            resources,
            #[allow(deprecated)]
            source: None,
            ..Default::default()
        }
    }

    fn run_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RunTaskMessage) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring RunTaskMessage not from the master");
            return;
        }
        if self.state != RegState::Registered {
            tracing::warn!(task = %msg.task.task_id.value, "ignoring RunTaskMessage while not registered");
            return;
        }
        #[allow(deprecated)]
        let Some(fw_id) = msg.framework.id.clone().or(msg.framework_id.clone()) else {
            tracing::warn!("RunTaskMessage without a framework id; dropped");
            return;
        };
        let task = msg.task;
        let fw_key = fw_id.value.clone();
        self.add_framework(&fw_id, &msg.framework, msg.pid.as_deref());

        let executor_info = match (&task.command, &task.executor) {
            (Some(_), None) => self.command_executor_info(&fw_id, &task),
            (None, Some(e)) => {
                let mut e = e.clone();
                e.framework_id = Some(fw_id.clone());
                e
            }
            _ => {
                let why = "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present";
                tracing::warn!(task = %task.task_id.value, why, "invalid task");
                let ex_id = task.executor.as_ref().map(|e| e.executor_id.clone());
                self.agent_update(
                    ctx,
                    &fw_id,
                    ex_id,
                    &task.task_id,
                    TaskState::TaskError,
                    task_status::Reason::TaskInvalid,
                    why,
                );
                return;
            }
        };
        let command_executor = task.command.is_some();
        let ex_key = executor_info.executor_id.value.clone();
        let admitted = self.admit_launch(
            ctx,
            &fw_id,
            &executor_info.executor_id,
            msg.launch_executor,
            command_executor,
            &msg.resource_version_uuids,
            std::slice::from_ref(&task),
        );
        if !admitted {
            return;
        }
        tracing::info!(task = %task.task_id.value, framework = %fw_key, executor = %ex_key, "launching task");

        self.deliver_or_launch(
            ctx,
            &fw_id,
            executor_info,
            command_executor,
            Pending::Task(Box::new(task)),
        );
    }

    /// Records (or refreshes) a framework the master sends work for.
    fn add_framework(&mut self, fw_id: &FrameworkId, info: &FrameworkInfo, pid: Option<&str>) {
        let fw = self
            .frameworks
            .entry(fw_id.value.clone())
            .or_insert_with(|| Framework {
                info: info.clone(),
                pid: None,
                terminating: false,
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
            });
        fw.info = info.clone();
        fw.info.id = Some(fw_id.clone());
        if let Some(pid) = pid.filter(|p| names_a_process(p)) {
            fw.pid = Some(pid.to_string());
        }
    }

    /// The default executor's `ExecutorInfo` for a task group: the framework's, with the
    /// command filled in (`<launcher_dir>/mesos-default-executor`) when it names none.
    pub fn default_executor_info(
        &self,
        framework_id: &FrameworkId,
        executor: &ExecutorInfo,
    ) -> Result<ExecutorInfo, String> {
        let mut e = executor.clone();
        e.framework_id = Some(framework_id.clone());
        match (e.r#type(), e.command.is_some()) {
            (executor_info::Type::Default, true) => {
                Err("'ExecutorInfo.command' must not be set for the DEFAULT executor".into())
            }
            (executor_info::Type::Custom, false) => {
                Err("A CUSTOM executor needs 'ExecutorInfo.command'".into())
            }
            (executor_info::Type::Default | executor_info::Type::Unknown, false) => {
                let path = self.config.launcher_dir.join("mesos-default-executor");
                e.set_type(executor_info::Type::Default);
                e.command = Some(CommandInfo {
                    value: Some(path.display().to_string()),
                    shell: Some(false),
                    arguments: vec![
                        "mesos-default-executor".into(),
                        format!("--launcher_dir={}", self.config.launcher_dir.display()),
                    ],
                    ..Default::default()
                });
                if e.name.is_none() {
                    e.name = Some("Default Executor".into());
                }
                Ok(e)
            }
            // A custom executor of the framework's own; it must speak the v1 API.
            (_, true) => Ok(e),
        }
    }

    fn run_task_group(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RunTaskGroupMessage) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring RunTaskGroupMessage not from the master");
            return;
        }
        if self.state != RegState::Registered {
            tracing::warn!("ignoring RunTaskGroupMessage while not registered");
            return;
        }
        let Some(fw_id) = msg.framework.id.clone() else {
            tracing::warn!("RunTaskGroupMessage without a framework id; dropped");
            return;
        };
        let group = msg.task_group;
        if group.tasks.is_empty() {
            tracing::warn!(framework = %fw_id.value, "empty task group; dropped");
            return;
        }
        self.add_framework(&fw_id, &msg.framework, None);
        let ex_id = msg.executor.executor_id.clone();
        let check = validate_group(&group);
        let executor_info = check.and_then(|()| self.default_executor_info(&fw_id, &msg.executor));
        let executor_info = match executor_info {
            Ok(e) => e,
            Err(why) => {
                tracing::warn!(framework = %fw_id.value, executor = %ex_id.value, %why, "invalid task group");
                for t in &group.tasks {
                    self.agent_update(
                        ctx,
                        &fw_id,
                        Some(ex_id.clone()),
                        &t.task_id,
                        TaskState::TaskError,
                        task_status::Reason::TaskGroupInvalid,
                        &why,
                    );
                }
                self.cleanup_framework(&fw_id.value);
                return;
            }
        };
        let versions = &msg.resource_version_uuids;
        let launch = msg.launch_executor;
        if !self.admit_launch(ctx, &fw_id, &ex_id, launch, false, versions, &group.tasks) {
            return;
        }
        let fw_key = fw_id.value.clone();
        let ex_key = ex_id.value.clone();
        let names: Vec<&str> = group
            .tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect();
        tracing::info!(tasks = ?names, framework = %fw_key, executor = %ex_key, "launching task group");
        self.deliver_or_launch(ctx, &fw_id, executor_info, false, Pending::Group(group));
    }

    /// Hands work to its executor: now if it runs, queued while it registers, LOST if it is
    /// going away, else after launching it.
    fn deliver_or_launch(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_info: ExecutorInfo,
        command_executor: bool,
        pending: Pending,
    ) {
        let (fw_key, ex_key) = (fw_id.value.clone(), executor_info.executor_id.value.clone());
        let existing = self
            .frameworks
            .get(&fw_key)
            .and_then(|f| f.executors.get(&ex_key))
            .map(|e| e.state);
        match (existing, pending) {
            (Some(ExecState::Running), Pending::Task(t)) => {
                self.send_task(ctx, &fw_key, &ex_key, *t)
            }
            (Some(ExecState::Running), Pending::Group(g)) => {
                self.send_group(ctx, &fw_key, &ex_key, g)
            }
            (Some(ExecState::Registering), pending) => {
                if let Some(ex) = self.executor_mut(&fw_key, &ex_key) {
                    match pending {
                        Pending::Task(t) => ex.queued.push(*t),
                        Pending::Group(g) => ex.queued_groups.push(g),
                    }
                }
            }
            (Some(ExecState::Terminating | ExecState::Terminated), pending) => {
                for task_id in pending.task_ids() {
                    self.agent_update(
                        ctx,
                        fw_id,
                        Some(executor_info.executor_id.clone()),
                        &task_id,
                        TaskState::TaskLost,
                        task_status::Reason::ExecutorTerminated,
                        "Executor is shutting down",
                    );
                }
            }
            (None, pending) => {
                self.launch_executor(ctx, fw_id, executor_info, command_executor, pending)
            }
        }
    }

    pub(crate) fn executor_mut(&mut self, fw: &str, ex: &str) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(fw)
            .and_then(|f| f.executors.get_mut(ex))
    }

    fn launch_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        info: ExecutorInfo,
        command_executor: bool,
        pending: Pending,
    ) {
        let agent_id = self.id.clone().unwrap_or_default().value;
        let container_id = uuid::Uuid::new_v4().to_string();
        let task_ids = pending.task_ids();
        let fail = |me: &mut Self, ctx: &mut Ctx<'_, Self>, why: String| {
            tracing::error!(executor = %info.executor_id.value, %why, "executor launch failed");
            for task_id in &task_ids {
                me.agent_update(
                    ctx,
                    fw_id,
                    Some(info.executor_id.clone()),
                    task_id,
                    TaskState::TaskFailed,
                    task_status::Reason::ContainerLaunchFailed,
                    &why,
                );
            }
        };
        let directory = match paths::create_sandbox(
            &self.config.work_dir,
            &agent_id,
            &fw_id.value,
            &info.executor_id.value,
            &container_id,
        ) {
            Ok(d) => d,
            Err(e) => return fail(self, ctx, format!("Failed to create sandbox: {e}")),
        };
        let agent_pid = ctx.pid().clone();
        let is_command_executor = info.command.as_ref().is_some_and(|c| {
            std::path::Path::new(c.value()) == self.config.launcher_dir.join("mesos-executor")
        });
        let spec = containerizer::LaunchSpec {
            executor: info.clone(),
            framework_id: fw_id.value.clone(),
            agent_id,
            agent_pid,
            directory: directory.clone(),
            checkpoint: false,
            shutdown_grace_period: self.config.executor_shutdown_grace_period,
            // Only the command executor (our own) switches APIs; others choose for themselves.
            http_command_executor: self.config.http_command_executor && is_command_executor,
        };
        let Some(containerizer) = self.containerizer.clone() else {
            return fail(self, ctx, "The containerizer is not running".into());
        };
        // The record exists before the container does, so tasks for this executor that arrive
        // while it launches are queued on it rather than starting a second one.
        let fw_key = fw_id.value.clone();
        let ex_key = info.executor_id.value.clone();
        let mut executor = Executor {
            info,
            container_id: container_id.clone(),
            directory,
            state: ExecState::Registering,
            pid: None,
            stream: None,
            os_pid: None,
            queued: Vec::new(),
            queued_groups: Vec::new(),
            tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            command_executor,
            pending_termination: None,
        };
        match pending {
            Pending::Task(t) => executor.queued.push(*t),
            Pending::Group(g) => executor.queued_groups.push(g),
        }
        if let Some(fw) = self.frameworks.get_mut(&fw_key) {
            fw.executors.insert(ex_key.clone(), executor);
        }
        let cid = container_id.clone();
        let launched = async move {
            containerizer
                .call("launch", move |c, ctx| c.launch(ctx, cid, spec))
                .await
        };
        let (f, e, c) = (fw_key.clone(), ex_key.clone(), container_id.clone());
        ctx.then(launched, move |me, ctx, result| {
            let result = result
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            me.container_launched(ctx, &f, &e, &c, result);
        });
        let timeout = self.config.executor_registration_timeout;
        ctx.delay(timeout, "executor_registration_timeout", move |me, _ctx| {
            if let Some(ex) = me.executor_mut(&fw_key, &ex_key) {
                if ex.container_id == container_id && ex.state == ExecState::Registering {
                    tracing::warn!(executor = %ex_key, ?timeout, "executor did not register in time; killing it");
                    ex.pending_termination = Some(PendingTermination {
                        state: TaskState::TaskFailed,
                        reason: task_status::Reason::ExecutorRegistrationTimeout,
                        message: format!(
                            "Executor did not register within {}",
                            libprocess::duration::format(timeout)
                        ),
                    });
                    ex.state = ExecState::Terminating;
                    if let Some(pid) = ex.os_pid {
                        containerizer::destroy(pid);
                    }
                }
            }
        });
    }

    /// The containerizer answered a launch: watch the container, or fail the executor's tasks.
    fn container_launched(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        container_id: &str,
        result: Result<containerizer::Launched, String>,
    ) {
        let current = self
            .executor_mut(fw_key, ex_key)
            .filter(|e| e.container_id == container_id);
        match (result, current) {
            (Ok(launched), Some(ex)) => {
                tracing::info!(executor = %ex_key, container = %container_id, pid = launched.pid,
                    sandbox = %ex.directory.display(), "executor launched");
                ex.os_pid = Some(launched.pid);
                if ex.state == ExecState::Terminating {
                    // Killed while it was being launched.
                    containerizer::destroy(launched.pid);
                }
                let (f, e, c) = (
                    fw_key.to_string(),
                    ex_key.to_string(),
                    container_id.to_string(),
                );
                ctx.then(launched.exit, move |me, ctx, exit| {
                    // The containerizer dropped the container without reporting its exit.
                    let exit = exit.map_err(|_| "unknown container".to_string());
                    me.executor_exited(ctx, &f, &e, &c, exit);
                });
            }
            (Ok(launched), None) => {
                // The executor's record went away meanwhile (framework shut down).
                containerizer::destroy(launched.pid);
            }
            (Err(why), Some(ex)) => {
                let why = format!("Failed to launch container: {why}");
                tracing::error!(executor = %ex_key, %why, "executor launch failed");
                let executor_id = ex.info.executor_id.clone();
                let mut task_ids: Vec<TaskId> = ex.queued.drain(..).map(|t| t.task_id).collect();
                task_ids.extend(
                    ex.queued_groups
                        .drain(..)
                        .flat_map(|g| g.tasks.into_iter().map(|t| t.task_id)),
                );
                if let Some(fw) = self.frameworks.get_mut(fw_key) {
                    fw.executors.remove(ex_key);
                }
                let fw_id = FrameworkId {
                    value: fw_key.to_string(),
                };
                for task_id in &task_ids {
                    self.agent_update(
                        ctx,
                        &fw_id,
                        Some(executor_id.clone()),
                        task_id,
                        TaskState::TaskFailed,
                        task_status::Reason::ContainerLaunchFailed,
                        &why,
                    );
                }
            }
            (Err(why), None) => {
                tracing::warn!(executor = %ex_key, %why, "launch failed for an executor already gone");
            }
        }
    }

    /// Gives a task to a registered executor.
    pub(crate) fn send_task(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        task: TaskInfo,
    ) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        let Some(ex) = fw.executors.get(ex_key) else {
            return;
        };
        let record = self.task_record(fw, ex, &task, TaskState::TaskStaging);
        if let Some(pid) = &ex.pid {
            let msg = RunTaskMessage {
                #[allow(deprecated)]
                framework_id: None,
                framework: fw.info.clone(),
                pid: Some(fw.pid.clone().unwrap_or_default()),
                task: task.clone(),
                resource_version_uuids: Vec::new(),
                launch_executor: None,
            };
            ctx.send(pid, &msg);
        } else if let Some(stream) = &ex.stream {
            crate::executor_api::send_launch(stream, &task);
        }
        if let Some(ex) = self.executor_mut(fw_key, ex_key) {
            ex.tasks.insert(task.task_id.value.clone(), record);
        }
    }

    /// Gives a task group to a subscribed executor (LAUNCH_GROUP); a v0 executor cannot
    /// take one, so its tasks end in TASK_ERROR.
    pub(crate) fn send_group(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        group: TaskGroupInfo,
    ) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        let Some(ex) = fw.executors.get(ex_key) else {
            return;
        };
        if ex.stream.is_none() {
            let fw_id = FrameworkId {
                value: fw_key.to_string(),
            };
            let ex_id = ex.info.executor_id.clone();
            tracing::warn!(executor = %ex_key, "task group for an executor without the v1 API");
            for t in &group.tasks {
                self.agent_update(
                    ctx,
                    &fw_id,
                    Some(ex_id.clone()),
                    &t.task_id,
                    TaskState::TaskError,
                    task_status::Reason::TaskGroupInvalid,
                    "Task groups need an executor using the v1 HTTP executor API",
                );
            }
            return;
        }
        let records: Vec<Task> = group
            .tasks
            .iter()
            .map(|t| self.task_record(fw, ex, t, TaskState::TaskStaging))
            .collect();
        if let Some(stream) = &ex.stream {
            crate::executor_api::send_launch_group(stream, &group);
        }
        if let Some(ex) = self.executor_mut(fw_key, ex_key) {
            for r in records {
                ex.tasks.insert(r.task_id.value.clone(), r);
            }
        }
    }

    fn register_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: RegisterExecutorMessage,
    ) {
        let fw_key = msg.framework_id.value.clone();
        let ex_key = msg.executor_id.value.clone();
        let ok = self
            .executor_mut(&fw_key, &ex_key)
            .is_some_and(|e| e.state == ExecState::Registering)
            && self.state != RegState::Disconnected;
        if !ok {
            tracing::warn!(%from, executor = %ex_key, "unexpected executor registration; telling it to shut down");
            ctx.send(
                &from,
                &ShutdownExecutorMessage {
                    executor_id: Some(msg.executor_id),
                    framework_id: Some(msg.framework_id),
                },
            );
            return;
        }
        ctx.link(&from);
        let slave_info = self.slave_info(ctx);
        let slave_id = self.id.clone().unwrap_or_default();
        let Some(fw) = self.frameworks.get_mut(&fw_key) else {
            return;
        };
        let framework_info = fw.info.clone();
        let Some(ex) = fw.executors.get_mut(&ex_key) else {
            return;
        };
        ex.pid = Some(from.clone());
        ex.state = ExecState::Running;
        tracing::info!(executor = %ex_key, pid = %from, "executor registered");
        ctx.send(
            &from,
            &ExecutorRegisteredMessage {
                executor_info: ex.info.clone(),
                framework_id: msg.framework_id,
                framework_info,
                slave_id,
                slave_info,
            },
        );
        let queued = std::mem::take(&mut ex.queued);
        let groups = std::mem::take(&mut ex.queued_groups);
        for task in queued {
            self.send_task(ctx, &fw_key, &ex_key, task);
        }
        for group in groups {
            self.send_group(ctx, &fw_key, &ex_key, group);
        }
    }

    /// Marks a v1 executor subscribed and sends it its queued tasks (executor_api).
    pub(crate) fn executor_subscribed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        stream: EventStream,
    ) {
        let Some(ex) = self.executor_mut(fw_key, ex_key) else {
            return;
        };
        ex.stream = Some(stream);
        ex.state = ExecState::Running;
        let queued = std::mem::take(&mut ex.queued);
        let groups = std::mem::take(&mut ex.queued_groups);
        for task in queued {
            self.send_task(ctx, fw_key, ex_key, task);
        }
        for group in groups {
            self.send_group(ctx, fw_key, ex_key, group);
        }
    }

    fn executor_status_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateMessage,
    ) {
        let ack_to = msg
            .pid
            .as_deref()
            .and_then(|p| p.parse::<Upid>().ok())
            .unwrap_or(from);
        self.executor_update(ctx, msg.update, Some(ack_to));
    }

    /// An update from an executor (v0: ack to `ack_to`; v1: the caller acks on its stream).
    /// Returns whether it was accepted.
    pub(crate) fn executor_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        mut update: StatusUpdate,
        ack_to: Option<Upid>,
    ) -> bool {
        if update.uuid.as_ref().is_none_or(|u| u.is_empty()) {
            tracing::warn!(task = %update.status.task_id.value, "dropping status update without uuid");
            return false;
        }
        if let (Some(ours), Some(theirs)) = (&self.id, &update.slave_id) {
            if ours != theirs {
                tracing::warn!(task = %update.status.task_id.value, "dropping status update for another agent");
                return false;
            }
        }
        update.slave_id = self.id.clone();
        update.status.slave_id = self.id.clone();
        update.status.source = Some(task_status::Source::Executor as i32);
        if update.status.uuid.is_none() {
            update.status.uuid = update.uuid.clone();
        }
        let accepted = self.handle_update(ctx, update.clone());
        if let Some(to) = ack_to {
            if accepted {
                ctx.send(
                    &to,
                    &StatusUpdateAcknowledgementMessage {
                        slave_id: self.id.clone().unwrap_or_default(),
                        framework_id: update.framework_id.clone(),
                        task_id: update.status.task_id.clone(),
                        uuid: update.uuid.clone().unwrap_or_default(),
                    },
                );
            }
        }
        accepted
    }

    /// An update the agent generates itself (invalid task, executor gone, ...).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn agent_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_id: Option<ExecutorId>,
        task_id: &TaskId,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) {
        let now = ctx.clock().now_secs();
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let mut status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message.to_string()),
            slave_id: self.id.clone(),
            timestamp: Some(now),
            executor_id: executor_id.clone(),
            source: Some(task_status::Source::Slave as i32),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        status.set_reason(reason);
        let update = StatusUpdate {
            framework_id: fw_id.clone(),
            executor_id,
            slave_id: self.id.clone(),
            status,
            timestamp: now,
            uuid: Some(uuid),
            latest_state: None,
        };
        self.handle_update(ctx, update);
    }

    /// Records an update on its task and queues it for the master.
    fn handle_update(&mut self, ctx: &mut Ctx<'_, Self>, update: StatusUpdate) -> bool {
        let state = update.status.state();
        let task_key = update.status.task_id.value.clone();
        if self.framework_terminating(&update.framework_id.value) {
            // Nobody would acknowledge it (genuine agents drop these too).
            tracing::warn!(task = %task_key, ?state, framework = %update.framework_id.value, "ignoring status update for a terminating framework");
            return false;
        }
        if let Some(fw) = self.frameworks.get_mut(&update.framework_id.value) {
            let ex_key = update.executor_id.as_ref().map(|e| e.value.clone());
            for (key, ex) in fw.executors.iter_mut() {
                if ex_key.as_ref().is_some_and(|k| k != key) && !ex.tasks.contains_key(&task_key) {
                    continue;
                }
                if let Some(task) = ex.tasks.get_mut(&task_key) {
                    task.state = state as i32;
                    task.statuses.push(update.status.clone());
                    task.status_update_state = Some(state as i32);
                    task.status_update_uuid = update.uuid.clone();
                    if is_terminal(state) {
                        if let Some(t) = ex.tasks.remove(&task_key) {
                            history::push_bounded(
                                &mut ex.completed_tasks,
                                t,
                                history::MAX_COMPLETED_TASKS_PER_EXECUTOR,
                            );
                        }
                    }
                    break;
                }
            }
        }
        match self.sum.update(update) {
            Ok(Some(head)) => {
                self.forward(ctx, head);
                true
            }
            Ok(None) => true,
            Err(crate::status_update_manager::UpdateError::Duplicate) => true,
            Err(e) => {
                tracing::warn!(task = %task_key, error = %e, "status update refused");
                false
            }
        }
    }

    /// Sends a stream head to the master (if registered) and arms its retry.
    fn forward(&mut self, ctx: &mut Ctx<'_, Self>, mut update: StatusUpdate) {
        let key = key_of(&update);
        if let Some(t) = self.retry_timers.remove(&key) {
            ctx.cancel(t);
        }
        if self.state != RegState::Registered {
            return;
        }
        update.latest_state =
            Some(self.sum.latest_state(&key).unwrap_or(update.status.state()) as i32);
        tracing::info!(task = %key.1, state = ?update.status.state(), "forwarding status update to the master");
        let master = self.config.master.clone();
        ctx.send(
            &master,
            &StatusUpdateMessage {
                update: update.clone(),
                pid: Some(ctx.pid().to_string()),
            },
        );
        let Some(wait) = self.sum.next_retry(&key) else {
            return;
        };
        let uuid = update.uuid.clone();
        let k2 = key.clone();
        let timer = ctx.delay(wait, "status_update_retry", move |me, ctx| {
            me.retry_timers.remove(&k2);
            if let Some(head) = me.sum.head(&k2).filter(|h| h.uuid == uuid).cloned() {
                tracing::info!(task = %k2.1, "resending unacknowledged status update");
                me.forward_again(ctx, head);
            }
        });
        self.retry_timers.insert(key, timer);
    }

    fn forward_again(&mut self, ctx: &mut Ctx<'_, Self>, update: StatusUpdate) {
        // Same as forward, but the retry interval keeps growing.
        self.forward(ctx, update);
    }

    fn master_ack(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateAcknowledgementMessage,
    ) {
        if from.address() != self.config.master.address() {
            tracing::warn!(%from, "ignoring acknowledgement not from the master");
            return;
        }
        let key = (msg.framework_id.value.clone(), msg.task_id.value.clone());
        match self.sum.acknowledge(&key, &msg.uuid) {
            Ok(acked) => {
                if let Some(t) = self.retry_timers.remove(&key) {
                    ctx.cancel(t);
                }
                tracing::debug!(task = %key.1, state = ?acked.acked.status.state(), "status update acknowledged");
                if let Some(next) = acked.next {
                    self.forward(ctx, next);
                }
                if acked.closed {
                    self.cleanup_framework(&key.0);
                }
            }
            Err(e) => tracing::warn!(task = %key.1, error = %e, "ignoring acknowledgement"),
        }
    }

    fn shutdown_executor_msg(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ShutdownExecutorMessage,
    ) {
        if from.address() != self.config.master.address() {
            tracing::warn!(%from, "ignoring ShutdownExecutorMessage not from the master");
            return;
        }
        if let (Some(fw), Some(ex)) = (msg.framework_id, msg.executor_id) {
            self.shutdown_executor(ctx, &fw.value, &ex.value);
        }
    }

    /// Asks an executor to shut down; kills its process group after the grace period.
    pub(crate) fn shutdown_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
    ) {
        let grace = self.config.executor_shutdown_grace_period;
        let Some(ex) = self.executor_mut(fw_key, ex_key) else {
            return;
        };
        if matches!(ex.state, ExecState::Terminated) {
            return;
        }
        tracing::info!(executor = %ex_key, "shutting down executor");
        let was_registered = ex.state == ExecState::Running;
        ex.state = ExecState::Terminating;
        let container = ex.container_id.clone();
        let os_pid = ex.os_pid;
        if was_registered {
            if let Some(pid) = ex.pid.clone() {
                ctx.send(
                    &pid,
                    &ShutdownExecutorMessage {
                        executor_id: Some(ex.info.executor_id.clone()),
                        framework_id: Some(FrameworkId {
                            value: fw_key.to_string(),
                        }),
                    },
                );
            } else if let Some(stream) = &ex.stream {
                crate::executor_api::send_shutdown(stream);
            }
            let (f, e) = (fw_key.to_string(), ex_key.to_string());
            ctx.delay(grace, "executor_shutdown_grace", move |me, _| {
                if let Some(ex) = me.executor_mut(&f, &e) {
                    if ex.container_id == container && ex.state != ExecState::Terminated {
                        tracing::warn!(executor = %e, "executor did not exit within the grace period; killing it");
                        if let Some(pid) = ex.os_pid {
                            containerizer::destroy(pid);
                        }
                    }
                }
            });
        } else if let Some(pid) = os_pid {
            containerizer::destroy(pid);
        }
    }

    fn executor_exited(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        container_id: &str,
        exit: Result<Exit, String>,
    ) {
        let Some(ex) = self
            .executor_mut(fw_key, ex_key)
            .filter(|e| e.container_id == container_id)
        else {
            return;
        };
        let described = match &exit {
            Ok(e) => e.describe(),
            Err(why) => why.clone(),
        };
        tracing::info!(executor = %ex_key, status = %described, "executor exited");
        ex.state = ExecState::Terminated;
        ex.os_pid = None;
        ex.stream = None;
        let ex_id = ex.info.executor_id.clone();
        let (task_state, reason, message) =
            executor_terminated_status(ex.pending_termination.as_ref(), &exit);
        let command_executor = ex.command_executor;
        let mut orphans: Vec<TaskId> = ex.queued.drain(..).map(|t| t.task_id).collect();
        orphans.extend(
            ex.queued_groups
                .drain(..)
                .flat_map(|g| g.tasks.into_iter().map(|t| t.task_id)),
        );
        orphans.extend(
            ex.tasks
                .values()
                .filter(|t| !is_terminal(t.state()))
                .map(|t| t.task_id.clone()),
        );
        // Queued tasks need records to carry their terminal state.
        let fw_id = FrameworkId {
            value: fw_key.to_string(),
        };
        if let Some(id) = self.id.clone() {
            // As genuine agents: the master never tracks the executors the agent builds for
            // command tasks, so their exits are not reported.
            if self.state == RegState::Registered && !command_executor {
                let master = self.config.master.clone();
                ctx.send(
                    &master,
                    &ExitedExecutorMessage {
                        slave_id: id,
                        framework_id: fw_id.clone(),
                        executor_id: ex_id.clone(),
                        status: exit.as_ref().map_or(-1, |e| e.raw),
                    },
                );
            }
        }
        for task_id in orphans {
            self.agent_update(
                ctx,
                &fw_id,
                Some(ex_id.clone()),
                &task_id,
                task_state,
                reason,
                &message,
            );
        }
        if let Some(fw) = self.frameworks.get_mut(fw_key) {
            if let Some(ex) = fw.executors.remove(ex_key) {
                history::push_bounded(
                    &mut fw.completed_executors,
                    ex,
                    self.config.max_completed_executors_per_framework,
                );
            }
        }
        self.cleanup_framework(fw_key);
    }

    /// Drops a framework once it has no executors and no unacknowledged updates.
    fn cleanup_framework(&mut self, fw_key: &str) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        if !fw.executors.is_empty() {
            return;
        }
        let pending = self
            .sum
            .heads()
            .iter()
            .any(|u| u.framework_id.value == fw_key);
        if pending {
            return;
        }
        if let Some(fw) = self.frameworks.remove(fw_key) {
            tracing::info!(framework = %fw_key, "framework removed from the agent");
            self.sum.remove_framework(fw_key);
            history::push_bounded(
                &mut self.completed_frameworks,
                fw,
                history::MAX_COMPLETED_FRAMEWORKS,
            );
        }
    }

    fn update_framework(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: UpdateFrameworkMessage,
    ) {
        if from.address() != self.config.master.address() {
            return;
        }
        if let Some(fw) = self.frameworks.get_mut(&msg.framework_id.value) {
            // The empty UPID means the framework now speaks HTTP: no pid to reach it by.
            if let Some(pid) = msg.pid {
                fw.pid = names_a_process(&pid).then_some(pid);
            }
            if let Some(info) = msg.framework_info {
                fw.info = info;
                fw.info.id = Some(msg.framework_id);
            }
        }
    }

    fn framework_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        _from: Upid,
        msg: FrameworkToExecutorMessage,
    ) {
        let Some(ex) = self.executor_mut(&msg.framework_id.value, &msg.executor_id.value) else {
            return;
        };
        if let Some(pid) = ex.pid.clone() {
            ctx.send(&pid, &msg);
        } else if let Some(stream) = &ex.stream {
            crate::executor_api::send_message(stream, &msg.data);
        }
    }

    /// An executor's message for its framework: straight to a v0 framework's pid, else via
    /// the master.
    pub(crate) fn executor_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        _from: Upid,
        mut msg: ExecutorToFrameworkMessage,
    ) {
        msg.slave_id = self.id.clone().unwrap_or_default();
        let target = self
            .frameworks
            .get(&msg.framework_id.value)
            .and_then(|f| f.pid.as_deref())
            .and_then(|p| p.parse::<Upid>().ok())
            .unwrap_or_else(|| self.config.master.clone());
        ctx.send(&target, &msg);
    }
}

impl Process for Slave {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start_time = ctx.clock().now_secs();
        let id = ctx.runtime().generate_id("mesos-containerizer");
        match ctx
            .runtime()
            .spawn(id, containerizer::Containerizer::default())
        {
            Ok(pid) => self.containerizer = Some(pid),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the containerizer; executors cannot launch")
            }
        }
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
        let factor = self.config.registration_backoff_factor;
        self.start_registration(ctx, factor);
    }

    /// This agent does not checkpoint, so nothing could recover its executors after it
    /// stops: they are killed with it.
    fn finalize(&mut self, _ctx: &mut Ctx<'_, Self>) {
        for fw in self.frameworks.values() {
            for ex in fw.executors.values() {
                if let Some(pid) = ex.os_pid {
                    tracing::info!(executor = %ex.info.executor_id.value, pid, "agent stopping: killing executor");
                    containerizer::destroy(pid);
                }
            }
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
