//! The Registrar: a libprocess process that owns the registry and serialises its changes.
//!
//! Like genuine Mesos's registrar, operations that arrive while a store is in flight are
//! queued and then applied together, so one store commits a whole batch (a burst of agent
//! registrations costs one write, not one per agent). Every store is a compare-and-swap on
//! the version the registrar last read or wrote; if it fails (another master wrote, or the
//! storage broke) the registrar stops accepting operations: its master must not act on a
//! registry it no longer owns.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use libprocess::metrics::{Gauge, Timer};
use libprocess::{Ctx, Pid, Process, Runtime};
use mesos_proto::mesos::MasterInfo;
use prost::Message as _;
use tokio::sync::oneshot;

use crate::operation::{admitted_ids, Operation, OperationError};
use crate::registry::{Registry, RegistryMaster};
use crate::storage::Storage;

/// Why an operation did not commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    #[error("the registrar has not recovered the registry yet")]
    NotRecovered,
    #[error(transparent)]
    Operation(#[from] OperationError),
    #[error("the registrar stopped: {0}")]
    Failed(String),
    #[error("the registry is corrupt: {0}")]
    Corrupt(String),
    #[error("the registrar process is gone")]
    Terminated,
}

type Reply<T> = oneshot::Sender<Result<T, RegistrarError>>;

enum State {
    Idle,
    Recovering(Vec<Reply<Registry>>),
    Ready {
        registry: Box<Registry>,
        admitted: HashSet<String>,
        version: Option<u64>,
    },
    Failed(String),
}

/// The process (id `registrar`).
pub struct Registrar {
    storage: Arc<dyn Storage>,
    state: State,
    queue: VecDeque<(Operation, Reply<bool>)>,
    storing: bool,
    /// Bumped by `reset`: answers to work started before it are ignored.
    epoch: u64,
    metrics: Option<Metrics>,
}

struct Metrics {
    queued: Gauge,
    size: Gauge,
    fetch: Timer,
    store: Timer,
}

impl Process for Registrar {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        let m = ctx.metrics();
        self.metrics = Some(Metrics {
            queued: m.gauge("registrar/queued_operations"),
            size: m.gauge("registrar/registry_size_bytes"),
            // Rendered as registrar/state_fetch_ms and registrar/state_store_ms (+ percentiles).
            fetch: m.timer("registrar/state_fetch"),
            store: m.timer("registrar/state_store"),
        });
    }
}

impl Registrar {
    fn new(storage: Arc<dyn Storage>) -> Registrar {
        Registrar {
            storage,
            state: State::Idle,
            queue: VecDeque::new(),
            storing: false,
            epoch: 0,
            metrics: None,
        }
    }

    fn set_queued(&self) {
        if let Some(m) = &self.metrics {
            m.queued.set(self.queue.len() as f64);
        }
    }

    fn recover(&mut self, ctx: &mut Ctx<'_, Self>, master: MasterInfo, reply: Reply<Registry>) {
        match &mut self.state {
            State::Ready { registry, .. } => {
                let _ = reply.send(Ok((**registry).clone()));
                return;
            }
            State::Failed(e) => {
                let _ = reply.send(Err(RegistrarError::Failed(e.clone())));
                return;
            }
            State::Recovering(waiting) => {
                waiting.push(reply);
                return;
            }
            State::Idle => self.state = State::Recovering(vec![reply]),
        }
        let started = Instant::now();
        let storage = self.storage.clone();
        let epoch = self.epoch;
        ctx.then(
            storage.fetch(),
            move |this: &mut Registrar, ctx, fetched| {
                if this.epoch != epoch {
                    return;
                }
                if let Some(m) = &this.metrics {
                    m.fetch.record(started.elapsed());
                }
                let entry = match fetched {
                    Ok(e) => e,
                    Err(e) => return this.fail(format!("cannot fetch the registry: {e}")),
                };
                let (mut registry, version) = match entry {
                    None => (Registry::default(), None),
                    Some(entry) => match Registry::decode(entry.data.as_slice()) {
                        Ok(r) => (r, Some(entry.version)),
                        Err(e) => {
                            let reason = format!("version {}: {e}", entry.version);
                            return this.finish_recovery(Err(RegistrarError::Corrupt(reason)));
                        }
                    },
                };
                tracing::info!(
                    storage = this.storage.kind(),
                    ?version,
                    admitted = registry.admitted().len(),
                    unreachable = registry.unreachable().len(),
                    gone = registry.gone().len(),
                    "recovered the registry"
                );
                // Recording ourselves as the master is the first write: it also proves we may
                // write (a stale version fails here, not on the first agent).
                registry.master = Some(RegistryMaster { info: master });
                let bytes = registry.encode_to_vec();
                let started = Instant::now();
                let storage = this.storage.clone();
                ctx.then(
                    storage.store(version, bytes.clone()),
                    move |this: &mut Registrar, ctx, stored| {
                        if this.epoch != epoch {
                            return;
                        }
                        this.record_store(started, bytes.len());
                        match stored {
                            Ok(version) => {
                                let admitted = admitted_ids(&registry);
                                let waiting = std::mem::replace(
                                    &mut this.state,
                                    State::Ready {
                                        registry: Box::new(registry.clone()),
                                        admitted,
                                        version: Some(version),
                                    },
                                );
                                if let State::Recovering(waiting) = waiting {
                                    for w in waiting {
                                        let _ = w.send(Ok(registry.clone()));
                                    }
                                }
                                this.update(ctx);
                            }
                            Err(e) => {
                                this.fail(format!("cannot store the recovered registry: {e}"))
                            }
                        }
                    },
                );
            },
        );
    }

    fn finish_recovery(&mut self, result: Result<Registry, RegistrarError>) {
        let waiting = match &mut self.state {
            State::Recovering(w) => std::mem::take(w),
            _ => Vec::new(),
        };
        if result.is_err() {
            self.state = State::Idle;
            for (_, reply) in self.queue.drain(..) {
                let _ = reply.send(Err(RegistrarError::NotRecovered));
            }
            self.set_queued();
        }
        for w in waiting {
            let _ = w.send(result.clone());
        }
    }

    fn record_store(&self, started: Instant, size: usize) {
        if let Some(m) = &self.metrics {
            m.store.record(started.elapsed());
            m.size.set(size as f64);
        }
    }

    /// Forgets the registry (the master lost leadership): pending work fails, and the next
    /// `recover` reads the store again, since another master may have written it.
    fn reset(&mut self) {
        self.epoch += 1;
        let err = RegistrarError::Failed("the registrar was reset (leadership lost)".into());
        if let State::Recovering(w) = &mut self.state {
            for w in std::mem::take(w) {
                let _ = w.send(Err(err.clone()));
            }
        }
        for (_, reply) in self.queue.drain(..) {
            let _ = reply.send(Err(err.clone()));
        }
        self.set_queued();
        self.storing = false;
        self.state = State::Idle;
    }

    /// The registrar can no longer write: answer everyone with the reason.
    fn fail(&mut self, reason: String) {
        tracing::error!(%reason, "registrar failed; no further registry operations");
        let err = RegistrarError::Failed(reason.clone());
        if let State::Recovering(w) = &mut self.state {
            for w in std::mem::take(w) {
                let _ = w.send(Err(err.clone()));
            }
        }
        self.state = State::Failed(reason);
        for (_, reply) in self.queue.drain(..) {
            let _ = reply.send(Err(err.clone()));
        }
        self.set_queued();
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, op: Operation, reply: Reply<bool>) {
        match &self.state {
            State::Failed(e) => {
                let _ = reply.send(Err(RegistrarError::Failed(e.clone())));
            }
            State::Idle => {
                let _ = reply.send(Err(RegistrarError::NotRecovered));
            }
            State::Recovering(_) | State::Ready { .. } => {
                self.queue.push_back((op, reply));
                self.set_queued();
                self.update(ctx);
            }
        }
    }

    /// Applies every queued operation to a copy of the registry and stores it once.
    fn update(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.storing || self.queue.is_empty() {
            return;
        }
        let State::Ready {
            registry,
            admitted,
            version,
        } = &self.state
        else {
            return;
        };
        let mut next = registry.clone();
        let mut next_admitted = admitted.clone();
        let expected = *version;
        let batch: Vec<(Operation, Reply<bool>)> = self.queue.drain(..).collect();
        self.set_queued();
        let mut results = Vec::with_capacity(batch.len());
        let mut mutated = false;
        for (op, _) in &batch {
            let r = op.apply(&mut next, &mut next_admitted);
            if let Err(e) = &r {
                tracing::debug!(operation = op.name(), error = %e, "registry operation refused");
            }
            mutated |= matches!(r, Ok(true));
            results.push(r);
        }
        if !mutated {
            for ((_, reply), r) in batch.into_iter().zip(results) {
                let _ = reply.send(r.map_err(RegistrarError::from));
            }
            return;
        }
        self.storing = true;
        let bytes = next.encode_to_vec();
        let size = bytes.len();
        let started = Instant::now();
        let storage = self.storage.clone();
        tracing::debug!(
            operations = batch.len(),
            bytes = size,
            "storing the registry"
        );
        let epoch = self.epoch;
        ctx.then(
            storage.store(expected, bytes),
            move |this: &mut Registrar, ctx, stored| {
                if this.epoch != epoch {
                    let reason = "the registrar was reset during the store".to_string();
                    for (_, reply) in batch {
                        let _ = reply.send(Err(RegistrarError::Failed(reason.clone())));
                    }
                    return;
                }
                this.storing = false;
                this.record_store(started, size);
                match stored {
                    Ok(version) => {
                        this.state = State::Ready {
                            registry: next,
                            admitted: next_admitted,
                            version: Some(version),
                        };
                        for ((_, reply), r) in batch.into_iter().zip(results) {
                            let _ = reply.send(r.map_err(RegistrarError::from));
                        }
                        this.update(ctx);
                    }
                    Err(e) => {
                        let reason = format!("cannot store the registry: {e}");
                        for (_, reply) in batch {
                            let _ = reply.send(Err(RegistrarError::Failed(reason.clone())));
                        }
                        this.fail(reason);
                    }
                }
            },
        );
    }
}

/// A handle to a running registrar.
#[derive(Clone)]
pub struct RegistrarHandle {
    pid: Pid<Registrar>,
}

impl RegistrarHandle {
    /// Spawns the `registrar` process on `runtime`.
    pub fn spawn(
        runtime: &Runtime,
        storage: Arc<dyn Storage>,
    ) -> Result<RegistrarHandle, libprocess::Error> {
        Ok(RegistrarHandle {
            pid: runtime.spawn("registrar", Registrar::new(storage))?,
        })
    }

    /// Fetches the registry, records `master` as its master and stores it; the registry as
    /// recovered. Operations are accepted (queued) from the moment recovery starts.
    pub async fn recover(&self, master: MasterInfo) -> Result<Registry, RegistrarError> {
        let (tx, rx) = oneshot::channel();
        self.pid
            .dispatch("recover", move |r, ctx| r.recover(ctx, master, tx));
        rx.await.unwrap_or(Err(RegistrarError::Terminated))
    }

    /// Applies `op`; resolves once it is committed: `Ok(true)` if it changed the registry,
    /// `Ok(false)` for a no-op.
    pub async fn apply(&self, op: Operation) -> Result<bool, RegistrarError> {
        let (tx, rx) = oneshot::channel();
        self.pid
            .dispatch("apply", move |r, ctx| r.apply(ctx, op, tx));
        rx.await.unwrap_or(Err(RegistrarError::Terminated))
    }

    /// The committed registry (after recovery).
    pub async fn registry(&self) -> Result<Registry, RegistrarError> {
        self.pid
            .call("registry", |r, _| match &r.state {
                State::Ready { registry, .. } => Ok((**registry).clone()),
                State::Failed(e) => Err(RegistrarError::Failed(e.clone())),
                _ => Err(RegistrarError::NotRecovered),
            })
            .await
            .unwrap_or(Err(RegistrarError::Terminated))
    }

    /// Drops the recovered registry and fails pending operations (see `Registrar::reset`).
    pub fn reset(&self) {
        self.pid.dispatch("reset", |r, _| r.reset());
    }

    pub fn terminate(&self) {
        self.pid.terminate();
    }
}
