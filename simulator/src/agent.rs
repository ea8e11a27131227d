//! A simulated agent: the master-facing half of a genuine agent, without containers.
//!
//! It registers (or, once it has an id, re-registers with its frameworks and tasks), answers
//! pings, and "runs" each task it is given by reporting TASK_RUNNING (and TASK_FINISHED after
//! the configured duration). Status updates are reliable like a genuine agent's status update
//! manager: one update in flight per task, resent every 10 s and after re-registration until
//! the master forwards the framework's acknowledgement. Tasks are command tasks, whose
//! executor a genuine agent does not list on re-registration, so none is listed here either.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Ctx, Process, Upid};
use mesos_proto::mesos::internal::{
    KillTaskMessage, PingSlaveMessage, PongSlaveMessage, ReconcileTasksMessage,
    RegisterSlaveMessage, ReregisterSlaveMessage, RunTaskMessage, ShutdownFrameworkMessage,
    ShutdownMessage, SlaveRegisteredMessage, SlaveReregisteredMessage, StatusUpdate,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage, UpdateFrameworkMessage,
};
use mesos_proto::mesos::{
    slave_info, task_status, ExecutorId, FrameworkId, FrameworkInfo, SlaveId, SlaveInfo, Task,
    TaskInfo, TaskState, TaskStatus,
};
use rand::Rng;

use crate::Shared;

/// The capabilities a genuine 1.11 agent announces, in its order (a genuine master checks
/// them).
const CAPABILITIES: [slave_info::capability::Type; 8] = {
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

/// First registration retry; doubles up to [`MAX_BACKOFF`] (genuine agents: 1 s factor).
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Unacknowledged status updates are resent this often, as genuine agents do.
const UPDATE_RETRY: Duration = Duration::from_secs(10);

struct SimTask {
    info: TaskInfo,
    framework_id: FrameworkId,
    state: TaskState,
    last_status: Option<TaskStatus>,
    /// Updates not yet acknowledged; the head is the one in flight.
    pending: VecDeque<StatusUpdate>,
}

/// One simulated agent (`slave(N)`).
pub struct SimAgent {
    index: usize,
    shared: Arc<Shared>,
    master: Option<Upid>,
    /// The leader epoch the current master belongs to (see `Stats`).
    epoch: u64,
    /// The epoch whose re-registration this agent already reported.
    counted_epoch: u64,
    id: Option<SlaveId>,
    registered: bool,
    /// The ramp delay has passed: the agent may talk to a master.
    started: bool,
    /// Invalidates scheduled registration retries.
    generation: u64,
    backoff: Duration,
    frameworks: HashMap<String, FrameworkInfo>,
    /// By (framework id, task id).
    tasks: HashMap<(String, String), SimTask>,
    retry_armed: bool,
}

fn decrement(counter: &AtomicUsize) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

impl SimAgent {
    pub(crate) fn new(index: usize, shared: Arc<Shared>) -> SimAgent {
        SimAgent {
            index,
            shared,
            master: None,
            epoch: 0,
            counted_epoch: 0,
            id: None,
            registered: false,
            started: false,
            generation: 0,
            backoff: FIRST_BACKOFF,
            frameworks: HashMap::new(),
            tasks: HashMap::new(),
            retry_armed: false,
        }
    }

    /// When this agent first registers: agent `i` waits `i / rate` seconds.
    fn ramp_delay(&self) -> Duration {
        let nanos = (self.index as f64) * 1e9 / self.shared.config.registration_rate;
        if nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64 {
            Duration::from_nanos(nanos as u64)
        } else {
            Duration::ZERO
        }
    }

    pub(crate) fn master_detected(&mut self, ctx: &mut Ctx<'_, Self>, master: Upid, epoch: u64) {
        if self.registered {
            decrement(&self.shared.stats.agents_registered);
        }
        self.master = Some(master);
        self.epoch = epoch;
        self.registered = false;
        self.backoff = FIRST_BACKOFF;
        if self.started {
            self.generation += 1;
            self.attempt(ctx, self.generation);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.started = true;
        if self.master.is_some() && !self.registered {
            self.generation += 1;
            self.attempt(ctx, self.generation);
        }
    }

    fn slave_info(&self, ctx: &Ctx<'_, Self>) -> SlaveInfo {
        SlaveInfo {
            hostname: self.shared.config.hostname.clone(),
            resources: self.shared.resources.clone(),
            id: self.id.clone(),
            checkpoint: Some(true),
            port: Some(i32::from(ctx.pid().address().port())),
            ..Default::default()
        }
    }

    fn capabilities() -> Vec<slave_info::Capability> {
        CAPABILITIES
            .iter()
            .map(|t| slave_info::Capability {
                r#type: Some(*t as i32),
            })
            .collect()
    }

    /// Sends one (re-)registration and schedules the next try.
    fn attempt(&mut self, ctx: &mut Ctx<'_, Self>, generation: u64) {
        if generation != self.generation || self.registered {
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        match &self.id {
            None => ctx.send(
                &master,
                &RegisterSlaveMessage {
                    slave: self.slave_info(ctx),
                    version: Some(crate::VERSION.into()),
                    agent_capabilities: Self::capabilities(),
                    ..Default::default()
                },
            ),
            Some(_) => {
                let msg = self.reregister_message(ctx);
                ctx.send(&master, &msg);
            }
        }
        self.shared
            .stats
            .registration_messages_sent
            .fetch_add(1, Ordering::Relaxed);
        let wait = jittered(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        ctx.delay(wait, "register_retry", move |me, ctx| {
            me.attempt(ctx, generation)
        });
    }

    fn reregister_message(&self, ctx: &Ctx<'_, Self>) -> ReregisterSlaveMessage {
        let slave_id = self.id.clone().unwrap_or_default();
        let tasks = self
            .tasks
            .values()
            .map(|t| {
                let head = t.pending.front();
                Task {
                    name: t.info.name.clone(),
                    task_id: t.info.task_id.clone(),
                    framework_id: t.framework_id.clone(),
                    executor_id: None,
                    slave_id: slave_id.clone(),
                    state: t.state as i32,
                    resources: t.info.resources.clone(),
                    statuses: t.last_status.iter().cloned().collect(),
                    status_update_state: head.map(|u| u.status.state),
                    status_update_uuid: head.and_then(|u| u.uuid.clone()),
                    ..Default::default()
                }
            })
            .collect();
        ReregisterSlaveMessage {
            slave: self.slave_info(ctx),
            tasks,
            frameworks: self.frameworks.values().cloned().collect(),
            version: Some(crate::VERSION.into()),
            agent_capabilities: Self::capabilities(),
            ..Default::default()
        }
    }

    fn is_master(&self, from: &Upid) -> bool {
        self.master.as_ref() == Some(from)
    }

    fn registered_msg(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: SlaveRegisteredMessage) {
        if !self.is_master(&from) || self.registered {
            return;
        }
        match &self.id {
            None => {
                self.shared
                    .stats
                    .agents_admitted
                    .fetch_add(1, Ordering::Relaxed);
            }
            Some(old) if *old != msg.slave_id => {
                // The master admitted us as a new agent: our old tasks are gone for it.
                tracing::warn!(old = %old.value, new = %msg.slave_id.value, "registered under a new id; forgetting tasks");
                self.tasks.clear();
                self.frameworks.clear();
            }
            Some(_) => {}
        }
        self.id = Some(msg.slave_id);
        self.on_registered(ctx);
    }

    fn reregistered_msg(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: SlaveReregisteredMessage,
    ) {
        if !self.is_master(&from) || self.id.as_ref() != Some(&msg.slave_id) {
            return;
        }
        if !self.registered {
            // Counted once per leader: a master that asks again (ping `connected: false`)
            // does not make this agent count twice.
            if self.counted_epoch != self.epoch {
                self.counted_epoch = self.epoch;
                self.shared.stats.agent_reregistered(self.epoch);
            }
            self.on_registered(ctx);
        }
        for reconcile in msg.reconciliations {
            self.reconcile(ctx, reconcile);
        }
    }

    fn on_registered(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.registered = true;
        self.generation += 1;
        self.backoff = FIRST_BACKOFF;
        self.shared
            .stats
            .agents_registered
            .fetch_add(1, Ordering::Relaxed);
        self.resend_pending(ctx);
    }

    /// The master lists tasks it believes are here; those we do not have are lost (as a
    /// genuine agent answers, with TASK_LOST from the agent).
    fn reconcile(&mut self, ctx: &mut Ctx<'_, Self>, msg: ReconcileTasksMessage) {
        for status in msg.statuses {
            let key = (msg.framework_id.value.clone(), status.task_id.value.clone());
            if self.tasks.contains_key(&key) {
                continue;
            }
            let info = TaskInfo {
                name: status.task_id.value.clone(),
                task_id: status.task_id.clone(),
                slave_id: self.id.clone().unwrap_or_default(),
                ..Default::default()
            };
            self.tasks.insert(
                key.clone(),
                SimTask {
                    info,
                    framework_id: msg.framework_id.clone(),
                    state: TaskState::TaskStaging,
                    last_status: None,
                    pending: VecDeque::new(),
                },
            );
            self.update(
                ctx,
                &key,
                TaskState::TaskLost,
                task_status::Source::Slave,
                Some(task_status::Reason::Reconciliation),
            );
        }
    }

    fn ping(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: PingSlaveMessage) {
        ctx.send(&from, &PongSlaveMessage {});
        let from_leader = self
            .master
            .as_ref()
            .is_some_and(|m| m.address() == from.address());
        if from_leader && self.registered && !msg.connected {
            tracing::warn!(agent = %ctx.pid(), "the master says we are not connected; re-registering");
            self.registered = false;
            decrement(&self.shared.stats.agents_registered);
            self.generation += 1;
            self.attempt(ctx, self.generation);
        }
    }

    fn run_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RunTaskMessage) {
        if !self.is_master(&from) || !self.registered {
            tracing::warn!(%from, "dropping RunTaskMessage while not registered with it");
            return;
        }
        #[allow(deprecated)]
        let Some(framework_id) = msg.framework.id.clone().or(msg.framework_id.clone()) else {
            tracing::warn!("RunTaskMessage without a framework id; dropped");
            return;
        };
        let mut framework = msg.framework;
        framework.id = Some(framework_id.clone());
        self.frameworks
            .insert(framework_id.value.clone(), framework);
        let key = (framework_id.value.clone(), msg.task.task_id.value.clone());
        if self.tasks.contains_key(&key) {
            tracing::warn!(task = %key.1, "duplicate task id; dropped");
            return;
        }
        self.tasks.insert(
            key.clone(),
            SimTask {
                info: msg.task,
                framework_id,
                state: TaskState::TaskStaging,
                last_status: None,
                pending: VecDeque::new(),
            },
        );
        self.update(
            ctx,
            &key,
            TaskState::TaskRunning,
            task_status::Source::Executor,
            None,
        );
        if let Some(after) = self.shared.config.task_duration {
            ctx.delay(after, "task_finished", move |me, ctx| {
                if me
                    .tasks
                    .get(&key)
                    .is_some_and(|t| t.state == TaskState::TaskRunning)
                {
                    me.update(
                        ctx,
                        &key,
                        TaskState::TaskFinished,
                        task_status::Source::Executor,
                        None,
                    );
                }
            });
        }
    }

    fn kill_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: KillTaskMessage) {
        if !self.is_master(&from) {
            return;
        }
        let key = (msg.framework_id.value.clone(), msg.task_id.value.clone());
        let live = self
            .tasks
            .get(&key)
            .is_some_and(|t| !mesos_proto::task_state::is_terminal(t.state));
        if live {
            self.update(
                ctx,
                &key,
                TaskState::TaskKilled,
                task_status::Source::Executor,
                None,
            );
        }
    }

    fn shutdown_framework(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ShutdownFrameworkMessage,
    ) {
        if !self.is_master(&from) {
            return;
        }
        let fw = msg.framework_id.value;
        self.tasks.retain(|(f, _), _| *f != fw);
        self.frameworks.remove(&fw);
    }

    /// The master's current FrameworkInfo for a framework with tasks here (sent to every
    /// agent after each (re-)subscription): kept for the next re-registration.
    fn update_framework(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: UpdateFrameworkMessage,
    ) {
        if !self.is_master(&from) {
            return;
        }
        if let (Some(known), Some(mut info)) = (
            self.frameworks.get_mut(&msg.framework_id.value),
            msg.framework_info,
        ) {
            info.id = Some(msg.framework_id);
            *known = info;
        }
    }

    fn shutdown(&mut self, _ctx: &mut Ctx<'_, Self>, from: Upid, msg: ShutdownMessage) {
        if !self.is_master(&from) {
            return;
        }
        // A genuine agent exits and its supervisor starts it afresh; so do we, in place.
        tracing::warn!(message = ?msg.message, "the master shut this agent down; registering afresh");
        if self.registered {
            decrement(&self.shared.stats.agents_registered);
        }
        if self.id.take().is_some() {
            decrement(&self.shared.stats.agents_admitted);
        }
        self.tasks.clear();
        self.frameworks.clear();
        self.registered = false;
        self.generation += 1;
        let generation = self.generation;
        self.backoff = FIRST_BACKOFF;
        _ctx.delay(jittered(FIRST_BACKOFF), "register", move |me, ctx| {
            me.attempt(ctx, generation)
        });
    }

    /// Queues a status update for a task and sends it if it is the only one pending.
    fn update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        key: &(String, String),
        state: TaskState,
        source: task_status::Source,
        reason: Option<task_status::Reason>,
    ) {
        let slave_id = self.id.clone();
        let now = ctx.clock().now_secs();
        let Some(task) = self.tasks.get_mut(key) else {
            return;
        };
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let executor_id = ExecutorId {
            value: task.info.task_id.value.clone(),
        };
        let status = TaskStatus {
            task_id: task.info.task_id.clone(),
            state: state as i32,
            slave_id: slave_id.clone(),
            timestamp: Some(now),
            executor_id: Some(executor_id.clone()),
            source: Some(source as i32),
            reason: reason.map(|r| r as i32),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        task.state = state;
        task.last_status = Some(status.clone());
        task.pending.push_back(StatusUpdate {
            framework_id: task.framework_id.clone(),
            executor_id: Some(executor_id),
            slave_id,
            status,
            timestamp: now,
            uuid: Some(uuid),
            latest_state: None,
        });
        if task.pending.len() == 1 && self.registered {
            self.forward(ctx, key);
        }
        self.arm_retry(ctx);
    }

    /// Sends the head update of a task to the master.
    fn forward(&self, ctx: &mut Ctx<'_, Self>, key: &(String, String)) {
        let (Some(master), Some(task)) = (self.master.as_ref(), self.tasks.get(key)) else {
            return;
        };
        let Some(head) = task.pending.front() else {
            return;
        };
        let mut update = head.clone();
        update.latest_state = Some(task.state as i32);
        ctx.send(
            master,
            &StatusUpdateMessage {
                update,
                pid: Some(ctx.pid().to_string()),
            },
        );
        self.shared
            .stats
            .status_updates_sent
            .fetch_add(1, Ordering::Relaxed);
    }

    fn resend_pending(&self, ctx: &mut Ctx<'_, Self>) {
        let keys: Vec<(String, String)> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.pending.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.forward(ctx, &key);
        }
    }

    fn arm_retry(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.retry_armed {
            return;
        }
        self.retry_armed = true;
        ctx.delay(UPDATE_RETRY, "status_update_retry", |me, ctx| {
            me.retry_armed = false;
            if me.tasks.values().any(|t| !t.pending.is_empty()) {
                if me.registered {
                    me.resend_pending(ctx);
                }
                me.arm_retry(ctx);
            }
        });
    }

    fn acknowledged(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateAcknowledgementMessage,
    ) {
        if !self.is_master(&from) {
            return;
        }
        let key = (msg.framework_id.value.clone(), msg.task_id.value.clone());
        let Some(task) = self.tasks.get_mut(&key) else {
            return;
        };
        if task.pending.front().and_then(|u| u.uuid.as_deref()) != Some(msg.uuid.as_slice()) {
            tracing::debug!(task = %key.1, "acknowledgement for an update not in flight; ignored");
            return;
        }
        task.pending.pop_front();
        self.shared
            .stats
            .acks_received
            .fetch_add(1, Ordering::Relaxed);
        if !task.pending.is_empty() {
            self.forward(ctx, &key);
        } else if mesos_proto::task_state::is_terminal(task.state) {
            self.tasks.remove(&key);
        }
    }
}

impl Process for SimAgent {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install(Self::registered_msg);
        ctx.install(Self::reregistered_msg);
        ctx.install(Self::ping);
        ctx.install(Self::run_task);
        ctx.install(Self::kill_task);
        ctx.install(Self::shutdown_framework);
        ctx.install(Self::shutdown);
        ctx.install(Self::acknowledged);
        ctx.install(Self::update_framework);
        ctx.delay(self.ramp_delay(), "start", |me, ctx| me.start(ctx));
    }
}
