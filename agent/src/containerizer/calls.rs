//! The containerizer's calls as typed messages: one [`Call`] variant per call of the 0.18
//! Containerizer API, each handled by one named handler (`Call::Launch` →
//! `Containerizer::handle_launch`, …). The agent, `/monitor/statistics` and operator views
//! build a call with its constructor, [`send`] it, and await the answer it returned.

use libprocess::{Ctx, Pid};
use mesos_isolators::ContainerId;
use mesos_proto::mesos::{Resource, ResourceStatistics};
use tokio::sync::oneshot;

use super::{Containerizer, ContainerizerError, LaunchSpec, Launched, Phase, Termination};

type Answer<T> = oneshot::Sender<T>;

/// A call to `mesos-containerizer(N)`.
pub enum Call {
    /// Start a container for an executor; answered once it runs isolated, or why not.
    Launch {
        container_id: String,
        spec: Box<LaunchSpec>,
        reply: Answer<Result<Launched, ContainerizerError>>,
    },
    /// Give a container new total resources (tasks joined or left its executor).
    Update {
        container_id: String,
        resources: Vec<Resource>,
        reply: Answer<Result<(), ContainerizerError>>,
    },
    /// A container's `ResourceStatistics`.
    Usage {
        container_id: String,
        reply: Answer<Result<ResourceStatistics, ContainerizerError>>,
    },
    /// A container's termination, once it comes (`None`: unknown container).
    Wait {
        container_id: String,
        reply: Answer<Option<oneshot::Receiver<Termination>>>,
    },
    /// Kill a container and clean it up; its termination goes to its waiters.
    Destroy { container_id: String },
    /// Every container's id.
    Containers { reply: Answer<Vec<String>> },
}

impl Call {
    pub fn launch(
        container_id: impl Into<String>,
        spec: LaunchSpec,
    ) -> (
        Call,
        oneshot::Receiver<Result<Launched, ContainerizerError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let container_id = container_id.into();
        (
            Call::Launch {
                container_id,
                spec: Box::new(spec),
                reply,
            },
            rx,
        )
    }

    pub fn update(
        container_id: impl Into<String>,
        resources: Vec<Resource>,
    ) -> (Call, oneshot::Receiver<Result<(), ContainerizerError>>) {
        let (reply, rx) = oneshot::channel();
        let container_id = container_id.into();
        (
            Call::Update {
                container_id,
                resources,
                reply,
            },
            rx,
        )
    }

    pub fn usage(
        container_id: impl Into<String>,
    ) -> (
        Call,
        oneshot::Receiver<Result<ResourceStatistics, ContainerizerError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let container_id = container_id.into();
        (
            Call::Usage {
                container_id,
                reply,
            },
            rx,
        )
    }

    pub fn wait(
        container_id: impl Into<String>,
    ) -> (
        Call,
        oneshot::Receiver<Option<oneshot::Receiver<Termination>>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let container_id = container_id.into();
        (
            Call::Wait {
                container_id,
                reply,
            },
            rx,
        )
    }

    pub fn destroy(container_id: impl Into<String>) -> Call {
        Call::Destroy {
            container_id: container_id.into(),
        }
    }

    pub fn containers() -> (Call, oneshot::Receiver<Vec<String>>) {
        let (reply, rx) = oneshot::channel();
        (Call::Containers { reply }, rx)
    }

    /// The call's name (for dispatch filters and logs).
    pub fn name(&self) -> &'static str {
        match self {
            Call::Launch { .. } => "launch",
            Call::Update { .. } => "update",
            Call::Usage { .. } => "usage",
            Call::Wait { .. } => "wait",
            Call::Destroy { .. } => "destroy",
            Call::Containers { .. } => "containers",
        }
    }
}

/// Delivers `call` to the containerizer's mailbox (after what is queued there). If the
/// containerizer is gone, the call's answer channel closes.
pub fn send(containerizer: &Pid<Containerizer>, call: Call) {
    containerizer.dispatch(call.name(), move |c, ctx| c.handle(ctx, call));
}

impl Containerizer {
    /// Routes a call to its handler.
    pub fn handle(&mut self, ctx: &mut Ctx<'_, Self>, call: Call) {
        match call {
            Call::Launch {
                container_id,
                spec,
                reply,
            } => self.handle_launch(ctx, container_id, *spec, reply),
            Call::Update {
                container_id,
                resources,
                reply,
            } => self.handle_update(ctx, &container_id, resources, reply),
            Call::Usage {
                container_id,
                reply,
            } => self.handle_usage(ctx, &container_id, reply),
            Call::Wait {
                container_id,
                reply,
            } => {
                let _ = reply.send(self.handle_wait(&container_id));
            }
            Call::Destroy { container_id } => self.handle_destroy(ctx, &container_id),
            Call::Containers { reply } => {
                let _ = reply.send(self.containers());
            }
        }
    }

    /// `Call::Wait`: a receiver of the container's termination (`None`: unknown container).
    fn handle_wait(&mut self, container_id: &str) -> Option<oneshot::Receiver<Termination>> {
        let id = ContainerId::new(container_id).ok()?;
        let c = self.containers.get_mut(&id)?;
        let (tx, rx) = oneshot::channel();
        c.waiters.push(tx);
        Some(rx)
    }

    /// `Call::Update`: every isolator applies the container's new total resources.
    fn handle_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        container_id: &str,
        resources: Vec<Resource>,
        tx: Answer<Result<(), ContainerizerError>>,
    ) {
        let known = ContainerId::new(container_id).ok().filter(|id| {
            self.containers
                .get(id)
                .is_some_and(|c| c.phase != Phase::Destroying)
        });
        let Some(id) = known else {
            let _ = tx.send(Err(ContainerizerError::Unknown(container_id.to_string())));
            return;
        };
        if let Some(c) = self.containers.get_mut(&id) {
            c.resources = resources.clone();
        }
        let handles = self.isolators.clone();
        ctx.then(
            async move {
                for h in &handles {
                    h.update(&id, &resources).await.map_err(|source| {
                        ContainerizerError::Update {
                            isolator: h.name().to_string(),
                            source,
                        }
                    })?;
                }
                Ok(())
            },
            move |_me, _ctx, result: Result<(), ContainerizerError>| {
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "container update failed");
                }
                let _ = tx.send(result);
            },
        );
    }

    /// `Call::Usage`: every isolator's statistics merged, with the limits of the
    /// container's resources where no isolator reports them (as Mesos does).
    fn handle_usage(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        container_id: &str,
        tx: Answer<Result<ResourceStatistics, ContainerizerError>>,
    ) {
        let known = ContainerId::new(container_id)
            .ok()
            .and_then(|id| self.containers.get(&id).map(|c| (id, c.resources.clone())));
        let Some((id, resources)) = known else {
            let _ = tx.send(Err(ContainerizerError::Unknown(container_id.to_string())));
            return;
        };
        let handles = self.isolators.clone();
        ctx.then(
            async move {
                let mut parts = Vec::new();
                for h in &handles {
                    match h.usage(&id).await {
                        Ok(stats) => parts.push(stats),
                        Err(e) => {
                            tracing::debug!(container = %id, isolator = h.name(), error = %e, "no usage")
                        }
                    }
                }
                let mut stats = mesos_isolators::isolator::merge_statistics(&parts);
                if stats.cpus_limit.is_none() {
                    stats.cpus_limit = mesos_isolators::isolator::scalar(&resources, "cpus");
                }
                if stats.mem_limit_bytes.is_none() {
                    stats.mem_limit_bytes = mesos_isolators::isolator::scalar(&resources, "mem")
                        .map(mesos_isolators::isolator::mb_to_bytes);
                }
                if stats.timestamp == 0.0 {
                    stats.timestamp = mesos_isolators::isolator::now_secs();
                }
                stats
            },
            move |_me, _ctx, stats| {
                let _ = tx.send(Ok(stats));
            },
        );
    }
}
