//! The default executor (`mesos-default-executor`): runs task groups (LAUNCH_GROUP) over
//! the v1 HTTP executor API.
//!
//! Every task of a group runs as a child process in its own process group, in
//! `<executor sandbox>/tasks/<task id>` (its stdout/stderr there, `MESOS_SANDBOX` naming it).
//! Each task reports TASK_STARTING, TASK_RUNNING, then TASK_FINISHED, TASK_FAILED
//! ("Command exited with status N") or TASK_KILLED. As in Mesos, a group lives and dies
//! together: when one of its tasks fails or is killed, the executor kills the others.
//! KILL terminates one task (SIGTERM, SIGKILL after the grace period); SHUTDOWN kills all.
//! The executor exits once every task is terminal and every update acknowledged.
//!
//! Everything runs in one loop fed by a channel (events from the subscription reader,
//! child exits, kill escalations), so the state needs no locks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mesos_proto::mesos::v1::{
    framework_info, task_status, FrameworkInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::child::{self, Exit};
use crate::command::DEFAULT_KILL_GRACE;
use crate::env::ExecutorEnv;
use crate::http_executor::{open_subscription, Client, ClientError, Incoming};

/// First wait before re-subscribing; doubles up to [`SUBSCRIPTION_BACKOFF_MAX`].
const SUBSCRIPTION_BACKOFF: Duration = Duration::from_millis(100);
const SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Time kept back from the agent's shutdown grace period to exit on our own.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(500);

/// Why the default executor could not run.
#[derive(Debug, thiserror::Error)]
pub enum DefaultExecutorError {
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What drives the executor's loop.
#[derive(Debug)]
enum Input {
    Event(Box<mesos_proto::mesos::v1::executor::Event>),
    /// The subscription failed or the agent closed it.
    StreamEnded(String),
    Resubscribe,
    Exited {
        task: String,
        exit: Exit,
    },
    Escalate {
        task: String,
        pgid: u32,
    },
    /// The shutdown grace period is nearly over.
    ShutdownDeadline,
}

struct GroupTask {
    info: TaskInfo,
    group: usize,
    pgid: Option<u32>,
    killing: bool,
    terminal: bool,
}

/// The executor's state.
struct DefaultExecutor {
    env: ExecutorEnv,
    client: Client,
    tx: UnboundedSender<Input>,
    sandbox: PathBuf,
    framework: Option<FrameworkInfo>,
    tasks: BTreeMap<String, GroupTask>,
    groups: usize,
    subscribed: bool,
    ever_subscribed: bool,
    backoff: Duration,
    shutting_down: bool,
    /// The agent went away and we do not checkpoint: kill everything, then leave.
    agent_gone: bool,
    exit_code: Option<i32>,
    /// Serving as the v1 command executor (`MESOS_HTTP_COMMAND_EXECUTOR=1`): a plain LAUNCH
    /// runs its one task in the executor's own sandbox.
    command_mode: bool,
}

/// Runs the default executor from the process environment; returns its exit code.
pub fn run_default_executor() -> Result<i32, DefaultExecutorError> {
    let env = ExecutorEnv::from_env()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DefaultExecutorError::Runtime)?;
    rt.block_on(run(env, false))
}

/// Runs the command executor over the v1 HTTP executor API (what `mesos-executor` does when
/// the agent sets `MESOS_HTTP_COMMAND_EXECUTOR=1`); returns its exit code.
pub fn run_http_command_executor(env: ExecutorEnv) -> Result<i32, DefaultExecutorError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DefaultExecutorError::Runtime)?;
    rt.block_on(run(env, true))
}

/// Runs the default executor until it is done; returns its exit code.
pub async fn run(env: ExecutorEnv, command_mode: bool) -> Result<i32, DefaultExecutorError> {
    let client = Client::from_env(&env)?;
    let (tx, rx) = unbounded_channel();
    let sandbox = env
        .sandbox
        .clone()
        .or_else(|| env.directory.clone())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let kind = if command_mode {
        "the v1 HTTP command executor"
    } else {
        "the default executor"
    };
    tracing::info!(framework = %env.framework_id, executor = %env.executor_id,
        agent = %client.endpoint().addr, "starting {kind}");
    let ex = DefaultExecutor {
        env,
        client,
        tx,
        sandbox,
        framework: None,
        tasks: BTreeMap::new(),
        groups: 0,
        subscribed: false,
        ever_subscribed: false,
        backoff: SUBSCRIPTION_BACKOFF,
        shutting_down: false,
        agent_gone: false,
        exit_code: None,
        command_mode,
    };
    Ok(ex.run(rx).await)
}

impl DefaultExecutor {
    async fn run(mut self, mut rx: UnboundedReceiver<Input>) -> i32 {
        self.subscribe();
        while let Some(input) = rx.recv().await {
            self.step(input).await;
            if let Some(code) = self.exit_code {
                tracing::info!(code, "default executor exiting");
                return code;
            }
        }
        1
    }

    /// Opens the subscription on a reader task that forwards its events.
    fn subscribe(&self) {
        let endpoint = self.client.endpoint().clone();
        let call = self.client.subscribe_call();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut sub = match open_subscription(&endpoint, &call).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Input::StreamEnded(e.to_string()));
                    return;
                }
            };
            loop {
                match sub.next().await {
                    Ok(Some(event)) => {
                        if tx.send(Input::Event(Box::new(event))).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx.send(Input::StreamEnded("the agent closed the stream".into()));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Input::StreamEnded(e.to_string()));
                        return;
                    }
                }
            }
        });
    }

    async fn step(&mut self, input: Input) {
        match input {
            Input::Event(event) => {
                let incoming = self.client.handle(*event);
                self.incoming(incoming).await;
            }
            Input::StreamEnded(why) => self.stream_ended(why),
            Input::Resubscribe => {
                if !self.subscribed && !self.agent_gone {
                    self.subscribe();
                }
            }
            Input::Exited { task, exit } => self.task_exited(&task, exit).await,
            Input::Escalate { task, pgid } => {
                if self.tasks.get(&task).is_some_and(|t| !t.terminal) {
                    tracing::info!(task = %task, pgid, "grace period over, sending SIGKILL");
                    if let Err(e) = child::signal_group(pgid, libc::SIGKILL) {
                        tracing::debug!(pgid, error = %e, "SIGKILL failed");
                    }
                }
            }
            Input::ShutdownDeadline => {
                tracing::warn!("shutdown grace period nearly over; exiting");
                self.kill_all(Some(Duration::ZERO)).await;
                self.exit_code = Some(0);
            }
        }
        self.check_done();
    }

    async fn incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Subscribed(s) => {
                tracing::info!(agent = %s.agent_info.hostname, "subscribed with the agent");
                self.subscribed = true;
                self.ever_subscribed = true;
                self.backoff = SUBSCRIPTION_BACKOFF;
                self.framework = Some(s.framework_info);
            }
            Incoming::Launch(task) if self.command_mode => self.launch_group(vec![*task]).await,
            Incoming::Launch(task) => {
                tracing::error!(task = %task.task_id.value, "LAUNCH is not supported by the default executor");
                self.tasks.insert(
                    task.task_id.value.clone(),
                    GroupTask {
                        info: (*task).clone(),
                        group: usize::MAX,
                        pgid: None,
                        killing: false,
                        terminal: true,
                    },
                );
                self.update(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some("The default executor runs task groups (LAUNCH_GROUP) only".into()),
                    None,
                )
                .await;
            }
            Incoming::LaunchGroup(tasks) => self.launch_group(tasks).await,
            Incoming::Kill { task_id, grace } => {
                if !self.tasks.contains_key(&task_id.value) {
                    tracing::warn!(task = %task_id.value, "asked to kill an unknown task");
                }
                self.kill(&task_id.value, grace).await;
            }
            Incoming::Shutdown => {
                tracing::info!("shutting down on the agent's request");
                self.shutting_down = true;
                self.kill_all(None).await;
                let wait = self
                    .env
                    .shutdown_grace_period
                    .saturating_sub(SHUTDOWN_MARGIN)
                    .max(Duration::from_millis(100));
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = tx.send(Input::ShutdownDeadline);
                });
            }
            Incoming::Message(data) => {
                tracing::info!(bytes = data.len(), "framework message ignored")
            }
            Incoming::Error(message) => tracing::warn!(%message, "error from the agent"),
            Incoming::Acknowledged { task_id, .. } => {
                tracing::debug!(task = %task_id.value, "update acknowledged")
            }
            Incoming::Heartbeat | Incoming::Unknown => {}
        }
    }

    fn stream_ended(&mut self, why: String) {
        let was_subscribed = self.subscribed;
        self.subscribed = false;
        if self.exit_code.is_some() || self.agent_gone {
            return;
        }
        if was_subscribed && !self.env.checkpoint {
            // Without checkpointing nothing could recover our tasks: end them and leave.
            tracing::warn!(%why, "lost the agent; killing all tasks and exiting");
            self.agent_gone = true;
            for (id, t) in self.tasks.iter_mut().filter(|(_, t)| !t.terminal) {
                t.killing = true;
                if let Some(pgid) = t.pgid {
                    tracing::info!(task = %id, "killing task");
                    let _ = child::signal_group(pgid, libc::SIGKILL);
                } else {
                    t.terminal = true;
                }
            }
            return;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(SUBSCRIPTION_BACKOFF_MAX);
        tracing::info!(%why, ?wait, "(re-)subscribing after a backoff");
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Input::Resubscribe);
        });
    }

    async fn launch_group(&mut self, tasks: Vec<TaskInfo>) {
        if self.shutting_down {
            for t in &tasks {
                self.update(
                    &t.task_id,
                    TaskState::TaskKilled,
                    Some("The executor is shutting down".into()),
                    None,
                )
                .await;
            }
            return;
        }
        let group = self.groups;
        self.groups += 1;
        tracing::info!(group, tasks = tasks.len(), "launching a task group");
        let mut fresh = Vec::new();
        for task in tasks {
            let key = task.task_id.value.clone();
            if self.tasks.contains_key(&key) {
                tracing::warn!(task = %key, "task already known; ignored");
                continue;
            }
            self.tasks.insert(
                key.clone(),
                GroupTask {
                    info: task,
                    group,
                    pgid: None,
                    killing: false,
                    terminal: false,
                },
            );
            fresh.push(key);
        }
        for key in &fresh {
            let id = TaskId { value: key.clone() };
            self.update(&id, TaskState::TaskStarting, None, None).await;
        }
        let mut failed = false;
        for key in &fresh {
            let Some(info) = self.tasks.get(key).map(|t| t.info.clone()) else {
                continue;
            };
            match self.spawn_task(&info) {
                Ok(spawned) => {
                    tracing::info!(task = %key, pid = spawned.pid, "task started");
                    if let Some(t) = self.tasks.get_mut(key) {
                        t.pgid = Some(spawned.pid);
                    }
                    let tx = self.tx.clone();
                    let task = key.clone();
                    tokio::spawn(async move {
                        let exit = spawned.exit.await.unwrap_or(Exit {
                            raw: -1,
                            code: None,
                            signal: None,
                        });
                        let _ = tx.send(Input::Exited { task, exit });
                    });
                }
                Err(why) => {
                    tracing::error!(task = %key, %why, "cannot launch the task");
                    failed = true;
                    if let Some(t) = self.tasks.get_mut(key) {
                        t.terminal = true;
                    }
                    self.update(
                        &info.task_id,
                        TaskState::TaskFailed,
                        Some(why),
                        Some(task_status::Reason::ContainerLaunchFailed),
                    )
                    .await;
                }
            }
        }
        for key in &fresh {
            let running = self
                .tasks
                .get(key)
                .is_some_and(|t| t.pgid.is_some() && !t.terminal);
            if running {
                let id = TaskId { value: key.clone() };
                self.update(&id, TaskState::TaskRunning, None, None).await;
            }
        }
        if failed {
            self.kill_group(group, None).await;
        }
    }

    /// Starts one task's command as the leader of a new process group.
    fn spawn_task(&self, info: &TaskInfo) -> Result<child::Spawned, String> {
        let command = info
            .command
            .as_ref()
            .ok_or_else(|| "Task has no command".to_string())?;
        let id = &info.task_id.value;
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(format!("Task id '{id}' cannot name a sandbox directory"));
        }
        // The command executor's task runs in its sandbox, as Mesos's does; group tasks get
        // their own directories below it.
        let dir = if self.command_mode {
            self.sandbox.clone()
        } else {
            self.sandbox.join("tasks").join(id)
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("Failed to create the task sandbox: {e}"))?;
        let mut cmd = child::command_for(command.value(), command.shell(), &command.arguments);
        // The executor's own agent configuration is not the task's.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str() {
                if k.starts_with("MESOS_") || k.starts_with("LIBPROCESS_") {
                    cmd.env_remove(k);
                }
            }
        }
        cmd.env("MESOS_SANDBOX", &dir);
        cmd.env("MESOS_FRAMEWORK_ID", &self.env.framework_id);
        cmd.env("MESOS_EXECUTOR_ID", &self.env.executor_id);
        if let Some(env) = &command.environment {
            for v in &env.variables {
                cmd.env(&v.name, v.value.clone().unwrap_or_default());
            }
        }
        let open = |name: &str| {
            std::fs::File::create(dir.join(name))
                .map_err(|e| format!("Failed to open the task's {name}: {e}"))
        };
        cmd.current_dir(&dir).stdin(Stdio::null());
        if !self.command_mode {
            // The command executor's task shares the executor's (the sandbox's) stdout/stderr.
            cmd.stdout(open("stdout")?).stderr(open("stderr")?);
        }
        child::spawn_in_group(cmd).map_err(|e| format!("Failed to launch command: {e}"))
    }

    async fn task_exited(&mut self, key: &str, exit: Exit) {
        let Some(t) = self.tasks.get_mut(key) else {
            return;
        };
        if t.terminal {
            return;
        }
        t.terminal = true;
        t.pgid = None;
        let group = t.group;
        let task_id = t.info.task_id.clone();
        let state = if t.killing || self.shutting_down {
            TaskState::TaskKilled
        } else if exit.code == Some(0) {
            TaskState::TaskFinished
        } else {
            TaskState::TaskFailed
        };
        let message = format!("Command {}", exit.describe());
        tracing::info!(task = %key, %message, ?state, "task ended");
        if !self.agent_gone {
            self.update(&task_id, state, Some(message), None).await;
        }
        if state != TaskState::TaskFinished && !self.shutting_down && !self.agent_gone {
            let others = self
                .tasks
                .values()
                .any(|o| o.group == group && !o.terminal && !o.killing);
            if others {
                tracing::info!(group, task = %key, "a task of the group did not finish; killing the rest of its group");
                self.kill_group(group, None).await;
            }
        }
    }

    async fn kill_group(&mut self, group: usize, grace: Option<Duration>) {
        let keys: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.group == group && !t.terminal)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.kill(&key, grace).await;
        }
    }

    async fn kill_all(&mut self, grace: Option<Duration>) {
        let keys: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.terminal)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.kill(&key, grace).await;
        }
    }

    /// SIGTERM to the task's process group now, SIGKILL after the grace period (the kill
    /// policy's, else the task's, else 3 s).
    async fn kill(&mut self, key: &str, grace: Option<Duration>) {
        let killing_capable = self.framework.as_ref().is_some_and(|f| {
            f.capabilities
                .iter()
                .any(|c| c.r#type() == framework_info::capability::Type::TaskKillingState)
        });
        let Some(t) = self.tasks.get_mut(key) else {
            return;
        };
        if t.terminal {
            return;
        }
        let task_id = t.info.task_id.clone();
        let Some(pgid) = t.pgid else {
            t.terminal = true;
            self.update(
                &task_id,
                TaskState::TaskKilled,
                Some("Task killed before it started".into()),
                None,
            )
            .await;
            return;
        };
        let grace = grace
            .or_else(|| {
                t.info
                    .kill_policy
                    .as_ref()
                    .and_then(|k| k.grace_period.as_ref())
                    .map(|d| libprocess::duration::from_nanos_i64(d.nanoseconds))
            })
            .unwrap_or(DEFAULT_KILL_GRACE);
        let escalate_now = grace.is_zero();
        let first_kill = !t.killing;
        t.killing = true;
        if first_kill && killing_capable {
            self.update(&task_id, TaskState::TaskKilling, None, None)
                .await;
        }
        if escalate_now {
            let _ = child::signal_group(pgid, libc::SIGKILL);
            return;
        }
        if !first_kill {
            return;
        }
        tracing::info!(task = %key, pgid, ?grace, "sending SIGTERM to the task");
        if let Err(e) = child::signal_group(pgid, libc::SIGTERM) {
            tracing::debug!(pgid, error = %e, "SIGTERM failed");
        }
        let tx = self.tx.clone();
        let task = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = tx.send(Input::Escalate { task, pgid });
        });
    }

    /// Sends an update; an update the agent did not take stays unacknowledged and goes out
    /// again with the next SUBSCRIBE.
    async fn update(
        &mut self,
        task_id: &TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<task_status::Reason>,
    ) {
        let mut status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message,
            ..Default::default()
        };
        if let Some(r) = reason {
            status.set_reason(r);
        }
        tracing::info!(task = %task_id.value, ?state, "sending status update");
        let call = self.client.update_call(status);
        if let Err(e) = self.client.send(&call).await {
            tracing::warn!(task = %task_id.value, error = %e, "status update not delivered (kept until acknowledged)");
        }
    }

    /// Exits once every task is terminal and its updates acknowledged (or the agent is gone).
    fn check_done(&mut self) {
        if self.exit_code.is_some() {
            return;
        }
        let all_terminal = self.tasks.values().all(|t| t.terminal);
        if self.agent_gone {
            if all_terminal {
                self.exit_code = Some(1);
            }
            return;
        }
        if self.tasks.is_empty() {
            if self.shutting_down {
                self.exit_code = Some(0);
            }
            return;
        }
        if all_terminal && self.client.all_acknowledged() {
            self.exit_code = Some(0);
        }
    }
}

#[cfg(test)]
mod tests;
