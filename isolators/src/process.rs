//! [`IsolatorProcess`]: hosts any [`Isolator`] as an addressable libprocess actor
//! (`cgroups-mem-isolator(1)@ip:port`), answering the protocol's messages.
//!
//! Calls run one at a time in the actor's mailbox; each call's future is awaited off the
//! mailbox (`Ctx::then`), so a pending `watch` never blocks `usage` or `cleanup`.
//!
//! A `cleanup` discards the container's pending watches (as Mesos discards the watch of
//! a cleaned-up container): their futures are dropped here, so nothing an isolator polls
//! outlives the container, and each is answered `Reply::Discarded` so clients forget it.

use std::collections::HashMap;

use bytes::Bytes;
use futures::future::{AbortHandle, Abortable};
use libprocess::{Ctx, Pid, Process, Runtime, Upid};

use crate::isolator::{Isolator, IsolatorError, IsolatorFuture};
use crate::protocol::{
    self, Call, ContainerId, Reply, Request, Response, CALL_KINDS, MESSAGE_PREFIX, RESPONSE,
};

/// The actor wrapper around an isolator.
pub struct IsolatorProcess<I: Isolator> {
    isolator: I,
    /// Pending watches by container, each under a key local to this process.
    watches: HashMap<ContainerId, HashMap<u64, AbortHandle>>,
    next_watch: u64,
}

impl<I: Isolator> IsolatorProcess<I> {
    pub fn new(isolator: I) -> Self {
        IsolatorProcess {
            isolator,
            watches: HashMap::new(),
            next_watch: 0,
        }
    }

    /// The hosted isolator (for inspection, e.g. its [`Isolator::containers`]).
    pub fn isolator(&self) -> &I {
        &self.isolator
    }

    /// How many watches are pending, over every container.
    pub fn pending_watches(&self) -> usize {
        self.watches.values().map(HashMap::len).sum()
    }

    /// Aborts the container's pending watches; each then answers `Reply::Discarded`.
    fn discard_watches(&mut self, container: &ContainerId) {
        if let Some(watches) = self.watches.remove(container) {
            tracing::debug!(isolator = self.isolator.name(), %container, count = watches.len(),
                "discarding watches of a cleaned-up container");
            for abort in watches.into_values() {
                abort.abort();
            }
        }
    }

    fn forget_watch(&mut self, container: &ContainerId, key: u64) {
        if let Some(watches) = self.watches.get_mut(container) {
            watches.remove(&key);
            if watches.is_empty() {
                self.watches.remove(container);
            }
        }
    }

    /// Spawns the isolator on `runtime` as `<name with '/' as '-'>-isolator(N)`.
    pub fn spawn(runtime: &Runtime, isolator: I) -> Result<Pid<Self>, libprocess::Error> {
        let id = runtime.generate_id(&actor_prefix(isolator.name()));
        runtime.spawn(id, IsolatorProcess::new(isolator))
    }

    fn start(&mut self, call: Call) -> IsolatorFuture<Reply> {
        use futures::FutureExt;
        let iso = &mut self.isolator;
        match call {
            Call::Recover { states, orphans } => iso
                .recover(states, orphans)
                .map(|r| r.map(|()| Reply::Done))
                .boxed_local(),
            Call::Prepare {
                container_id,
                executor_info,
                directory,
                user,
            } => iso
                .prepare(&container_id, &executor_info, &directory, user.as_deref())
                .map(|r| r.map(Reply::Prepared))
                .boxed_local(),
            Call::Isolate { container_id, pid } => iso
                .isolate(&container_id, pid)
                .map(|r| r.map(|()| Reply::Done))
                .boxed_local(),
            Call::Watch { container_id } => iso
                .watch(&container_id)
                .map(|r| r.map(Reply::Limited))
                .boxed_local(),
            Call::Update {
                container_id,
                resources,
            } => iso
                .update(&container_id, &resources)
                .map(|r| r.map(|()| Reply::Done))
                .boxed_local(),
            Call::Usage { container_id } => iso
                .usage(&container_id)
                .map(|r| r.map(|stats| Reply::Usage(Box::new(stats))))
                .boxed_local(),
            Call::Cleanup { container_id } => iso
                .cleanup(&container_id)
                .map(|r| r.map(|()| Reply::Done))
                .boxed_local(),
        }
    }
}

/// `cgroups/mem` → `cgroups-mem-isolator`.
pub fn actor_prefix(name: &str) -> String {
    format!("{}-isolator", name.replace('/', "-"))
}

impl<I: Isolator> Process for IsolatorProcess<I> {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for kind in CALL_KINDS {
            let name = format!("{MESSAGE_PREFIX}{kind}");
            ctx.install_raw(&name, move |me, ctx, from, body| {
                me.handle(ctx, from, kind, &body);
            });
        }
    }
}

impl<I: Isolator> IsolatorProcess<I> {
    fn handle(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, kind: &str, body: &[u8]) {
        let request: Request = match protocol::decode(body) {
            Ok(r) => r,
            Err(error) => {
                ctx.metrics()
                    .counter("isolator/messages_dropped_invalid")
                    .inc();
                tracing::warn!(%from, kind, %error, "dropping undecodable isolator message");
                return;
            }
        };
        if request.call.kind() != kind {
            tracing::warn!(%from, kind, body_kind = request.call.kind(),
                "dropping isolator message whose body does not match its name");
            return;
        }
        tracing::debug!(isolator = self.isolator.name(), %from, call = kind, id = request.id,
            "isolator call");
        let id = request.id;
        match &request.call {
            Call::Watch { container_id } => {
                let container = container_id.clone();
                self.next_watch += 1;
                let key = self.next_watch;
                let (abort, registration) = AbortHandle::new_pair();
                let future = Abortable::new(self.start(request.call), registration);
                self.watches
                    .entry(container.clone())
                    .or_default()
                    .insert(key, abort);
                ctx.then(future, move |me, ctx, result| {
                    me.forget_watch(&container, key);
                    // Aborted: the container was cleaned up before reaching a limit.
                    let result = result.unwrap_or(Ok(Reply::Discarded));
                    respond(ctx, &from, id, result);
                });
                return;
            }
            Call::Cleanup { container_id } => {
                let container = container_id.clone();
                self.discard_watches(&container);
            }
            _ => {}
        }
        let future = self.start(request.call);
        ctx.then(
            future,
            move |_me, ctx, result: Result<Reply, IsolatorError>| {
                respond(ctx, &from, id, result);
            },
        );
    }
}

fn respond<P: Process>(
    ctx: &mut Ctx<'_, P>,
    to: &Upid,
    id: u64,
    result: Result<Reply, IsolatorError>,
) {
    let response = Response {
        id,
        result: result.map_err(|e| e.to_string()),
    };
    match protocol::encode(&response) {
        Ok(body) => ctx.send_raw(to, RESPONSE, Bytes::from(body)),
        Err(error) => tracing::error!(%error, "cannot encode isolator response"),
    }
}
