//! [`IsolatorHandle`]: how the containerizer talks to an isolator, in-process or external,
//! always by UPID and always through the same messages.
//!
//! Each handle owns a small client actor (`isolator-client(N)`) that numbers requests,
//! matches responses by id, and fails a call with [`HandleError::Timeout`] when no answer
//! arrives in time (timers run on the libprocess clock, so tests advance a paused clock
//! instead of sleeping) or [`HandleError::Disconnected`] when the link to the isolator
//! breaks. `watch` has no timeout: it is answered only when a limit is reached, or
//! discarded ([`HandleError::Discarded`]) once its container is cleaned up: starting a
//! `cleanup` drops the container's watches from the client at once, so a finished
//! container leaves no entry behind even if the isolator never answers its watch.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Ctx, Pid, Process, Runtime, TimerId, Upid};
use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};
use tokio::sync::oneshot;

use crate::isolator::Isolator;
use crate::process::IsolatorProcess;
use crate::protocol::{
    self, Call, ContainerId, ContainerState, LaunchInfo, Limitation, Reply, Request, Response,
    RESPONSE,
};

/// Default time an isolator has to answer a call (Mesos has no such bound for in-process
/// isolators; an external one may hang, and the container must not hang with it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call through a handle failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandleError {
    #[error("isolator {isolator} did not answer {call} within {after:?}")]
    Timeout {
        isolator: Upid,
        call: &'static str,
        after: Duration,
    },
    #[error("isolator {isolator} failed {call}: {message}")]
    Isolator {
        isolator: Upid,
        call: &'static str,
        message: String,
    },
    #[error("lost the connection to isolator {isolator} during {call}")]
    Disconnected { isolator: Upid, call: &'static str },
    #[error("isolator {isolator} answered {call} with an unexpected reply")]
    UnexpectedReply { isolator: Upid, call: &'static str },
    #[error("cannot encode {call} for isolator {isolator}: {message}")]
    Encode {
        isolator: Upid,
        call: &'static str,
        message: String,
    },
    #[error("the watch of container {container} at isolator {isolator} was discarded: the container was cleaned up")]
    Discarded {
        isolator: Upid,
        container: ContainerId,
    },
    #[error("the isolator client process terminated")]
    ClientGone,
    #[error("cannot start the isolator client: {0}")]
    Spawn(String),
}

type Waiter = oneshot::Sender<Result<Reply, HandleError>>;

struct Outstanding {
    call: &'static str,
    waiter: Waiter,
    timer: Option<TimerId>,
    /// For a `Watch`: its container, so a `cleanup` of that container can discard it.
    watching: Option<ContainerId>,
}

/// The client actor behind a handle.
pub struct IsolatorClient {
    target: Upid,
    next_id: u64,
    linked: bool,
    outstanding: HashMap<u64, Outstanding>,
}

impl Process for IsolatorClient {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw(RESPONSE, |me, ctx, from, body| {
            me.answered(ctx, from, &body)
        });
    }

    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if *pid != self.target {
            return;
        }
        tracing::warn!(isolator = %self.target, outstanding = self.outstanding.len(),
            "lost the isolator");
        self.linked = false;
        for (_, o) in self.outstanding.drain() {
            let _ = o.waiter.send(Err(HandleError::Disconnected {
                isolator: self.target.clone(),
                call: o.call,
            }));
        }
    }
}

impl IsolatorClient {
    fn start(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        call: Call,
        timeout: Option<Duration>,
        waiter: Waiter,
    ) {
        let kind = call.kind();
        let name = call.message_name();
        let watching = match &call {
            Call::Watch { container_id } => Some(container_id.clone()),
            Call::Cleanup { container_id } => {
                self.discard_watches(container_id);
                None
            }
            _ => None,
        };
        self.next_id += 1;
        let id = self.next_id;
        let body = match protocol::encode(&Request { id, call }) {
            Ok(body) => body,
            Err(e) => {
                let _ = waiter.send(Err(HandleError::Encode {
                    isolator: self.target.clone(),
                    call: kind,
                    message: e.to_string(),
                }));
                return;
            }
        };
        if !self.linked {
            ctx.link(&self.target);
            self.linked = true;
        }
        let timer = timeout.map(|after| {
            ctx.delay(
                after,
                "isolator-call-timeout",
                move |me: &mut Self, _ctx| {
                    if let Some(o) = me.outstanding.remove(&id) {
                        tracing::warn!(isolator = %me.target, call = o.call, ?after,
                        "isolator call timed out");
                        let _ = o.waiter.send(Err(HandleError::Timeout {
                            isolator: me.target.clone(),
                            call: o.call,
                            after,
                        }));
                    }
                },
            )
        });
        self.outstanding.insert(
            id,
            Outstanding {
                call: kind,
                waiter,
                timer,
                watching,
            },
        );
        ctx.send_raw(&self.target, &name, Bytes::from(body));
    }

    /// Ends the container's outstanding watches with [`HandleError::Discarded`] (Mesos
    /// discards the watch of a cleaned-up container); a later answer finds no entry.
    fn discard_watches(&mut self, container: &ContainerId) {
        let ids: Vec<u64> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.watching.as_ref() == Some(container))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(o) = self.outstanding.remove(&id) {
                let _ = o.waiter.send(Err(HandleError::Discarded {
                    isolator: self.target.clone(),
                    container: container.clone(),
                }));
            }
        }
    }

    fn answered(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, body: &[u8]) {
        if from != self.target {
            tracing::warn!(%from, isolator = %self.target, "dropping isolator response from another process");
            return;
        }
        let response: Response = match protocol::decode(body) {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%from, %error, "dropping undecodable isolator response");
                return;
            }
        };
        let Some(o) = self.outstanding.remove(&response.id) else {
            tracing::debug!(%from, id = response.id, "response to no outstanding call");
            return;
        };
        if let Some(timer) = o.timer {
            ctx.cancel(timer);
        }
        let result = match (response.result, o.watching) {
            (Ok(Reply::Discarded), Some(container)) => Err(HandleError::Discarded {
                isolator: self.target.clone(),
                container,
            }),
            (result, _) => result.map_err(|message| HandleError::Isolator {
                isolator: self.target.clone(),
                call: o.call,
                message,
            }),
        };
        let _ = o.waiter.send(result);
    }
}

/// A client of one isolator. Cheap to clone; clones share the client actor.
#[derive(Clone)]
pub struct IsolatorHandle {
    name: String,
    client: Pid<IsolatorClient>,
    timeout: Duration,
}

impl IsolatorHandle {
    /// A handle to the isolator at `target` (in this runtime or another OS process).
    pub fn connect(
        runtime: &Runtime,
        name: impl Into<String>,
        target: Upid,
        timeout: Duration,
    ) -> Result<Self, HandleError> {
        let client = IsolatorClient {
            target,
            next_id: 0,
            linked: false,
            outstanding: HashMap::new(),
        };
        let id = runtime.generate_id("isolator-client");
        let client = runtime
            .spawn(id, client)
            .map_err(|e| HandleError::Spawn(e.to_string()))?;
        Ok(IsolatorHandle {
            name: name.into(),
            client,
            timeout,
        })
    }

    /// Spawns `isolator` as an actor on `runtime` and returns a handle to it.
    pub fn spawn_local<I: Isolator>(
        runtime: &Runtime,
        isolator: I,
        timeout: Duration,
    ) -> Result<Self, HandleError> {
        let name = isolator.name().to_string();
        let pid = IsolatorProcess::spawn(runtime, isolator)
            .map_err(|e| HandleError::Spawn(e.to_string()))?;
        IsolatorHandle::connect(runtime, name, pid.upid().clone(), timeout)
    }

    /// The isolator's Mesos name (`cgroups/mem`) or, for external ones, its UPID.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many calls wait for an answer (pending watches included).
    pub async fn outstanding(&self) -> Result<usize, HandleError> {
        self.client
            .call("isolator-outstanding", |me, _| me.outstanding.len())
            .await
            .map_err(|_| HandleError::ClientGone)
    }

    /// Stops the client actor; outstanding calls fail with [`HandleError::ClientGone`].
    pub fn close(&self) {
        self.client.terminate();
    }

    async fn call(&self, call: Call, timeout: Option<Duration>) -> Result<Reply, HandleError> {
        let (tx, rx) = oneshot::channel();
        self.client
            .call("isolator-call", move |me, ctx| {
                me.start(ctx, call, timeout, tx)
            })
            .await
            .map_err(|_| HandleError::ClientGone)?;
        rx.await.map_err(|_| HandleError::ClientGone)?
    }

    async fn expect_done(&self, call: Call) -> Result<(), HandleError> {
        let kind = call.kind();
        match self.call(call, Some(self.timeout)).await? {
            Reply::Done => Ok(()),
            _ => Err(self.unexpected(kind).await),
        }
    }

    async fn unexpected(&self, call: &'static str) -> HandleError {
        let isolator = self
            .client
            .call("isolator-target", |me, _| me.target.clone())
            .await
            .unwrap_or_else(|_| self.client.upid().clone());
        HandleError::UnexpectedReply { isolator, call }
    }

    pub async fn recover(
        &self,
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    ) -> Result<(), HandleError> {
        self.expect_done(Call::Recover { states, orphans }).await
    }

    pub async fn prepare(
        &self,
        container_id: &ContainerId,
        executor_info: &ExecutorInfo,
        directory: &Path,
        user: Option<&str>,
    ) -> Result<Option<LaunchInfo>, HandleError> {
        let call = Call::Prepare {
            container_id: container_id.clone(),
            executor_info: Box::new(executor_info.clone()),
            directory: directory.to_path_buf(),
            user: user.map(str::to_string),
        };
        match self.call(call, Some(self.timeout)).await? {
            Reply::Prepared(info) => Ok(info),
            _ => Err(self.unexpected("Prepare").await),
        }
    }

    pub async fn isolate(&self, container_id: &ContainerId, pid: u32) -> Result<(), HandleError> {
        self.expect_done(Call::Isolate {
            container_id: container_id.clone(),
            pid,
        })
        .await
    }

    /// Resolves when the isolator reports a limitation (no timeout), or fails with
    /// [`HandleError::Discarded`] once the container is cleaned up.
    pub async fn watch(&self, container_id: &ContainerId) -> Result<Limitation, HandleError> {
        let call = Call::Watch {
            container_id: container_id.clone(),
        };
        match self.call(call, None).await? {
            Reply::Limited(limitation) => Ok(limitation),
            _ => Err(self.unexpected("Watch").await),
        }
    }

    pub async fn update(
        &self,
        container_id: &ContainerId,
        resources: &[Resource],
    ) -> Result<(), HandleError> {
        self.expect_done(Call::Update {
            container_id: container_id.clone(),
            resources: resources.to_vec(),
        })
        .await
    }

    pub async fn usage(
        &self,
        container_id: &ContainerId,
    ) -> Result<ResourceStatistics, HandleError> {
        let call = Call::Usage {
            container_id: container_id.clone(),
        };
        match self.call(call, Some(self.timeout)).await? {
            Reply::Usage(stats) => Ok(*stats),
            _ => Err(self.unexpected("Usage").await),
        }
    }

    pub async fn cleanup(&self, container_id: &ContainerId) -> Result<(), HandleError> {
        self.expect_done(Call::Cleanup {
            container_id: container_id.clone(),
        })
        .await
    }
}
