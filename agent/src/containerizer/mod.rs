//! The Mesos containerizer (`mesos-containerizer(N)`), following the 0.18 Containerizer API:
//! `recover`, `launch`, `update`, `usage`, `wait`, `destroy`, `containers`.
//!
//! It is the only owner of container lifetime: the agent asks it to launch, update and
//! destroy, and learns of every termination from it; nothing else signals container
//! processes. It composes the posix [`launcher`] (session and process group through the
//! [`spawn`] helper, namespaces through `unshare`, a kill over the process tree) with the
//! isolators selected by `--isolation` (their `cleanup` kills whatever is left in the
//! container's cgroups). Its calls are typed messages ([`Call`], handled by `handle_*`).
//!
//! Launch follows the isolators' contract: prepare every isolator → start the executor held
//! → isolate(pid) on every isolator → release → watch. A limitation from a watch destroys
//! the container and its termination carries the limitation's reason and message. A
//! container is gone (and its waiters answered) only once its executor was reaped and every
//! isolator cleaned up.

mod calls;
pub mod launcher;
pub mod spawn;

use std::collections::HashMap;

use futures::future::{AbortHandle, Abortable};
use libprocess::{Ctx, Process};
use mesos_executors::child::Exit;
use mesos_isolators::{ContainerId, HandleError, IsolatorHandle, LaunchInfo, Limitation};
use mesos_proto::mesos::{task_status, Resource, TaskState};
use tokio::sync::oneshot;

pub use calls::{send, Call};
pub use launcher::{executor_environment, Launch, LaunchError, LaunchSpec};

/// Why a containerizer call failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerizerError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    ContainerId(#[from] mesos_isolators::protocol::InvalidContainerId),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("unknown container {0}")]
    Unknown(String),
    #[error("failed to prepare isolator {isolator}: {source}")]
    Prepare {
        isolator: String,
        source: HandleError,
    },
    #[error("failed to isolate the container with {isolator}: {source}")]
    Isolate {
        isolator: String,
        source: HandleError,
    },
    #[error("cannot release the executor: {0}")]
    Release(std::io::Error),
    #[error("the container was destroyed while it was being launched")]
    DestroyedDuringLaunch,
    #[error("the executor exited before it was released")]
    ExitedDuringLaunch,
    #[error("failed to update isolator {isolator}: {source}")]
    Update {
        isolator: String,
        source: HandleError,
    },
}

/// How a container ended (Mesos's `ContainerTermination`): the executor's wait status, and
/// when the containerizer ended it for a cause (a limitation), that cause's task state,
/// reasons and message, which the agent puts on the executor's tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Termination {
    pub status: Option<Exit>,
    pub state: Option<TaskState>,
    pub reasons: Vec<task_status::Reason>,
    pub message: Option<String>,
}

/// A launched container: the executor's pid and its termination (see also `wait`).
pub struct Launched {
    pub pid: u32,
    pub termination: oneshot::Receiver<Termination>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Launching,
    Running,
    Destroying,
}

struct Container {
    phase: Phase,
    pid: Option<u32>,
    resources: Vec<Resource>,
    waiters: Vec<oneshot::Sender<Termination>>,
    /// The executor's exit once reaped.
    exit: Option<Exit>,
    cleaned: bool,
    /// Asked to go while launching: the launch stops at its next step.
    destroy_requested: bool,
    /// Why the containerizer ended it (state, reasons, message), if it did.
    cause: Option<Termination>,
    /// Cancels the pending watches once the container is gone.
    watches: Vec<AbortHandle>,
}

/// Mesos's metric names: launches that failed, and destroys an isolator could not complete.
pub const LAUNCH_ERRORS: &str = "slave/container_launch_errors";
pub const DESTROY_ERRORS: &str = "containerizer/mesos/container_destroy_errors";

type Reply = oneshot::Sender<Result<Launched, ContainerizerError>>;

/// A launch waiting for recovery to finish.
struct QueuedLaunch {
    id: ContainerId,
    spec: LaunchSpec,
    reply: Reply,
    termination: oneshot::Receiver<Termination>,
}

/// The containerizer process. See the module documentation.
pub struct Containerizer {
    isolators: Vec<IsolatorHandle>,
    containers: HashMap<ContainerId, Container>,
    recovered: bool,
    queued: Vec<QueuedLaunch>,
    /// `--switch_user`: launches keep their user (isolators see it; the executor runs as
    /// it when the agent is root); otherwise it is dropped.
    switch_user: bool,
}

impl Process for Containerizer {
    /// Recovers the isolators first: nothing is checkpointed, so every container (and
    /// cgroup under `--cgroups_root`) an isolator still holds is an orphan to destroy.
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Registered up front so `/metrics/snapshot` shows them at 0.
        ctx.metrics().counter(LAUNCH_ERRORS);
        ctx.metrics().counter(DESTROY_ERRORS);
        let handles = self.isolators.clone();
        ctx.then(
            async move {
                for h in &handles {
                    if let Err(e) = h.recover(Vec::new(), Vec::new()).await {
                        tracing::error!(isolator = h.name(), error = %e, "isolator recovery failed");
                    }
                }
            },
            |me, ctx, ()| {
                me.recovered = true;
                tracing::info!(isolators = me.isolators.len(), "containerizer recovered");
                for q in std::mem::take(&mut me.queued) {
                    me.prepare(ctx, q.id, q.spec, q.reply, q.termination);
                }
            },
        );
    }

    /// Containers do not outlive their containerizer (nothing checkpoints them): their
    /// processes are killed; cgroups left behind are destroyed by the next `recover`.
    fn finalize(&mut self, _ctx: &mut Ctx<'_, Self>) {
        for (id, c) in &self.containers {
            if let Some(pid) = c.pid {
                tracing::info!(container = %id, pid, "containerizer stopping: killing container");
                launcher::kill_tree(pid);
            }
        }
        for h in &self.isolators {
            h.close();
        }
    }
}

impl Containerizer {
    /// A containerizer composing the posix launcher with `isolators` (in `--isolation`
    /// order: prefixes nest, and every call goes to each in turn).
    pub fn new(isolators: Vec<IsolatorHandle>) -> Self {
        Containerizer {
            isolators,
            containers: HashMap::new(),
            recovered: false,
            queued: Vec::new(),
            switch_user: true,
        }
    }

    /// Sets `--switch_user` (default true, as Mesos).
    pub fn switch_user(mut self, on: bool) -> Self {
        self.switch_user = on;
        self
    }

    /// The ids of every container (launching, running or being destroyed): `Call::Containers`.
    pub fn containers(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.containers.keys().map(|c| c.to_string()).collect();
        ids.sort();
        ids
    }

    /// Names of the isolators in use (`/state` flags, logs).
    pub fn isolator_names(&self) -> Vec<String> {
        self.isolators
            .iter()
            .map(|h| h.name().to_string())
            .collect()
    }

    /// `Call::Launch`: answers once the executor runs isolated (or why not).
    pub(super) fn handle_launch(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        container_id: String,
        mut spec: LaunchSpec,
        reply: Reply,
    ) {
        if !self.switch_user {
            spec.user = None;
        }
        let id = match ContainerId::new(container_id) {
            Ok(id) => id,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if self.containers.contains_key(&id) {
            let _ = reply.send(Err(ContainerizerError::Exists(id.to_string())));
            return;
        }
        let (tx, termination) = oneshot::channel();
        self.containers.insert(
            id.clone(),
            Container {
                phase: Phase::Launching,
                pid: None,
                resources: spec.executor.resources.clone(),
                waiters: vec![tx],
                exit: None,
                cleaned: false,
                destroy_requested: false,
                cause: None,
                watches: Vec::new(),
            },
        );
        if self.recovered {
            self.prepare(ctx, id, spec, reply, termination);
        } else {
            self.queued.push(QueuedLaunch {
                id,
                spec,
                reply,
                termination,
            });
        }
    }

    fn prepare(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ContainerId,
        spec: LaunchSpec,
        reply: Reply,
        termination: oneshot::Receiver<Termination>,
    ) {
        let handles = self.isolators.clone();
        let (cid, executor, dir, user) = (
            id.clone(),
            spec.executor.clone(),
            spec.directory.clone(),
            spec.user.clone(),
        );
        let prepared = async move {
            let mut info = LaunchInfo::default();
            for h in &handles {
                match h.prepare(&cid, &executor, &dir, user.as_deref()).await {
                    Ok(Some(more)) => info.merge(more),
                    Ok(None) => {}
                    Err(source) => {
                        return Err(ContainerizerError::Prepare {
                            isolator: h.name().to_string(),
                            source,
                        })
                    }
                }
            }
            Ok(info)
        };
        ctx.then(prepared, move |me, ctx, result| {
            me.prepared(ctx, id, spec, result, reply, termination)
        });
    }

    fn prepared(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ContainerId,
        spec: LaunchSpec,
        result: Result<LaunchInfo, ContainerizerError>,
        reply: Reply,
        termination: oneshot::Receiver<Termination>,
    ) {
        let info = match (result, self.destroy_requested(&id)) {
            (Err(e), _) => return self.launch_failed(ctx, &id, e, reply),
            (Ok(_), true) => {
                return self.launch_failed(
                    ctx,
                    &id,
                    ContainerizerError::DestroyedDuringLaunch,
                    reply,
                )
            }
            (Ok(info), false) => info,
        };
        let held = match launcher::spawn_held(&spec.as_launch(), &info) {
            Ok(held) => held,
            Err(e) => return self.launch_failed(ctx, &id, e.into(), reply),
        };
        let launcher::Held { pid, gate, exit } = held;
        if let Some(c) = self.containers.get_mut(&id) {
            c.pid = Some(pid);
        }
        tracing::debug!(container = %id, pid, namespaces = ?info.namespaces, "executor started held");
        let reaped_id = id.clone();
        ctx.then(exit, move |me, ctx, exit| {
            // A dropped sender means the wait thread failed: report an unknown status.
            let exit = exit.unwrap_or(Exit {
                raw: -1,
                code: None,
                signal: None,
            });
            me.reaped(ctx, &reaped_id, exit)
        });
        let handles = self.isolators.clone();
        let cid = id.clone();
        let isolated = async move {
            for h in &handles {
                h.isolate(&cid, pid)
                    .await
                    .map_err(|source| ContainerizerError::Isolate {
                        isolator: h.name().to_string(),
                        source,
                    })?;
            }
            Ok(())
        };
        ctx.then(
            isolated,
            move |me, ctx, result: Result<(), ContainerizerError>| {
                let mut gate = gate;
                let outcome = match (result, me.containers.get(&id)) {
                    (Err(e), _) => Err(e),
                    (Ok(()), Some(c)) if c.exit.is_some() => {
                        Err(ContainerizerError::ExitedDuringLaunch)
                    }
                    (Ok(()), Some(c)) if c.destroy_requested => {
                        Err(ContainerizerError::DestroyedDuringLaunch)
                    }
                    (Ok(()), _) => gate.release().map_err(ContainerizerError::Release),
                };
                match outcome {
                    Err(e) => me.launch_failed(ctx, &id, e, reply),
                    Ok(()) => me.running(ctx, id, pid, reply, termination),
                }
            },
        );
    }

    fn running(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ContainerId,
        pid: u32,
        reply: Reply,
        termination: oneshot::Receiver<Termination>,
    ) {
        let Some(c) = self.containers.get_mut(&id) else {
            return;
        };
        c.phase = Phase::Running;
        tracing::info!(container = %id, pid, "container running");
        for h in self.isolators.clone() {
            let (abort, registration) = AbortHandle::new_pair();
            c.watches.push(abort);
            let (cid, wid) = (id.clone(), id.clone());
            let name = h.name().to_string();
            let watch = Abortable::new(async move { h.watch(&cid).await }, registration);
            ctx.then(watch, move |me, ctx, result| {
                if let Ok(result) = result {
                    me.limited(ctx, &wid, &name, result);
                }
            });
        }
        if reply.send(Ok(Launched { pid, termination })).is_err() {
            // Nobody waits for this container any more.
            self.handle_destroy(ctx, &id.to_string());
        }
    }

    /// A launch that cannot go on: answer the launcher's caller, then destroy what exists.
    fn launch_failed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &ContainerId,
        error: ContainerizerError,
        reply: Reply,
    ) {
        tracing::warn!(container = %id, %error, "container launch failed");
        ctx.metrics().counter(LAUNCH_ERRORS).inc();
        if let Some(c) = self.containers.get_mut(id) {
            c.cause.get_or_insert_with(|| Termination {
                message: Some(error.to_string()),
                ..Default::default()
            });
            c.phase = Phase::Running;
        }
        let _ = reply.send(Err(error));
        self.start_destroy(ctx, id);
    }

    fn destroy_requested(&self, id: &ContainerId) -> bool {
        self.containers
            .get(id)
            .is_none_or(|c| c.destroy_requested || c.exit.is_some())
    }

    /// An isolator's watch resolved: a limitation (or a failed watch) ends the container.
    fn limited(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &ContainerId,
        isolator: &str,
        result: Result<Limitation, HandleError>,
    ) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        if c.phase != Phase::Running {
            return;
        }
        let cause = match result {
            // Only a cleanup discards a watch; the container is already going.
            Err(HandleError::Discarded { .. }) => return,
            Ok(limitation) => {
                tracing::warn!(container = %id, isolator, reason = ?limitation.reason,
                    message = %limitation.message, "container reached a limit; destroying it");
                Termination {
                    status: None,
                    state: Some(TaskState::TaskFailed),
                    reasons: vec![limitation.reason.task_status_reason()],
                    message: Some(limitation.message),
                }
            }
            Err(e) => {
                tracing::warn!(container = %id, isolator, error = %e, "watch failed; destroying the container");
                Termination {
                    message: Some(format!("Failed to watch the container: {e}")),
                    ..Default::default()
                }
            }
        };
        c.cause.get_or_insert(cause);
        self.start_destroy(ctx, id);
    }

    /// `Call::Destroy`: every process in the container is killed and every isolator cleans
    /// up; its waiters then get its termination. Unknown containers are ignored.
    pub(super) fn handle_destroy(&mut self, ctx: &mut Ctx<'_, Self>, container_id: &str) {
        let Ok(id) = ContainerId::new(container_id) else {
            return;
        };
        let Some(c) = self.containers.get_mut(&id) else {
            return;
        };
        match c.phase {
            Phase::Launching => c.destroy_requested = true,
            Phase::Running => self.start_destroy(ctx, &id),
            Phase::Destroying => {}
        }
    }

    fn start_destroy(&mut self, ctx: &mut Ctx<'_, Self>, id: &ContainerId) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        if c.phase == Phase::Destroying {
            return;
        }
        c.phase = Phase::Destroying;
        if let (Some(pid), None) = (c.pid, c.exit) {
            launcher::kill_tree(pid);
        }
        tracing::info!(container = %id, "destroying container");
        let handles = self.isolators.clone();
        let cid = id.clone();
        let errors = ctx.metrics().counter(DESTROY_ERRORS);
        let cleaned = async move {
            // Every isolator cleans up even if another fails (each call is bounded by its
            // handle's timeout).
            for h in handles.iter().rev() {
                if let Err(e) = h.cleanup(&cid).await {
                    errors.inc();
                    tracing::error!(container = %cid, isolator = h.name(), error = %e,
                        "isolator cleanup failed");
                }
            }
        };
        let id = id.clone();
        ctx.then(cleaned, move |me, _ctx, ()| {
            if let Some(c) = me.containers.get_mut(&id) {
                c.cleaned = true;
            }
            me.maybe_finish(&id);
        });
    }

    /// The executor was reaped. An executor that exited on its own still gets its
    /// container destroyed: leftovers are killed and isolators clean up.
    fn reaped(&mut self, ctx: &mut Ctx<'_, Self>, id: &ContainerId, exit: Exit) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        tracing::debug!(container = %id, status = %exit.describe(), "executor reaped");
        c.exit = Some(exit);
        match c.phase {
            // The launch notices at its next step.
            Phase::Launching => {}
            Phase::Running => self.start_destroy(ctx, id),
            Phase::Destroying => self.maybe_finish(id),
        }
    }

    fn maybe_finish(&mut self, id: &ContainerId) {
        let done = self.containers.get(id).is_some_and(|c| {
            c.phase == Phase::Destroying && c.cleaned && (c.exit.is_some() || c.pid.is_none())
        });
        if !done {
            return;
        }
        let Some(c) = self.containers.remove(id) else {
            return;
        };
        for w in &c.watches {
            w.abort();
        }
        let mut termination = c.cause.unwrap_or_default();
        termination.status = c.exit;
        tracing::info!(container = %id, ?termination, "container terminated");
        for w in c.waiters {
            let _ = w.send(termination.clone());
        }
    }
}

#[cfg(test)]
mod tests;
