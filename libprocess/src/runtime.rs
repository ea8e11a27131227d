//! The runtime (libprocess's `ProcessManager`): registry, local delivery, sending, linking.
//!
//! One runtime is one libprocess instance: one listening `ip:port`, one actix arbiter
//! thread on which its processes, its HTTP server and its outbound connections all run (so
//! a message from the wire to a handler crosses no thread), plus the clock, the filters and
//! the metrics that tests and endpoints use.

use std::collections::HashMap;
use std::net::{SocketAddrV4, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::Actor;
use actix_rt::ArbiterHandle;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::Config;
use crate::encoder::Message;
use crate::filter::{Event, Filters};
use crate::http::{Reply, Request, Response};
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::pid::Upid;
use crate::process::{
    post, Deliver, Exited, HttpCall, Pid, Process, ProcessActor, QueueDepth, Terminate,
};

/// Checks a message body before it is decoded (e.g. proto2 required fields). Given the
/// message's full name and body; an error means the message is dropped.
pub type Validator = fn(&str, &[u8]) -> Result<(), String>;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("failed to start the runtime thread: {0}")]
    Startup(String),
    #[error("a process with id '{0}' already exists")]
    IdInUse(String),
    #[error("process {0} terminated")]
    Terminated(Upid),
}

/// Why a body was not decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Invalid(String),
    #[error("protobuf decode failed: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Type-erased ways to reach a process in the registry.
struct Entry {
    deliver: Box<dyn Fn(Message) -> bool + Send + Sync>,
    http: Box<dyn Fn(HttpCall) -> bool + Send + Sync>,
    exited: Box<dyn Fn(Upid) -> bool + Send + Sync>,
    terminate: Box<dyn Fn() + Send + Sync>,
    /// Local processes that linked this one.
    linkers: Vec<Upid>,
}

pub(crate) struct Inner {
    address: SocketAddrV4,
    pub(crate) arbiter: ArbiterHandle,
    registry: Mutex<HashMap<String, Entry>>,
    ids: Mutex<HashMap<String, u64>>,
    pub(crate) outbound: Outbound,
    filters: Filters,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
    delegate: Mutex<Option<String>>,
    validator: Mutex<Option<Validator>>,
    pub(crate) max_body: usize,
    pub(crate) limits: crate::config::Limits,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// A handle to a running libprocess instance. Cheap to clone.
#[derive(Clone)]
pub struct Runtime(pub(crate) Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Runtime {
    /// Binds the listening socket, starts the runtime thread and its HTTP server.
    pub fn start(config: Config) -> Result<Runtime, Error> {
        let bind = SocketAddrV4::new(config.ip, config.port);
        let listener = TcpListener::bind(bind).map_err(|source| Error::Bind {
            addr: bind.to_string(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Startup(e.to_string()))?
            .port();
        let address = SocketAddrV4::new(
            config.advertised_ip(),
            config.advertise_port.unwrap_or(port),
        );

        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("libprocess-{port}"))
            .spawn(move || {
                crate::abort::mark_runtime_thread();
                let system = actix_rt::System::new();
                let (stop_tx, stop_rx) = oneshot::channel::<()>();
                system.block_on(async move {
                    let _ = tx.send((actix_rt::Arbiter::current(), stop_tx));
                    // The event loop (processes, server, connections) lives until shutdown.
                    let _ = stop_rx.await;
                });
            })
            .map_err(|e| Error::Startup(e.to_string()))?;
        let (arbiter, stop) = rx
            .recv()
            .map_err(|_| Error::Startup("runtime thread died".into()))?;

        let rt = Runtime(Arc::new(Inner {
            address,
            arbiter,
            registry: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
            outbound: Outbound::default(),
            filters: Filters::default(),
            clock: Clock::new(),
            metrics: Metrics::default(),
            delegate: Mutex::new(config.delegate.clone()),
            validator: Mutex::new(None),
            max_body: config.max_body,
            limits: config.limits.clone(),
            stop: Mutex::new(Some(stop)),
        }));
        rt.0.arbiter.spawn(rt.clock().clone().drive());
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Startup(e.to_string()))?;
        let server_rt = rt.clone();
        rt.0.arbiter.spawn_fn(move || {
            actix_rt::spawn(crate::server::serve(server_rt, listener));
        });
        crate::builtin::spawn_builtins(&rt)?;
        tracing::info!(address = %address, "libprocess runtime started");
        Ok(rt)
    }

    /// The advertised `ip:port` of this runtime.
    pub fn address(&self) -> SocketAddrV4 {
        self.0.address
    }

    /// The UPID a process with this id has (or would have) here.
    pub fn upid(&self, id: &str) -> Upid {
        Upid::new(id, self.0.address)
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    pub fn filters(&self) -> &Filters {
        &self.0.filters
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// `prefix(N)`, with N counting from 1 per prefix, like libprocess's `ID::generate`.
    pub fn generate_id(&self, prefix: &str) -> String {
        let mut ids = lock(&self.0.ids);
        let n = ids.entry(prefix.to_string()).or_insert(0);
        *n += 1;
        format!("{prefix}({n})")
    }

    /// Makes `id` serve paths whose first segment is not a process id.
    pub fn set_delegate(&self, id: &str) {
        *lock(&self.0.delegate) = Some(id.to_string());
    }

    /// Installs the body check run before every typed decode.
    pub fn set_validator(&self, validator: Validator) {
        *lock(&self.0.validator) = Some(validator);
    }

    /// Validates and decodes a message body.
    pub fn decode<M: prost::Message + Default>(
        &self,
        name: &str,
        body: &[u8],
    ) -> Result<M, DecodeError> {
        let validator = *lock(&self.0.validator);
        if let Some(check) = validator {
            check(name, body).map_err(DecodeError::Invalid)?;
        }
        Ok(M::decode(body)?)
    }

    /// Starts a process under `id`.
    pub fn spawn<P: Process>(&self, id: impl Into<String>, process: P) -> Result<Pid<P>, Error> {
        let id = id.into();
        let upid = self.upid(&id);
        let mut registry = lock(&self.0.registry);
        if registry.contains_key(&id) {
            return Err(Error::IdInUse(id));
        }
        let rt = self.clone();
        let actor_pid = upid.clone();
        let depth = Arc::new(QueueDepth::default());
        let actor_depth = depth.clone();
        let addr = ProcessActor::start_in_arbiter(&self.0.arbiter, move |actx| {
            // 0 = unbounded: deliveries never fail for a full mailbox (only for a closed one).
            actx.set_mailbox_capacity(0);
            ProcessActor::new(process, actor_pid, rt, actor_depth)
        });
        let pending = self.clock().pending_counter();
        let (a1, a2, a3, a4) = (addr.clone(), addr.clone(), addr.clone(), addr.clone());
        let (p1, p2) = (pending.clone(), pending);
        let (d1, d2) = (depth.clone(), depth.clone());
        registry.insert(
            id,
            Entry {
                deliver: Box::new(move |m| {
                    post(&p1, || {
                        QueueDepth::queue(&d1.messages, || a1.try_send(Deliver(m)).is_ok())
                    })
                }),
                http: Box::new(move |call| {
                    QueueDepth::queue(&d2.http_requests, || a2.try_send(call).is_ok())
                }),
                exited: Box::new(move |pid| post(&p2, || a3.try_send(Exited(pid)).is_ok())),
                terminate: Box::new(move || a4.do_send(Terminate)),
                linkers: Vec::new(),
            },
        );
        Ok(Pid::new(upid, addr, self.clone(), depth))
    }

    /// Asks the process with this id to stop.
    pub fn terminate(&self, id: &str) {
        if let Some(e) = lock(&self.0.registry).get(id) {
            (e.terminate)();
        }
    }

    /// Whether a process with this id is registered.
    pub fn exists(&self, id: &str) -> bool {
        lock(&self.0.registry).contains_key(id)
    }

    pub(crate) fn unregister(&self, pid: &Upid) {
        let linkers = lock(&self.0.registry)
            .remove(&pid.id)
            .map(|e| e.linkers)
            .unwrap_or_default();
        self.0.outbound.forget_linker(pid);
        for linker in linkers {
            self.deliver_exited(&linker, pid.clone());
        }
    }

    fn is_local(&self, to: &Upid) -> bool {
        to.address() == self.0.address
    }

    /// Sends a message: directly to the mailbox if the receiver lives here, else over the
    /// persistent connection to its address.
    pub fn send(&self, from: &Upid, to: &Upid, name: &str, body: Bytes) {
        let message = Message {
            from: from.clone(),
            to: to.clone(),
            name: name.to_string(),
            body,
        };
        if self.is_local(to) {
            self.deliver(message);
        } else {
            self.0.metrics.counter("libprocess/messages_sent").inc();
            self.0.outbound.send(&self.0, message);
        }
    }

    /// Delivers a message to a local process, through the filters. Returns false if no such
    /// process exists.
    pub fn deliver(&self, message: Message) -> bool {
        if !self.exists(&message.to.id) {
            self.0
                .metrics
                .counter("libprocess/messages_dropped_no_process")
                .inc();
            tracing::debug!(to = %message.to, name = %message.name, "no such process");
            return false;
        }
        if self.0.filters.is_active() {
            let rt = self.clone();
            let ev = Event::Message(message.clone());
            let thunk = Box::new(move || {
                rt.deliver_unfiltered(message);
            });
            if let Some(now) = self.0.filters.apply(&ev, thunk) {
                now();
            }
            return true;
        }
        self.deliver_unfiltered(message)
    }

    fn deliver_unfiltered(&self, message: Message) -> bool {
        let registry = lock(&self.0.registry);
        match registry.get(&message.to.id) {
            Some(entry) => (entry.deliver)(message),
            None => false,
        }
    }

    /// Links `linker` (a local process) to `linkee`.
    pub fn link(&self, linker: &Upid, linkee: &Upid) {
        if self.is_local(linkee) {
            let mut registry = lock(&self.0.registry);
            match registry.get_mut(&linkee.id) {
                Some(entry) => {
                    if !entry.linkers.contains(linker) {
                        entry.linkers.push(linker.clone());
                    }
                }
                None => {
                    drop(registry);
                    self.deliver_exited(linker, linkee.clone());
                }
            }
        } else {
            self.0
                .outbound
                .link(&self.0, linker.clone(), linkee.clone());
        }
    }

    pub fn unlink(&self, linker: &Upid, linkee: &Upid) {
        if self.is_local(linkee) {
            if let Some(e) = lock(&self.0.registry).get_mut(&linkee.id) {
                e.linkers.retain(|l| l != linker);
            }
        } else {
            self.0.outbound.unlink(linker, linkee);
        }
    }

    pub(crate) fn deliver_exited(&self, linker: &Upid, linkee: Upid) {
        let registry = lock(&self.0.registry);
        if let Some(entry) = registry.get(&linker.id) {
            tracing::debug!(linker = %linker, linkee = %linkee, "exited");
            (entry.exited)(linkee);
        }
    }

    /// Routes an HTTP request to the process that serves `path`: `/<id>/<endpoint>` if `id`
    /// is a process here, else the delegate with the whole path.
    pub(crate) async fn http(&self, mut request: Request) -> Response {
        let path = request.path.clone();
        if path.split('/').any(|seg| seg == "..") {
            return Response::not_found();
        }
        let trimmed = path.trim_start_matches('/');
        let (first, rest) = match trimmed.split_once('/') {
            Some((f, r)) => (f, format!("/{r}")),
            None => (trimmed, "/".to_string()),
        };
        let first = percent_encoding::percent_decode_str(first)
            .decode_utf8_lossy()
            .into_owned();
        let (id, endpoint) = if !first.is_empty() && self.exists(&first) {
            (first, rest)
        } else {
            match lock(&self.0.delegate).clone() {
                Some(d) => (
                    d,
                    if trimmed.is_empty() {
                        "/".to_string()
                    } else {
                        format!("/{trimmed}")
                    },
                ),
                None => return Response::not_found(),
            }
        };
        let (tx, rx) = oneshot::channel::<Reply>();
        request.rest.clear();
        let sent = {
            let registry = lock(&self.0.registry);
            match registry.get(&id) {
                Some(entry) => (entry.http)(HttpCall {
                    request,
                    endpoint,
                    reply: tx,
                }),
                None => false,
            }
        };
        if !sent {
            return Response::not_found();
        }
        match rx.await {
            Ok(reply) => reply.into_response().await,
            Err(_) => Response::service_unavailable("The process terminated"),
        }
    }

    /// Stops the runtime thread: every process, connection and the server end.
    pub fn shutdown(&self) {
        let ids: Vec<String> = lock(&self.0.registry).keys().cloned().collect();
        for id in ids {
            self.terminate(&id);
        }
        if let Some(stop) = lock(&self.0.stop).take() {
            let _ = stop.send(());
        }
    }
}
