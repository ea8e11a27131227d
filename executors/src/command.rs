//! The command executor: runs one task's `CommandInfo` under a v0 (libprocess) agent.
//!
//! It registers once with the agent named by `MESOS_SLAVE_PID`, runs the task it is sent
//! in its own process group, reports TASK_STARTING, TASK_RUNNING and a terminal state
//! ("Command exited with status N"), kills on request (SIGTERM, SIGKILL after the kill
//! policy's grace period) and exits once its terminal update is acknowledged.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_proto::mesos::internal::{
    ExecutorRegisteredMessage, KillTaskMessage, RegisterExecutorMessage, RunTaskMessage,
    ShutdownExecutorMessage, StatusUpdate, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{
    framework_info, task_status, ExecutorId, FrameworkId, FrameworkInfo, SlaveId, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_proto::task_state::is_terminal;

use crate::child::{self, Exit};
use crate::env::ExecutorEnv;

/// Grace period between SIGTERM and SIGKILL when the task has no kill policy.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// How long an unacknowledged update waits before it is sent again.
pub const UPDATE_RETRY: Duration = Duration::from_secs(10);
/// How long a task's unexplained SIGKILL goes unreported (see `command_exited`).
const UNEXPLAINED_KILL_GRACE: Duration = Duration::from_secs(2);

/// Why the executor could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    #[error(transparent)]
    Config(#[from] libprocess::config::ConfigError),
    #[error(transparent)]
    Runtime(#[from] libprocess::Error),
    #[error("the executor process stopped without reporting an exit code")]
    Vanished,
    #[error("the v1 HTTP command executor failed: {0}")]
    Http(String),
}

struct RunningTask {
    info: TaskInfo,
    /// Process group of the command, once launched.
    pgid: Option<u32>,
    killing: bool,
    kill_grace: Duration,
    terminal_sent: bool,
}

/// The command executor process (`executor(N)`).
pub struct CommandExecutor {
    env: ExecutorEnv,
    slave: Upid,
    slave_id: Option<SlaveId>,
    framework_info: Option<FrameworkInfo>,
    registered: bool,
    task: Option<RunningTask>,
    /// Sent but not yet acknowledged, by update uuid.
    unacked: BTreeMap<Vec<u8>, StatusUpdate>,
    shutting_down: bool,
    done: mpsc::Sender<i32>,
    finished: bool,
}

impl CommandExecutor {
    /// `done` receives the process exit code once the executor is finished.
    pub fn new(env: ExecutorEnv, done: mpsc::Sender<i32>) -> CommandExecutor {
        CommandExecutor {
            slave: env.slave_pid.clone(),
            slave_id: env.slave_id.clone().map(|value| SlaveId { value }),
            env,
            framework_info: None,
            registered: false,
            task: None,
            unacked: BTreeMap::new(),
            shutting_down: false,
            done,
            finished: false,
        }
    }

    fn finish(&mut self, code: i32) {
        if !self.finished {
            self.finished = true;
            tracing::info!(code, "command executor finishing");
            let _ = self.done.send(code);
        }
    }

    fn registered(&mut self, _ctx: &mut Ctx<'_, Self>, from: Upid, msg: ExecutorRegisteredMessage) {
        if from != self.slave {
            tracing::warn!(%from, "ignoring ExecutorRegisteredMessage from a process other than the agent");
            return;
        }
        tracing::info!(slave_id = %msg.slave_id.value, "registered with the agent");
        self.registered = true;
        self.slave_id = Some(msg.slave_id);
        self.framework_info = Some(msg.framework_info);
    }

    fn run_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RunTaskMessage) {
        if from != self.slave {
            tracing::warn!(%from, "ignoring RunTaskMessage from a process other than the agent");
            return;
        }
        let task = msg.task;
        if self.framework_info.is_none() {
            self.framework_info = Some(msg.framework);
        }
        if self.task.is_some() {
            tracing::error!(task = %task.task_id.value, "a command executor runs one task only");
            self.update(
                ctx,
                &task,
                TaskState::TaskFailed,
                Some("Attempted to run multiple tasks using a \"command\" executor".into()),
                None,
            );
            return;
        }
        let Some(command) = task.command.clone() else {
            self.update(
                ctx,
                &task,
                TaskState::TaskFailed,
                Some("Task has no command".into()),
                None,
            );
            return;
        };
        let kill_grace = task
            .kill_policy
            .as_ref()
            .and_then(|k| k.grace_period.as_ref())
            .map(|d| libprocess::duration::from_nanos_i64(d.nanoseconds))
            .unwrap_or(DEFAULT_KILL_GRACE);
        self.task = Some(RunningTask {
            info: task.clone(),
            pgid: None,
            killing: false,
            kill_grace,
            terminal_sent: false,
        });
        self.update(ctx, &task, TaskState::TaskStarting, None, None);

        let mut cmd = child::command_for(command.value(), command.shell(), &command.arguments);
        if let Some(env) = &command.environment {
            for v in &env.variables {
                cmd.env(&v.name, v.value.clone().unwrap_or_default());
            }
        }
        if let Some(dir) = self.env.sandbox.as_ref().or(self.env.directory.as_ref()) {
            if dir.is_dir() {
                cmd.current_dir(dir);
            }
        }
        match child::spawn_in_group(cmd) {
            Ok(spawned) => {
                tracing::info!(task = %task.task_id.value, pid = spawned.pid, "task command started");
                if let Some(t) = self.task.as_mut() {
                    t.pgid = Some(spawned.pid);
                }
                self.update(ctx, &task, TaskState::TaskRunning, None, None);
                ctx.then(spawned.exit, |me, ctx, exit| match exit {
                    Ok(exit) => me.command_exited(ctx, exit),
                    Err(_) => me.command_exited(
                        ctx,
                        Exit {
                            raw: -1,
                            code: None,
                            signal: None,
                        },
                    ),
                });
            }
            Err(e) => {
                tracing::error!(task = %task.task_id.value, error = %e, "cannot launch the task command");
                self.update(
                    ctx,
                    &task,
                    TaskState::TaskFailed,
                    Some(format!("Failed to launch command: {e}")),
                    None,
                );
            }
        }
    }

    fn command_exited(&mut self, ctx: &mut Ctx<'_, Self>, exit: Exit) {
        let Some(task) = self.task.as_ref() else {
            return;
        };
        let info = task.info.clone();
        let (state, reason) = if task.killing || self.shutting_down {
            (TaskState::TaskKilled, None)
        } else if exit.code == Some(0) {
            (TaskState::TaskFinished, None)
        } else {
            (
                TaskState::TaskFailed,
                Some(task_status::Reason::CommandExecutorFailed),
            )
        };
        let message = format!("Command {}", exit.describe());
        tracing::info!(task = %info.task_id.value, %message, "task command ended");
        if state == TaskState::TaskFailed && exit.signal == Some(libc::SIGKILL) {
            // Nobody here asked for this SIGKILL: it is most likely the kernel's OOM killer,
            // and the agent is about to destroy this container for a memory limitation. Its
            // update names the cause (REASON_CONTAINER_LIMITATION_MEMORY); ours could not, and
            // would win the race if sent at once. So wait a little: if the container is
            // destroyed meanwhile, the agent's update is the one the framework gets.
            ctx.delay(
                UNEXPLAINED_KILL_GRACE,
                "report_unexplained_kill",
                move |me, ctx| {
                    me.update(ctx, &info, state, Some(message), reason);
                },
            );
            return;
        }
        self.update(ctx, &info, state, Some(message), reason);
    }

    fn kill_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: KillTaskMessage) {
        if from != self.slave {
            tracing::warn!(%from, "ignoring KillTaskMessage from a process other than the agent");
            return;
        }
        let grace = msg
            .kill_policy
            .as_ref()
            .and_then(|k| k.grace_period.as_ref())
            .map(|d| libprocess::duration::from_nanos_i64(d.nanoseconds));
        match self.task.as_ref() {
            Some(t) if t.info.task_id == msg.task_id => self.kill(ctx, grace),
            _ => {
                tracing::warn!(task = %msg.task_id.value, "asked to kill a task this executor does not run")
            }
        }
    }

    /// SIGTERM to the task's group now, SIGKILL after the grace period.
    fn kill(&mut self, ctx: &mut Ctx<'_, Self>, grace: Option<Duration>) {
        let Some(task) = self.task.as_mut() else {
            return;
        };
        if task.terminal_sent || task.killing {
            return;
        }
        task.killing = true;
        let grace = grace.unwrap_or(task.kill_grace);
        let info = task.info.clone();
        match task.pgid {
            Some(pgid) => {
                let killing_capable = self.framework_info.as_ref().is_some_and(|f| {
                    f.capabilities
                        .iter()
                        .any(|c| c.r#type() == framework_info::capability::Type::TaskKillingState)
                });
                if killing_capable {
                    self.update(ctx, &info, TaskState::TaskKilling, None, None);
                }
                tracing::info!(task = %info.task_id.value, pgid, ?grace, "sending SIGTERM to the task");
                if let Err(e) = child::signal_group(pgid, libc::SIGTERM) {
                    tracing::warn!(pgid, error = %e, "SIGTERM failed");
                }
                ctx.delay(grace, "escalate_kill", move |me, _ctx| {
                    if me.task.as_ref().is_some_and(|t| !t.terminal_sent) {
                        tracing::info!(pgid, "grace period over, sending SIGKILL");
                        let _ = child::signal_group(pgid, libc::SIGKILL);
                    }
                });
            }
            None => {
                self.update(
                    ctx,
                    &info,
                    TaskState::TaskKilled,
                    Some("Task killed before it started".into()),
                    None,
                );
            }
        }
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, _msg: ShutdownExecutorMessage) {
        if from != self.slave {
            tracing::warn!(%from, "ignoring ShutdownExecutorMessage from a process other than the agent");
            return;
        }
        tracing::info!("shutting down on the agent's request");
        self.shutting_down = true;
        let running = self
            .task
            .as_ref()
            .is_some_and(|t| t.pgid.is_some() && !t.terminal_sent);
        if running {
            self.kill(ctx, None);
            // The agent kills us after its own grace period anyway; leave before that.
            let wait = self
                .env
                .shutdown_grace_period
                .saturating_sub(Duration::from_millis(500))
                .max(Duration::from_millis(100));
            ctx.delay(wait, "shutdown_exit", |me, _| me.finish(0));
        } else {
            self.finish(0);
        }
    }

    fn acknowledged(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateAcknowledgementMessage,
    ) {
        if from != self.slave {
            tracing::warn!(%from, "ignoring an acknowledgement from a process other than the agent");
            return;
        }
        let Some(update) = self.unacked.remove(&msg.uuid) else {
            tracing::debug!(task = %msg.task_id.value, "acknowledgement for an unknown update");
            return;
        };
        tracing::debug!(task = %msg.task_id.value, state = ?update.status.state(), "update acknowledged");
        if is_terminal(update.status.state()) {
            // Give the runtime a moment to flush anything still queued, then leave.
            ctx.delay(
                Duration::from_millis(100),
                "exit_after_terminal",
                |me, _| me.finish(0),
            );
        }
    }

    /// Sends a status update for `task` and keeps it until acknowledged.
    fn update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        task: &TaskInfo,
        state: TaskState,
        message: Option<String>,
        reason: Option<task_status::Reason>,
    ) {
        if is_terminal(state) {
            if let Some(t) = self
                .task
                .as_mut()
                .filter(|t| t.info.task_id == task.task_id)
            {
                t.terminal_sent = true;
            }
        }
        let now = ctx.clock().now_secs();
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let executor_id = ExecutorId {
            value: self.env.executor_id.clone(),
        };
        let mut status = TaskStatus {
            task_id: task.task_id.clone(),
            state: state as i32,
            message,
            slave_id: self.slave_id.clone(),
            timestamp: Some(now),
            executor_id: Some(executor_id.clone()),
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        if let Some(r) = reason {
            status.set_reason(r);
        }
        let update = StatusUpdate {
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            executor_id: Some(executor_id),
            slave_id: self.slave_id.clone(),
            status,
            timestamp: now,
            uuid: Some(uuid.clone()),
            latest_state: None,
        };
        tracing::info!(task = %task.task_id.value, ?state, "sending status update");
        self.unacked.insert(uuid.clone(), update.clone());
        self.send_update(ctx, &update);
        self.schedule_retry(ctx, uuid);
    }

    fn send_update(&self, ctx: &mut Ctx<'_, Self>, update: &StatusUpdate) {
        let msg = StatusUpdateMessage {
            update: update.clone(),
            pid: Some(ctx.pid().to_string()),
        };
        ctx.send(&self.slave, &msg);
    }

    fn schedule_retry(&self, ctx: &mut Ctx<'_, Self>, uuid: Vec<u8>) {
        ctx.delay(UPDATE_RETRY, "retry_update", move |me, ctx| {
            if let Some(update) = me.unacked.get(&uuid).cloned() {
                tracing::info!(task = %update.status.task_id.value, "resending unacknowledged update");
                me.send_update(ctx, &update);
                me.schedule_retry(ctx, uuid);
            }
        });
    }
}

impl Process for CommandExecutor {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<ExecutorRegisteredMessage>(Self::registered);
        ctx.install::<RunTaskMessage>(Self::run_task);
        ctx.install::<KillTaskMessage>(Self::kill_task);
        ctx.install::<ShutdownExecutorMessage>(Self::shutdown);
        ctx.install::<StatusUpdateAcknowledgementMessage>(Self::acknowledged);
        ctx.link(&self.slave);
        let msg = RegisterExecutorMessage {
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            executor_id: ExecutorId {
                value: self.env.executor_id.clone(),
            },
        };
        tracing::info!(agent = %self.slave, "registering with the agent");
        ctx.send(&self.slave, &msg);
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if *pid != self.slave {
            return;
        }
        tracing::warn!(agent = %pid, "the agent went away; killing the task and exiting");
        self.shutting_down = true;
        let running = self
            .task
            .as_ref()
            .is_some_and(|t| t.pgid.is_some() && !t.terminal_sent);
        if running {
            self.kill(ctx, Some(Duration::from_millis(200)));
            ctx.delay(Duration::from_secs(1), "exit_without_agent", |me, _| {
                me.finish(1)
            });
        } else {
            self.finish(1);
        }
    }
}

/// Runs the command executor from the environment until it is done; returns the exit code.
pub fn run() -> Result<i32, RunError> {
    let env = ExecutorEnv::from_env()?;
    if env.http_command_executor {
        return crate::default_executor::run_http_command_executor(env)
            .map_err(|e| RunError::Http(e.to_string()));
    }
    let rt = Runtime::start(Config::default().from_env()?)?;
    rt.set_validator(|n, b| mesos_proto::check(n, b).map_err(|e| e.to_string()));
    let (tx, rx) = mpsc::channel();
    let id = rt.generate_id("executor");
    tracing::info!(framework = %env.framework_id, executor = %env.executor_id, agent = %env.slave_pid, "starting the command executor");
    rt.spawn(id, CommandExecutor::new(env, tx))?;
    let code = rx.recv().map_err(|_| RunError::Vanished)?;
    rt.shutdown();
    Ok(code)
}
