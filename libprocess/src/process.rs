//! Processes: actors with a UPID, message handlers installed by protobuf name, HTTP routes,
//! links, timers and dispatch.
//!
//! A [`Process`] is plain state; the runtime wraps it in an actix actor
//! ([`ProcessActor`]) that owns the handler tables and runs each delivery in the process's
//! own mailbox, one at a time. Handlers get a [`Ctx`] for sending, linking and scheduling.

use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler};
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::clock::{Clock, TimerId};
use crate::encoder::Message;
use crate::filter::Event;
use crate::http::{Reply, Request, Response};
use crate::metrics::Metrics;
use crate::pid::Upid;
use crate::runtime::Runtime;

/// The behaviour of a process. Install handlers and routes in `initialize`.
pub trait Process: Sized + Unpin + Send + 'static {
    fn initialize(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    /// A linked process went away (its connection broke, or it terminated locally).
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, _pid: &Upid) {}

    fn finalize(&mut self, _ctx: &mut Ctx<'_, Self>) {}
}

type MessageHandler<P> = Rc<dyn Fn(&mut P, &mut Ctx<'_, P>, Upid, Bytes)>;
type RouteHandler<P> = Rc<dyn Fn(&mut P, &mut Ctx<'_, P>, Request) -> Reply>;
type DispatchFn<P> = Box<dyn FnOnce(&mut P, &mut Ctx<'_, P>) + Send>;

/// How many events of each kind wait in a process's mailbox, read as Mesos's
/// `<process>/event_queue_messages`, `_dispatches` and `_http_requests` gauges.
#[derive(Debug, Default)]
pub struct QueueDepth {
    pub messages: AtomicUsize,
    pub dispatches: AtomicUsize,
    pub http_requests: AtomicUsize,
}

impl QueueDepth {
    /// Counts an event before it is queued (the handler may run at once), uncounts it if
    /// the mailbox refused it.
    pub(crate) fn queue(counter: &AtomicUsize, send: impl FnOnce() -> bool) -> bool {
        counter.fetch_add(1, Ordering::AcqRel);
        if send() {
            return true;
        }
        counter.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// An event left the mailbox (never below zero).
    fn handled(counter: &AtomicUsize) {
        let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// What the runtime keeps for a process besides its state.
pub(crate) struct Core<P: Process> {
    pid: Upid,
    runtime: Runtime,
    handlers: HashMap<String, MessageHandler<P>>,
    /// Route path (e.g. `/api/v1/scheduler`) to handler; longest prefix wins.
    routes: Vec<(String, RouteHandler<P>)>,
    pending: Arc<AtomicUsize>,
    depth: Arc<QueueDepth>,
}

/// The actix actor that hosts a [`Process`].
pub struct ProcessActor<P: Process> {
    process: P,
    core: Core<P>,
}

impl<P: Process> ProcessActor<P> {
    pub(crate) fn new(process: P, pid: Upid, runtime: Runtime, depth: Arc<QueueDepth>) -> Self {
        let pending = runtime.clock().pending_counter();
        ProcessActor {
            process,
            core: Core {
                pid,
                runtime,
                handlers: HashMap::new(),
                routes: Vec::new(),
                pending,
                depth,
            },
        }
    }

    fn with_ctx<R>(
        &mut self,
        actx: &mut Context<Self>,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) -> R,
    ) -> R {
        let mut ctx = Ctx {
            actx,
            core: &mut self.core,
        };
        f(&mut self.process, &mut ctx)
    }

    fn done(&self) {
        self.core.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<P: Process> Actor for ProcessActor<P> {
    type Context = Context<Self>;

    fn started(&mut self, actx: &mut Context<Self>) {
        self.with_ctx(actx, |p, ctx| p.initialize(ctx));
    }

    fn stopped(&mut self, actx: &mut Context<Self>) {
        self.with_ctx(actx, |p, ctx| p.finalize(ctx));
        self.core.runtime.unregister(&self.core.pid);
    }
}

/// Queues a delivery, counting it as pending until handled (for `Clock::settle`). `send`
/// fails when the mailbox is closed (terminated process); the delivery is then dropped.
pub(crate) fn post(pending: &AtomicUsize, send: impl FnOnce() -> bool) -> bool {
    pending.fetch_add(1, Ordering::AcqRel);
    if send() {
        return true;
    }
    pending.fetch_sub(1, Ordering::AcqRel);
    false
}

/// A message delivered to a process.
pub(crate) struct Deliver(pub Message);
impl actix::Message for Deliver {
    type Result = ();
}

impl<P: Process> Handler<Deliver> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, Deliver(msg): Deliver, actx: &mut Context<Self>) {
        QueueDepth::handled(&self.core.depth.messages);
        match self.core.handlers.get(&msg.name).cloned() {
            Some(handler) => self.with_ctx(actx, |p, ctx| handler(p, ctx, msg.from, msg.body)),
            None => {
                self.core
                    .runtime
                    .metrics()
                    .counter("libprocess/messages_unknown")
                    .inc();
                tracing::debug!(to = %self.core.pid, from = %msg.from, name = %msg.name,
                    "dropping message with no handler");
            }
        }
        self.done();
    }
}

/// A function call run on a process, in its mailbox.
pub(crate) struct Dispatch<P: Process>(pub DispatchFn<P>);
impl<P: Process> actix::Message for Dispatch<P> {
    type Result = ();
}

impl<P: Process> Handler<Dispatch<P>> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, Dispatch(f): Dispatch<P>, actx: &mut Context<Self>) {
        QueueDepth::handled(&self.core.depth.dispatches);
        self.with_ctx(actx, f);
        self.done();
    }
}

/// An HTTP request for one of the process's routes.
pub(crate) struct HttpCall {
    pub request: Request,
    /// The path below the process id, e.g. `/state` or `/api/v1/scheduler`.
    pub endpoint: String,
    pub reply: oneshot::Sender<Reply>,
}
impl actix::Message for HttpCall {
    type Result = ();
}

impl<P: Process> Handler<HttpCall> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, call: HttpCall, actx: &mut Context<Self>) {
        QueueDepth::handled(&self.core.depth.http_requests);
        let HttpCall {
            mut request,
            endpoint,
            reply,
        } = call;
        let route = longest_route(&self.core.routes, &endpoint);
        let response = match route {
            Some((prefix_len, handler)) => {
                request.rest = endpoint[prefix_len..].trim_start_matches('/').to_string();
                self.with_ctx(actx, |p, ctx| handler(p, ctx, request))
            }
            None => Reply::Now(Response::not_found()),
        };
        let _ = reply.send(response);
    }
}

fn longest_route<P: Process>(
    routes: &[(String, RouteHandler<P>)],
    endpoint: &str,
) -> Option<(usize, RouteHandler<P>)> {
    let endpoint = endpoint.trim_end_matches('/');
    routes
        .iter()
        .filter(|(route, _)| {
            let route = route.trim_end_matches('/');
            endpoint == route
                || (endpoint.starts_with(route)
                    && endpoint.as_bytes().get(route.len()) == Some(&b'/'))
                || route.is_empty()
        })
        .max_by_key(|(route, _)| route.trim_end_matches('/').len())
        .map(|(route, h)| (route.trim_end_matches('/').len(), h.clone()))
}

/// A linked process exited.
pub(crate) struct Exited(pub Upid);
impl actix::Message for Exited {
    type Result = ();
}

impl<P: Process> Handler<Exited> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, Exited(pid): Exited, actx: &mut Context<Self>) {
        self.with_ctx(actx, |p, ctx| p.exited(ctx, &pid));
        self.done();
    }
}

/// Stop the process.
pub(crate) struct Terminate;
impl actix::Message for Terminate {
    type Result = ();
}

impl<P: Process> Handler<Terminate> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, _: Terminate, actx: &mut Context<Self>) {
        actx.stop();
    }
}

/// What a handler can do: the process's view of the runtime.
pub struct Ctx<'a, P: Process> {
    actx: &'a mut Context<ProcessActor<P>>,
    core: &'a mut Core<P>,
}

impl<P: Process> Ctx<'_, P> {
    /// This process's UPID.
    pub fn pid(&self) -> &Upid {
        &self.core.pid
    }

    pub fn runtime(&self) -> &Runtime {
        &self.core.runtime
    }

    pub fn clock(&self) -> &Clock {
        self.core.runtime.clock()
    }

    pub fn metrics(&self) -> &Metrics {
        self.core.runtime.metrics()
    }

    /// A typed handle to this process, for dispatching onto it later.
    pub fn me(&self) -> Pid<P> {
        Pid {
            upid: self.core.pid.clone(),
            addr: self.actx.address(),
            runtime: self.core.runtime.clone(),
            depth: self.core.depth.clone(),
        }
    }

    /// What waits in this process's mailbox now (for `event_queue_*` gauges).
    pub fn queue_depth(&self) -> Arc<QueueDepth> {
        self.core.depth.clone()
    }

    /// Sends a protobuf message, named by its full protobuf name.
    pub fn send<M: prost::Message + prost::Name>(&self, to: &Upid, message: &M) {
        self.core.runtime.send(
            &self.core.pid,
            to,
            &M::full_name(),
            Bytes::from(message.encode_to_vec()),
        );
    }

    /// Sends an already encoded body under an explicit name.
    pub fn send_raw(&self, to: &Upid, name: &str, body: Bytes) {
        self.core.runtime.send(&self.core.pid, to, name, body);
    }

    /// Watches `to`: [`Process::exited`] runs when its connection breaks or it terminates.
    pub fn link(&self, to: &Upid) {
        self.core.runtime.link(&self.core.pid, to);
    }

    pub fn unlink(&self, to: &Upid) {
        self.core.runtime.unlink(&self.core.pid, to);
    }

    /// Installs the handler for messages of type `M` (by its full protobuf name).
    ///
    /// Bodies that fail to decode, or miss a proto2 required field, are dropped and counted,
    /// as genuine libprocess drops them; the process never sees them.
    pub fn install<M>(&mut self, handler: impl Fn(&mut P, &mut Ctx<'_, P>, Upid, M) + 'static)
    where
        M: prost::Message + prost::Name + Default + 'static,
    {
        let name = M::full_name();
        let runtime = self.core.runtime.clone();
        let decode_name = name.clone();
        self.install_raw(&name, move |p, ctx, from, body| match runtime.decode::<M>(&decode_name, &body) {
            Ok(message) => handler(p, ctx, from, message),
            Err(error) => {
                runtime.metrics().counter("libprocess/messages_dropped_invalid").inc();
                tracing::warn!(from = %from, name = %decode_name, %error, "dropping undecodable message");
            }
        });
    }

    /// Installs a handler for a message name, receiving the raw body.
    pub fn install_raw(
        &mut self,
        name: &str,
        handler: impl Fn(&mut P, &mut Ctx<'_, P>, Upid, Bytes) + 'static,
    ) {
        self.core
            .handlers
            .insert(name.to_string(), Rc::new(handler));
    }

    /// Serves HTTP requests for `/<id><path>` (and, on the delegate, `<path>`).
    pub fn route(
        &mut self,
        path: &str,
        handler: impl Fn(&mut P, &mut Ctx<'_, P>, Request) -> Reply + 'static,
    ) {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        self.core.routes.retain(|(p, _)| *p != path);
        self.core.routes.push((path, Rc::new(handler)));
    }

    /// Runs `f` on this process after `after` (virtual time; see [`Clock`]).
    /// `method` names the call for dispatch filters.
    pub fn delay(
        &self,
        after: Duration,
        method: &'static str,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) + Send + 'static,
    ) -> TimerId {
        let me = self.me();
        self.clock().schedule(after, move || me.dispatch(method, f))
    }

    /// Cancels a timer from [`Ctx::delay`].
    pub fn cancel(&self, timer: TimerId) -> bool {
        self.clock().cancel(timer)
    }

    /// Awaits `future` without blocking the mailbox, then runs `then` on this process with
    /// its output (libprocess's `defer`).
    pub fn then<F, T>(&mut self, future: F, then: impl FnOnce(&mut P, &mut Ctx<'_, P>, T) + 'static)
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        let fut = actix::fut::wrap_future::<_, ProcessActor<P>>(future).map(
            move |out, act: &mut ProcessActor<P>, actx: &mut Context<ProcessActor<P>>| {
                act.with_ctx(actx, |p, ctx| then(p, ctx, out));
            },
        );
        self.actx.spawn(fut);
    }

    /// Stops this process after the current handler.
    pub fn terminate(&mut self) {
        self.actx.stop();
    }
}

/// A typed handle to a running process.
pub struct Pid<P: Process> {
    upid: Upid,
    addr: Addr<ProcessActor<P>>,
    runtime: Runtime,
    depth: Arc<QueueDepth>,
}

impl<P: Process> Clone for Pid<P> {
    fn clone(&self) -> Self {
        Pid {
            upid: self.upid.clone(),
            addr: self.addr.clone(),
            runtime: self.runtime.clone(),
            depth: self.depth.clone(),
        }
    }
}

impl<P: Process> Pid<P> {
    pub(crate) fn new(
        upid: Upid,
        addr: Addr<ProcessActor<P>>,
        runtime: Runtime,
        depth: Arc<QueueDepth>,
    ) -> Self {
        Pid {
            upid,
            addr,
            runtime,
            depth,
        }
    }

    pub fn upid(&self) -> &Upid {
        &self.upid
    }

    /// Runs `f` on the process, in its mailbox, after what is already queued. `method`
    /// names the call for dispatch filters.
    pub fn dispatch(
        &self,
        method: &'static str,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) + Send + 'static,
    ) {
        let addr = self.addr.clone();
        let pending = self.runtime.clock().pending_counter();
        let depth = self.depth.clone();
        let deliver = move || {
            post(&pending, || {
                QueueDepth::queue(&depth.dispatches, || {
                    addr.try_send(Dispatch(Box::new(f))).is_ok()
                })
            });
        };
        let filters = self.runtime.filters();
        if filters.is_active() {
            let ev = Event::Dispatch {
                to: self.upid.clone(),
                method: method.to_string(),
            };
            if let Some(now) = filters.apply(&ev, Box::new(deliver)) {
                now();
            }
        } else {
            deliver();
        }
    }

    /// Runs `f` on the process and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        method: &'static str,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) -> R + Send + 'static,
    ) -> Result<R, crate::Error> {
        let (tx, rx) = oneshot::channel();
        self.dispatch(method, move |p, ctx| {
            let _ = tx.send(f(p, ctx));
        });
        rx.await
            .map_err(|_| crate::Error::Terminated(self.upid.clone()))
    }

    /// Asks the process to stop.
    pub fn terminate(&self) {
        self.addr.do_send(Terminate);
    }

    /// True while the process's mailbox is open.
    pub fn is_running(&self) -> bool {
        self.addr.connected()
    }
}
