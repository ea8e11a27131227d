//! The scheduler driver: a `scheduler-<uuid>` process talking to the master with
//! `mesos.scheduler.Call`s, as the genuine C++ driver does since Mesos 0.24.
//!
//! It subscribes (retrying with randomized doubling backoff until registered), obeys only the
//! master it subscribed to, hands offers and status updates to the [`Scheduler`], and
//! acknowledges agent-originated updates implicitly once the callback returns.

use std::time::Duration;

use bytes::Bytes;
use libprocess::{Ctx, Pid, Process, Runtime, Upid};
use mesos_proto::mesos::internal::{
    ExitedExecutorMessage, FrameworkErrorMessage, FrameworkRegisteredMessage,
    FrameworkReregisteredMessage, LostSlaveMessage, RescindResourceOfferMessage,
    ResourceOffersMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, ExecutorInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, SlaveId,
    TaskGroupInfo, TaskId, TaskInfo, TaskStatus,
};
use rand::Rng;
use tokio::sync::oneshot;

mod following;

/// Initial registration backoff (the genuine driver's factor).
const BACKOFF_FACTOR: Duration = Duration::from_secs(2);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// Framework callbacks. Each runs on the driver process; use the handle to make calls.
#[allow(unused_variables)]
pub trait Scheduler: Send + Unpin + 'static {
    fn registered(
        &mut self,
        driver: &mut DriverHandle<'_>,
        framework_id: &FrameworkId,
        master: &MasterInfo,
    ) {
    }
    fn reregistered(&mut self, driver: &mut DriverHandle<'_>, master: &MasterInfo) {}
    fn disconnected(&mut self, driver: &mut DriverHandle<'_>) {}
    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {}
    fn offer_rescinded(&mut self, driver: &mut DriverHandle<'_>, offer_id: &OfferId) {}
    fn status_update(&mut self, driver: &mut DriverHandle<'_>, status: &TaskStatus) {}
    fn agent_lost(&mut self, driver: &mut DriverHandle<'_>, agent_id: &str) {}
    fn executor_lost(
        &mut self,
        driver: &mut DriverHandle<'_>,
        executor_id: &str,
        agent_id: &str,
        status: i32,
    ) {
    }
    fn error(&mut self, driver: &mut DriverHandle<'_>, message: &str) {}
}

/// How a driver run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The framework called `stop` (the driver sent TEARDOWN unless failing over).
    Stopped,
    /// The master reported an error (e.g. the framework was removed).
    Error(String),
}

/// The driver process.
pub struct Driver {
    scheduler: Box<dyn Scheduler>,
    framework: FrameworkInfo,
    master: Upid,
    framework_id: Option<FrameworkId>,
    registered: bool,
    backoff: Duration,
    implicit_acks: bool,
    done: Option<oneshot::Sender<Outcome>>,
    /// With `zk://`: where to look for the next leader when the master is lost.
    detect: Option<mesos_zookeeper::ZkUrl>,
    /// With `zk://`: follows the leader (`following`).
    detector: Option<mesos_zookeeper::Detector>,
    /// The MasterInfo id of the master we (re-)registered with: a new one at the same
    /// address is a new master.
    master_id: Option<String>,
}

/// Where a handle's calls go: the master's libprocess pid (v0) or the HTTP API (v1).
pub(crate) trait CallSink {
    fn send_call(&mut self, call: Call);
}

/// What callbacks can do.
pub struct DriverHandle<'c> {
    sink: &'c mut dyn CallSink,
    framework_id: Option<FrameworkId>,
    stop: &'c mut Option<bool>,
}

impl<'c> DriverHandle<'c> {
    pub(crate) fn new(
        sink: &'c mut dyn CallSink,
        framework_id: Option<FrameworkId>,
        stop: &'c mut Option<bool>,
    ) -> Self {
        DriverHandle {
            sink,
            framework_id,
            stop,
        }
    }

    fn call(&mut self, mut call: Call) {
        call.framework_id = self.framework_id.clone();
        self.sink.send_call(call);
    }

    /// Accepts offers with any operations (one ACCEPT call).
    pub fn accept(
        &mut self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        refuse_seconds: Option<f64>,
    ) {
        self.call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids,
                operations,
                filters: refuse_seconds.map(|s| Filters {
                    refuse_seconds: Some(s),
                }),
            }),
            ..Default::default()
        });
    }

    /// Launches tasks on the given offers (one ACCEPT with a LAUNCH operation).
    pub fn launch(
        &mut self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        refuse_seconds: Option<f64>,
    ) {
        let op = offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch { task_infos: tasks }),
            ..Default::default()
        };
        self.accept(offer_ids, vec![op], refuse_seconds);
    }

    /// Launches a task group on one executor (a LAUNCH_GROUP operation); with an executor of
    /// type DEFAULT the agent runs its `mesos-default-executor`.
    pub fn launch_group(
        &mut self,
        offer_ids: Vec<OfferId>,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        refuse_seconds: Option<f64>,
    ) {
        let op = offer::Operation {
            r#type: Some(offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(offer::operation::LaunchGroup {
                executor,
                task_group: TaskGroupInfo { tasks },
            }),
            ..Default::default()
        };
        self.accept(offer_ids, vec![op], refuse_seconds);
    }

    pub fn decline(&mut self, offer_id: OfferId, refuse_seconds: Option<f64>) {
        self.call(Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![offer_id],
                filters: refuse_seconds.map(|s| Filters {
                    refuse_seconds: Some(s),
                }),
            }),
            ..Default::default()
        });
    }

    pub fn kill(&mut self, task_id: TaskId) {
        self.call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id,
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    pub fn revive(&mut self) {
        self.call(Call {
            r#type: Some(call::Type::Revive as i32),
            ..Default::default()
        });
    }

    pub fn suppress(&mut self) {
        self.call(Call {
            r#type: Some(call::Type::Suppress as i32),
            ..Default::default()
        });
    }

    /// Asks for the state of every task (implicit reconciliation).
    pub fn reconcile_all(&mut self) {
        self.call(Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile { tasks: vec![] }),
            ..Default::default()
        });
    }

    /// Ends the run. With `failover` the framework stays registered (no TEARDOWN).
    pub fn stop(&mut self, failover: bool) {
        *self.stop = Some(failover);
    }
}

/// v0: calls go to the master as `mesos.scheduler.Call` messages from the driver process.
struct V0Sink<'c, 'a> {
    ctx: &'c mut Ctx<'a, Driver>,
    master: &'c Upid,
}

impl CallSink for V0Sink<'_, '_> {
    fn send_call(&mut self, call: Call) {
        self.ctx.send(self.master, &call);
    }
}

impl Driver {
    /// Starts the driver on `rt` and returns when the run ends.
    pub async fn run(
        rt: &Runtime,
        master: Upid,
        framework: FrameworkInfo,
        scheduler: Box<dyn Scheduler>,
    ) -> Result<Outcome, libprocess::Error> {
        Self::run_following(rt, master, None, framework, scheduler).await
    }

    /// Like [`Driver::run`], starting with `master` and, when it is lost, subscribing to the
    /// leader `detect` then names (see `detection`).
    pub async fn run_following(
        rt: &Runtime,
        master: Upid,
        detect: Option<mesos_zookeeper::ZkUrl>,
        framework: FrameworkInfo,
        scheduler: Box<dyn Scheduler>,
    ) -> Result<Outcome, libprocess::Error> {
        let (tx, rx) = oneshot::channel();
        // A FrameworkInfo with an id is a failover: a new scheduler process takes over that
        // framework (as the genuine driver does), rather than registering a new one.
        let framework_id = framework.id.clone().filter(|id| !id.value.is_empty());
        let driver = Driver {
            scheduler,
            framework,
            master,
            framework_id,
            registered: false,
            backoff: BACKOFF_FACTOR,
            implicit_acks: true,
            done: Some(tx),
            detect,
            detector: None,
            master_id: None,
        };
        let id = format!("scheduler-{}", uuid::Uuid::new_v4());
        let pid: Pid<Driver> = rt.spawn(id, driver)?;
        let outcome = rx
            .await
            .unwrap_or(Outcome::Error("the driver process ended".into()));
        pid.terminate();
        Ok(outcome)
    }

    /// Runs `f` with the scheduler and a handle, then applies a requested stop.
    fn callback(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut dyn Scheduler, &mut DriverHandle<'_>),
    ) {
        let mut stop = None;
        {
            let mut sink = V0Sink {
                ctx,
                master: &self.master,
            };
            let mut handle = DriverHandle::new(&mut sink, self.framework_id.clone(), &mut stop);
            f(self.scheduler.as_mut(), &mut handle);
        }
        if let Some(failover) = stop {
            self.stop(ctx, failover, Outcome::Stopped);
        }
    }

    fn stop(&mut self, ctx: &mut Ctx<'_, Self>, failover: bool, outcome: Outcome) {
        if !failover && self.framework_id.is_some() {
            let call = Call {
                framework_id: self.framework_id.clone(),
                r#type: Some(call::Type::Teardown as i32),
                ..Default::default()
            };
            ctx.send(&self.master, &call);
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(outcome);
        }
    }

    fn subscribe(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.registered || self.done.is_none() {
            return;
        }
        let mut framework = self.framework.clone();
        framework.id = self.framework_id.clone();
        let call = Call {
            framework_id: self.framework_id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: framework,
                force: Some(self.framework_id.is_some()),
                ..Default::default()
            }),
            ..Default::default()
        };
        tracing::info!(master = %self.master, "subscribing");
        ctx.send(&self.master, &call);
        let wait = self
            .backoff
            .mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        self.backoff = (self.backoff * 2).min(BACKOFF_CAP);
        ctx.delay(wait, "subscribe_retry", |me, ctx| me.subscribe(ctx));
    }

    /// Messages are obeyed only from the master we subscribed to.
    fn from_master(&self, from: &Upid, what: &str) -> bool {
        if *from != self.master {
            tracing::warn!(%from, master = %self.master, what, "ignoring a message not from our master");
            return false;
        }
        true
    }

    fn framework_registered(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: FrameworkRegisteredMessage,
    ) {
        if !self.from_master(&from, "FrameworkRegisteredMessage") || self.registered {
            return;
        }
        self.registered = true;
        self.backoff = BACKOFF_FACTOR;
        self.framework_id = Some(msg.framework_id.clone());
        self.master_id = Some(msg.master_info.id.clone());
        tracing::info!(framework_id = %msg.framework_id.value, "registered");
        self.callback(ctx, |s, d| {
            s.registered(d, &msg.framework_id, &msg.master_info)
        });
    }

    fn framework_reregistered(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: FrameworkReregisteredMessage,
    ) {
        if !self.from_master(&from, "FrameworkReregisteredMessage") || self.registered {
            return;
        }
        self.registered = true;
        self.backoff = BACKOFF_FACTOR;
        self.master_id = Some(msg.master_info.id.clone());
        self.callback(ctx, |s, d| s.reregistered(d, &msg.master_info));
    }

    fn resource_offers(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: ResourceOffersMessage) {
        if !self.from_master(&from, "ResourceOffersMessage") || !self.registered {
            return;
        }
        self.callback(ctx, |s, d| s.resource_offers(d, msg.offers));
    }

    fn rescind(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RescindResourceOfferMessage) {
        if self.from_master(&from, "RescindResourceOfferMessage") {
            self.callback(ctx, |s, d| s.offer_rescinded(d, &msg.offer_id));
        }
    }

    fn status_update(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: StatusUpdateMessage) {
        if !self.from_master(&from, "StatusUpdateMessage") {
            return;
        }
        let update = msg.update;
        let mut status = update.status.clone();
        if status.uuid.is_none() {
            status.uuid = update.uuid.clone();
        }
        self.callback(ctx, |s, d| s.status_update(d, &status));
        // Agent-originated updates carry a uuid and need an acknowledgement; the master's own
        // (e.g. reconciliation) do not.
        let uuid = update.uuid.clone().unwrap_or_default();
        let from_agent = msg
            .pid
            .as_deref()
            .is_some_and(|p| !p.is_empty() && !Upid::parse(p).map(|u| u.is_none()).unwrap_or(true));
        // A framework that stopped in the callback has torn down: nothing left to acknowledge.
        if self.implicit_acks && !uuid.is_empty() && from_agent && self.done.is_some() {
            if let Some(agent) = update.slave_id.clone().or(status.slave_id.clone()) {
                let mut call = acknowledge(agent, status.task_id.clone(), uuid);
                call.framework_id = self.framework_id.clone();
                ctx.send(&self.master, &call);
            }
        }
    }

    fn framework_error(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: FrameworkErrorMessage) {
        if !self.from_master(&from, "FrameworkErrorMessage") {
            return;
        }
        tracing::error!(message = %msg.message, "framework error from the master");
        self.callback(ctx, |s, d| s.error(d, &msg.message));
        if let Some(done) = self.done.take() {
            let _ = done.send(Outcome::Error(msg.message));
        }
    }

    fn lost_slave(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: LostSlaveMessage) {
        if self.from_master(&from, "LostSlaveMessage") {
            self.callback(ctx, |s, d| s.agent_lost(d, &msg.slave_id.value));
        }
    }

    fn exited_executor(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: ExitedExecutorMessage) {
        if self.from_master(&from, "ExitedExecutorMessage") {
            self.callback(ctx, |s, d| {
                s.executor_lost(d, &msg.executor_id.value, &msg.slave_id.value, msg.status)
            });
        }
    }
}

impl Process for Driver {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install(Self::framework_registered);
        ctx.install(Self::framework_reregistered);
        ctx.install(Self::resource_offers);
        ctx.install(Self::rescind);
        ctx.install(Self::status_update);
        ctx.install(Self::framework_error);
        ctx.install(Self::lost_slave);
        ctx.install(Self::exited_executor);
        // Framework messages from executors are accepted but not used by these examples.
        ctx.install_raw(
            "mesos.internal.ExecutorToFrameworkMessage",
            |_, _, _, _: Bytes| {},
        );
        ctx.link(&self.master.clone());
        self.subscribe(ctx);
        self.start_following(ctx);
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if *pid != self.master || self.done.is_none() {
            return;
        }
        tracing::warn!(master = %pid, "lost the master; re-subscribing");
        self.registered = false;
        self.callback(ctx, |s, d| s.disconnected(d));
        ctx.delay(BACKOFF_FACTOR, "relink", |me, ctx| {
            if let Some(url) = me.detect.clone() {
                me.redetect(ctx, url);
                return;
            }
            ctx.link(&me.master.clone());
            me.subscribe(ctx);
        });
    }
}

impl Driver {
    /// Asks ZooKeeper for the leader (off the process's thread), then subscribes to it; a
    /// failed lookup keeps the last master, whose loss brings us back here.
    fn redetect(&mut self, ctx: &mut Ctx<'_, Self>, url: mesos_zookeeper::ZkUrl) {
        let lost = self.master.clone();
        let lookup = tokio::task::spawn_blocking(move || {
            crate::detection::detect_new_leader(&url, crate::detection::DETECTION_TIMEOUT, &lost)
        });
        ctx.then(lookup, |me: &mut Driver, ctx, found| {
            match found {
                Ok(Ok(pid)) if pid != me.master => {
                    tracing::info!(old = %me.master, new = %pid, "a new master leads");
                    me.master = pid;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "no leading master detected yet"),
                Err(e) => tracing::warn!(error = %e, "master detection failed"),
            }
            ctx.link(&me.master.clone());
            me.subscribe(ctx);
        });
    }
}

/// The ACKNOWLEDGE call for an agent-originated status update (both APIs ack the same way).
pub(crate) fn acknowledge(agent: SlaveId, task_id: TaskId, uuid: Vec<u8>) -> Call {
    Call {
        r#type: Some(call::Type::Acknowledge as i32),
        acknowledge: Some(call::Acknowledge {
            slave_id: agent,
            task_id,
            uuid,
        }),
        ..Default::default()
    }
}
