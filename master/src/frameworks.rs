//! Frameworks: records, (re-)subscription, disconnection and failover timeouts, removal,
//! and sending events over whichever transport the framework subscribed with.
//!
//! A v0 driver is reached by internal messages at its UPID; a v1 HTTP framework by records
//! on its subscription stream. Both get the same events, so every sender in the master goes
//! through [`Master::send_to_framework`] with a transport-neutral [`ToFramework`].

use bytes::Bytes;
use libprocess::{duration, Ctx, TimerId, Upid};
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, ExitedExecutorMessage, FrameworkErrorMessage, LostSlaveMessage,
    RescindResourceOfferMessage, ResourceOffersMessage, ShutdownFrameworkMessage, StatusUpdate,
    StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{event, Event};
use mesos_proto::mesos::{
    framework_info, task_status, ExecutorId, FrameworkId, FrameworkInfo, Offer, OfferId,
    OperationStatus, SlaveId, Task, TaskState,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tokio::sync::mpsc::UnboundedSender;

use crate::event_stream::Budget;
use crate::master::Master;

/// How a framework is reached.
pub enum Conn {
    /// A v0 scheduler driver at this UPID.
    Pid(Upid),
    /// A v1 HTTP framework's event stream.
    Http(HttpStream),
    /// Known only from an agent's re-registration; not subscribed yet.
    None,
}

/// A v1 subscription stream.
pub struct HttpStream {
    pub tx: UnboundedSender<Bytes>,
    pub stream_id: String,
    /// JSON records (else protobuf).
    pub json: bool,
    /// Dropped with the stream: ends the watcher that reports the client going away.
    pub stop_watch: Option<tokio::sync::oneshot::Sender<()>>,
    /// What this stream may hold unwritten before its subscriber counts as gone.
    pub budget: Budget,
}

impl HttpStream {
    /// Writes one event as a RecordIO record; false if the client went away or has left
    /// more than its budget unread (the caller then disconnects the framework).
    pub fn write(&self, event: &Event) -> bool {
        let Some(record) = crate::scheduler_http::encode_event(event, self.json) else {
            return true;
        };
        match self.budget.admit(record) {
            Ok(record) => self.tx.send(record).is_ok(),
            Err(overflow) => {
                tracing::warn!(stream = %self.stream_id, %overflow, "disconnecting a subscriber that does not read its event stream");
                false
            }
        }
    }

    /// Ends the stream: the connection sends what it holds, then the end of the response.
    pub fn close(&mut self) {
        let (closed, _) = tokio::sync::mpsc::unbounded_channel();
        self.tx = closed;
        // The watcher holds a sender too: stop it, or the response would never end.
        self.stop_watch.take();
    }
}

/// A registered framework.
pub struct Framework {
    pub id: String,
    pub info: FrameworkInfo,
    pub conn: Conn,
    pub connected: bool,
    pub active: bool,
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub tasks: BTreeMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    /// Tasks of agents that became unreachable (see `history`).
    pub unreachable_tasks: VecDeque<Task>,
    /// Tasks whose resources went back to the allocator already (terminal, not yet acked).
    pub freed: BTreeSet<String>,
    pub offers: BTreeSet<String>,
    pub failover_timer: Option<TimerId>,
}

impl Framework {
    pub fn has_capability(&self, c: framework_info::capability::Type) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|x| x.r#type == Some(c as i32))
    }

    pub fn partition_aware(&self) -> bool {
        self.has_capability(framework_info::capability::Type::PartitionAware)
    }

    pub fn roles(&self) -> Vec<String> {
        roles_of(&self.info)
    }

    pub fn pid(&self) -> Option<&Upid> {
        match &self.conn {
            Conn::Pid(p) => Some(p),
            _ => None,
        }
    }

    pub fn is_http(&self) -> bool {
        matches!(self.conn, Conn::Http(_))
    }
}

/// A framework's roles: `roles` for MULTI_ROLE frameworks, else its single `role`.
pub fn roles_of(info: &FrameworkInfo) -> Vec<String> {
    let multi = info
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(framework_info::capability::Type::MultiRole as i32));
    if multi {
        info.roles.clone()
    } else {
        #[allow(deprecated)]
        let role = info.role.clone().unwrap_or_else(|| "*".to_string());
        vec![role]
    }
}

/// Checks a FrameworkInfo as the master does on subscription.
pub fn validate_framework_info(info: &FrameworkInfo) -> Result<(), String> {
    let multi = info
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(framework_info::capability::Type::MultiRole as i32));
    #[allow(deprecated)]
    if !multi && !info.roles.is_empty() {
        return Err("'FrameworkInfo.roles' is set but MULTI_ROLE capability is not".into());
    }
    #[allow(deprecated)]
    if multi && info.role.is_some() {
        return Err("'FrameworkInfo.role' must not be set with the MULTI_ROLE capability".into());
    }
    for role in roles_of(info) {
        let bad = role.is_empty()
            || role == "."
            || role == ".."
            || role.starts_with('-')
            || role.starts_with('/')
            || role.ends_with('/')
            || role.contains("//")
            || role.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad {
            return Err(format!("Role '{role}' is invalid"));
        }
    }
    // As Mesos: any duration stout can hold is accepted (a negative one acts as zero).
    if let Some(t) = info
        .failover_timeout
        .filter(|t| !crate::numbers::stout_representable(*t))
    {
        return Err(format!("The framework failover_timeout ({t}) is invalid"));
    }
    Ok(())
}

/// The framework registry.
#[derive(Default)]
pub struct Frameworks {
    pub registered: BTreeMap<String, Framework>,
    pub completed: VecDeque<Framework>,
    next_id: u64,
}

impl Frameworks {
    pub fn get(&self, id: &str) -> Option<&Framework> {
        self.registered.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Framework> {
        self.registered.get_mut(id)
    }

    /// The framework a v0 driver at `pid` registered.
    pub fn by_pid(&self, pid: &Upid) -> Option<String> {
        self.registered
            .values()
            .find(|f| f.pid() == Some(pid))
            .map(|f| f.id.clone())
    }
}

/// An event for a framework, whatever its transport.
pub enum ToFramework {
    Offers(Vec<Offer>),
    Rescind(OfferId),
    /// A status update; `agent` is the agent to acknowledge to (None: master-generated).
    Update(Box<StatusUpdate>, Option<Upid>),
    Message(ExecutorToFrameworkMessage),
    ExecutorExited {
        agent_id: SlaveId,
        executor_id: ExecutorId,
        status: i32,
    },
    AgentLost(SlaveId),
    Error(String),
    /// Feedback on an offer operation (v1 only: v0 drivers have no such message).
    OperationStatus(OperationStatus),
}

/// What a subscription resolved to.
pub struct Subscribed {
    pub framework_id: String,
    /// True if the framework id was known before (a re-subscription).
    pub reregistered: bool,
}

impl Master {
    fn new_framework_id(&mut self) -> String {
        let n = self.frameworks.next_id;
        self.frameworks.next_id += 1;
        format!("{}-{:04}", self.info.id, n)
    }

    /// Subscribes (or re-subscribes) a framework reached through `conn`.
    pub(crate) fn subscribe(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        mut info: FrameworkInfo,
        suppressed_roles: Vec<String>,
        conn: Conn,
    ) -> Result<Subscribed, String> {
        self.count_subscribe(&info);
        validate_framework_info(&info)?;
        let now = ctx.clock().now_secs();
        let requested = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        // A v0 driver retrying its first SUBSCRIBE from the same pid gets the same id, and
        // a "registered" (not "re-registered") acknowledgement again.
        let had_id = requested.is_some();
        let requested = requested.or_else(|| match &conn {
            Conn::Pid(p) => self.frameworks.by_pid(p),
            _ => None,
        });
        if let Some(id) = requested {
            if self.frameworks.completed.iter().any(|f| f.id == id) {
                return Err("Framework has been removed".into());
            }
            if self.frameworks.registered.contains_key(&id) {
                self.reconnect_framework(ctx, &id, info, &suppressed_roles, conn, now);
                return Ok(Subscribed {
                    framework_id: id,
                    reregistered: had_id,
                });
            }
            info.id = Some(FrameworkId { value: id.clone() });
            self.add_framework(ctx, id.clone(), info, suppressed_roles, conn, now);
            return Ok(Subscribed {
                framework_id: id,
                reregistered: true,
            });
        }
        let id = self.new_framework_id();
        info.id = Some(FrameworkId { value: id.clone() });
        self.add_framework(ctx, id.clone(), info, suppressed_roles, conn, now);
        Ok(Subscribed {
            framework_id: id,
            reregistered: false,
        })
    }

    fn add_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: String,
        info: FrameworkInfo,
        suppressed_roles: Vec<String>,
        conn: Conn,
        now: f64,
    ) {
        if let Conn::Pid(p) = &conn {
            ctx.link(p);
        }
        let roles = roles_of(&info);
        tracing::info!(framework = %id, name = %info.name, "framework subscribed");
        self.frameworks.registered.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                info,
                conn,
                connected: true,
                active: true,
                recovered: false,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: None,
                tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                unreachable_tasks: VecDeque::new(),
                freed: BTreeSet::new(),
                offers: BTreeSet::new(),
                failover_timer: None,
            },
        );
        self.metrics.frameworks_registered.inc();
        self.allocator()
            .add_framework(&id, &roles, &suppressed_roles, true);
        self.changed();
    }

    /// An existing framework subscribed again (driver retry, failover, new HTTP stream).
    fn reconnect_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &str,
        info: FrameworkInfo,
        suppressed_roles: &[String],
        conn: Conn,
        now: f64,
    ) {
        if !self.frameworks.registered.contains_key(id) {
            return;
        }
        // As Mesos: the new FrameworkInfo first (roles to the allocator, offers to roles
        // it left rescinded), then the connection.
        self.update_framework(ctx, id, info, suppressed_roles);
        let Some(framework) = self.frameworks.registered.get_mut(id) else {
            return;
        };
        if let Some(timer) = framework.failover_timer.take() {
            ctx.cancel(timer);
        }
        let old = std::mem::replace(&mut framework.conn, conn);
        let same_pid = matches!((&old, &framework.conn), (Conn::Pid(a), Conn::Pid(b)) if a == b);
        match old {
            Conn::Pid(p) if !same_pid => {
                ctx.send(
                    &p,
                    &FrameworkErrorMessage {
                        message: "Framework failed over".into(),
                    },
                );
                ctx.unlink(&p);
            }
            Conn::Http(stream) => {
                let error = Event {
                    r#type: Some(event::Type::Error as i32),
                    error: Some(event::Error {
                        message: "Framework failed over".into(),
                    }),
                    ..Default::default()
                };
                stream.write(&error);
            }
            _ => {}
        }
        if let Conn::Pid(p) = &framework.conn {
            ctx.link(p);
        }
        framework.connected = true;
        framework.recovered = false;
        framework.reregistered_time = Some(now);
        let was_active = framework.active;
        framework.active = true;
        if same_pid {
            // The driver may have answered offers it then dropped while disconnected.
            self.rescind_framework_offers(ctx, id, true);
        } else {
            self.discard_framework_offers(ctx, id);
        }
        if !was_active {
            self.allocator().activate_framework(id);
        }
        self.send_framework_updates(ctx, id);
        tracing::info!(framework = %id, failover = !same_pid, "framework re-subscribed");
        self.changed();
    }

    /// A framework known only from an agent's report: kept inactive until it subscribes.
    pub(crate) fn recover_framework(&mut self, ctx: &mut Ctx<'_, Self>, info: FrameworkInfo) {
        let Some(id) = info.id.as_ref().map(|i| i.value.clone()) else {
            return;
        };
        if self.frameworks.registered.contains_key(&id)
            || self.frameworks.completed.iter().any(|f| f.id == id)
        {
            return;
        }
        let roles = roles_of(&info);
        self.frameworks.registered.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                info,
                conn: Conn::None,
                connected: false,
                active: false,
                recovered: true,
                registered_time: ctx.clock().now_secs(),
                reregistered_time: None,
                unregistered_time: None,
                tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                unreachable_tasks: VecDeque::new(),
                freed: BTreeSet::new(),
                offers: BTreeSet::new(),
                failover_timer: None,
            },
        );
        self.allocator().add_framework(&id, &roles, &[], false);
        self.start_recovered_failover_timeout(ctx, &id);
    }

    /// The framework's connection is gone: stop offering to it, start its failover timer.
    pub(crate) fn framework_disconnected(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(framework) = self.frameworks.registered.get_mut(id) else {
            return;
        };
        if !framework.connected {
            return;
        }
        tracing::info!(framework = %id, "framework disconnected");
        framework.connected = false;
        match &mut framework.conn {
            Conn::Pid(p) => ctx.unlink(p),
            Conn::Http(stream) => stream.close(),
            Conn::None => {}
        }
        let timeout = framework.info.failover_timeout.unwrap_or(0.0);
        // Its offers are rescinded, so the allocator offers them to others right away.
        self.deactivate_framework(ctx, id);
        if timeout <= 0.0 {
            self.remove_framework(ctx, id, "failover timeout 0 and the framework disconnected");
            return;
        }
        let fid = id.to_string();
        let timer = ctx.delay(
            duration::from_secs_f64(timeout).unwrap_or_default(),
            "framework_failover_timeout",
            move |m, ctx| {
                if m.frameworks.get(&fid).is_some_and(|f| !f.connected) {
                    m.remove_framework(ctx, &fid, "its failover timeout elapsed");
                }
            },
        );
        if let Some(f) = self.frameworks.get_mut(id) {
            f.failover_timer = Some(timer);
        }
        self.changed();
    }

    /// Stops offering to a framework and takes back its outstanding offers.
    pub(crate) fn deactivate_framework(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(framework) = self.frameworks.registered.get_mut(id) else {
            return;
        };
        if framework.active {
            framework.active = false;
            self.allocator().deactivate_framework(id);
        }
        self.rescind_framework_offers(ctx, id, true);
        self.changed();
    }

    /// Removes a framework: its executors and tasks are shut down on every agent.
    pub(crate) fn remove_framework(&mut self, ctx: &mut Ctx<'_, Self>, id: &str, why: &str) {
        self.rescind_framework_offers(ctx, id, false);
        let Some(mut framework) = self.frameworks.registered.remove(id) else {
            return;
        };
        tracing::info!(framework = %id, %why, "removing framework");
        if let Some(timer) = framework.failover_timer.take() {
            ctx.cancel(timer);
        }
        match &framework.conn {
            Conn::Pid(p) => ctx.unlink(p),
            Conn::Http(_) => {}
            Conn::None => {}
        }
        framework.conn = Conn::None;
        let shutdown = ShutdownFrameworkMessage {
            framework_id: FrameworkId {
                value: id.to_string(),
            },
        };
        let now = ctx.clock().now_secs();
        // Every registered agent hears it, as from genuine Mesos: the master's view may lag
        // (a task in flight, a command executor it never tracks), the agent's does not, and
        // an agent ignores frameworks it does not know.
        for agent in self.agents.registered.values_mut() {
            agent.executors.remove(id);
            agent.tasks.retain(|(f, _)| f != id);
            tracing::debug!(framework = %id, agent = %agent.pid, "sending ShutdownFrameworkMessage");
            ctx.send(&agent.pid, &shutdown);
        }
        let tasks = std::mem::take(&mut framework.tasks);
        for (_, mut task) in tasks {
            let state = TaskState::try_from(task.state).unwrap_or(TaskState::TaskLost);
            if !crate::tasks::is_terminal(state) {
                task.state = TaskState::TaskKilled as i32;
                task.statuses.push(crate::tasks::master_status(
                    &task,
                    TaskState::TaskKilled,
                    task_status::Reason::FrameworkRemoved,
                    "Framework removed",
                    now,
                ));
                self.metrics.task_terminal(TaskState::TaskKilled);
            }
            framework.complete_task(task, self.flags.max_completed_tasks_per_framework);
        }
        framework.connected = false;
        framework.active = false;
        framework.unregistered_time = Some(now);
        self.allocator().remove_framework(id);
        self.frameworks.completed.push_back(framework);
        while self.frameworks.completed.len() > self.flags.max_completed_frameworks {
            self.frameworks.completed.pop_front();
        }
        self.changed();
    }

    /// Sends an event to a framework over its transport. An HTTP stream whose client is
    /// gone disconnects the framework.
    pub(crate) fn send_to_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        what: ToFramework,
    ) {
        let Some(framework) = self.frameworks.registered.get(framework_id) else {
            return;
        };
        let fid = FrameworkId {
            value: framework_id.to_string(),
        };
        let alive = match &framework.conn {
            Conn::None => true,
            Conn::Pid(pid) => {
                match what {
                    ToFramework::Offers(offers) => {
                        let pids = offers
                            .iter()
                            .map(|o| {
                                self.agents
                                    .registered
                                    .get(&o.slave_id.value)
                                    .map(|a| a.pid.to_string())
                                    .unwrap_or_default()
                            })
                            .collect();
                        ctx.send(pid, &ResourceOffersMessage { offers, pids });
                    }
                    ToFramework::Rescind(offer_id) => {
                        ctx.send(pid, &RescindResourceOfferMessage { offer_id })
                    }
                    ToFramework::Update(update, agent) => ctx.send(
                        pid,
                        &StatusUpdateMessage {
                            update: *update,
                            pid: Some(crate::wire_fields::framework_pid(agent.as_ref())),
                        },
                    ),
                    ToFramework::Message(m) => ctx.send(pid, &m),
                    ToFramework::ExecutorExited {
                        agent_id,
                        executor_id,
                        status,
                    } => ctx.send(
                        pid,
                        &ExitedExecutorMessage {
                            slave_id: agent_id,
                            framework_id: fid,
                            executor_id,
                            status,
                        },
                    ),
                    ToFramework::AgentLost(slave_id) => {
                        ctx.send(pid, &LostSlaveMessage { slave_id })
                    }
                    ToFramework::Error(message) => {
                        ctx.send(pid, &FrameworkErrorMessage { message })
                    }
                    ToFramework::OperationStatus(status) => {
                        tracing::debug!(framework = %framework_id, ?status, "no operation feedback for a v0 driver");
                    }
                }
                true
            }
            Conn::Http(stream) => stream.write(&to_event(what)),
        };
        if !alive {
            tracing::info!(framework = %framework_id, "event stream closed by the client");
            self.framework_disconnected(ctx, framework_id);
        }
    }

    /// Tells a framework an agent is gone (`LostSlaveMessage` / FAILURE).
    pub(crate) fn send_agent_lost(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        agent_id: &str,
    ) {
        self.send_to_framework(
            ctx,
            framework_id,
            ToFramework::AgentLost(SlaveId {
                value: agent_id.to_string(),
            }),
        );
    }
}

/// The v1-shaped (v0 types) scheduler event for an outbound item.
pub fn to_event(what: ToFramework) -> Event {
    let mut e = Event::default();
    match what {
        ToFramework::Offers(offers) => {
            e.set_type(event::Type::Offers);
            e.offers = Some(event::Offers { offers });
        }
        ToFramework::Rescind(offer_id) => {
            e.set_type(event::Type::Rescind);
            e.rescind = Some(event::Rescind { offer_id });
        }
        ToFramework::Update(update, agent) => {
            e.set_type(event::Type::Update);
            e.update = Some(event::Update {
                status: update_event_status(*update, agent.is_some()),
            });
        }
        ToFramework::Message(m) => {
            e.set_type(event::Type::Message);
            e.message = Some(event::Message {
                slave_id: m.slave_id,
                executor_id: m.executor_id,
                data: m.data,
            });
        }
        ToFramework::ExecutorExited {
            agent_id,
            executor_id,
            status,
        } => {
            e.set_type(event::Type::Failure);
            e.failure = Some(event::Failure {
                slave_id: Some(agent_id),
                executor_id: Some(executor_id),
                status: Some(status),
            });
        }
        ToFramework::AgentLost(agent_id) => {
            e.set_type(event::Type::Failure);
            e.failure = Some(event::Failure {
                slave_id: Some(agent_id),
                executor_id: None,
                status: None,
            });
        }
        ToFramework::Error(message) => {
            e.set_type(event::Type::Error);
            e.error = Some(event::Error { message });
        }
        ToFramework::OperationStatus(status) => {
            e.set_type(event::Type::UpdateOperationStatus);
            e.update_operation_status = Some(event::UpdateOperationStatus { status });
        }
    }
    e
}

/// The status a v1 UPDATE event carries for an internal update, as genuine Mesos derives
/// it: the update's agent id, executor id and timestamp win over the status's, and the
/// uuid is there only for updates that need an acknowledgement (from an agent, with one).
fn update_event_status(update: StatusUpdate, from_agent: bool) -> mesos_proto::mesos::TaskStatus {
    let mut status = update.status;
    if update.slave_id.is_some() {
        status.slave_id = update.slave_id;
    }
    if update.executor_id.is_some() {
        status.executor_id = update.executor_id;
    }
    status.timestamp = Some(update.timestamp);
    status.uuid = update.uuid.filter(|u| !u.is_empty() && from_agent);
    status
}
