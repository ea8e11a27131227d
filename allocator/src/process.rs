//! The allocator as a libprocess process, so the master talks to it by dispatch and never
//! blocks on an allocation run.
//!
//! Allocation happens two ways, as in Mesos: a batch run over every agent each
//! `allocation_interval` (a timer on the runtime clock, so a paused clock controls it), and
//! event-driven runs: a new agent, a new, activated or revived framework, or recovered
//! resources schedule one immediate run, dispatched to the process itself. Events arriving
//! before that run happens are coalesced into it, and it covers only the agents they touched
//! (all agents for framework events). Results go to the callback given at construction.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use libprocess::{Ctx, Pid, Process};

use crate::hierarchical::{Allocation, AllocatorConfig, Explanation, HierarchicalAllocator};
use crate::resources::Resources;

/// Receives each run's allocations (non-empty batches only).
pub type Deliver = Box<dyn Fn(Vec<Allocation>) + Send>;

/// Agents the pending immediate run must cover.
#[derive(Debug, Default)]
enum Candidates {
    #[default]
    None,
    All,
    Some(BTreeSet<String>),
}

/// The allocator process.
pub struct AllocatorProcess {
    core: HierarchicalAllocator,
    deliver: Deliver,
    candidates: Candidates,
    /// An immediate run is queued in the mailbox.
    pending: bool,
    /// When the run about to happen was asked for (`allocation_run_latency`).
    requested: Option<Instant>,
}

impl AllocatorProcess {
    pub fn new(config: AllocatorConfig, deliver: Deliver) -> Self {
        AllocatorProcess {
            core: HierarchicalAllocator::new(config),
            deliver,
            candidates: Candidates::None,
            pending: false,
            requested: None,
        }
    }

    /// The core, for inspection (tests, `/state`-like endpoints via `Pid::call`).
    pub fn core(&self) -> &HierarchicalAllocator {
        &self.core
    }

    fn schedule_batch(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.delay(
            self.core.config().allocation_interval,
            "allocator::batch",
            |me, ctx| {
                me.candidates = Candidates::None;
                me.requested.get_or_insert_with(Instant::now);
                me.run(ctx, None);
                me.schedule_batch(ctx);
            },
        );
    }

    /// Asks for an immediate run covering `agent` (or every agent).
    fn trigger(&mut self, ctx: &mut Ctx<'_, Self>, agent: Option<&str>) {
        self.candidates = match (std::mem::take(&mut self.candidates), agent) {
            (Candidates::All, _) | (_, None) => Candidates::All,
            (Candidates::None, Some(a)) => Candidates::Some(BTreeSet::from([a.to_string()])),
            (Candidates::Some(mut set), Some(a)) => {
                set.insert(a.to_string());
                Candidates::Some(set)
            }
        };
        if !self.pending {
            self.pending = true;
            self.requested.get_or_insert_with(Instant::now);
            ctx.me().dispatch("allocator::allocate_now", |me, ctx| {
                me.pending = false;
                match std::mem::take(&mut me.candidates) {
                    Candidates::None => {}
                    Candidates::All => me.run(ctx, None),
                    Candidates::Some(set) => {
                        let agents: Vec<String> = set.into_iter().collect();
                        me.run(ctx, Some(&agents));
                    }
                }
            });
        }
    }

    fn run(&mut self, ctx: &mut Ctx<'_, Self>, only: Option<&[String]>) {
        let started = Instant::now();
        // Mesos's `allocation_run_latency_ms`: from the request to the run's start (the
        // wait behind the allocator's mailbox).
        if let Some(requested) = self.requested.take() {
            ctx.metrics()
                .timer("allocator/mesos/allocation_run_latency")
                .record(started.saturating_duration_since(requested));
        }
        let allocations = self.core.allocate(ctx.clock().now(), only);
        ctx.metrics()
            .timer("allocator/mesos/allocation_run")
            .record(started.elapsed());
        ctx.metrics()
            .counter("allocator/mesos/allocation_runs")
            .inc();
        if !allocations.is_empty() {
            tracing::debug!(count = allocations.len(), "allocator: offering");
            (self.deliver)(allocations);
        }
    }

    pub fn add_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
        active: bool,
    ) {
        self.core
            .add_framework(framework_id, roles, suppressed_roles, active);
        if active {
            self.trigger(ctx, None);
        }
    }

    pub fn update_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        roles: &[String],
        suppressed: &[String],
    ) {
        self.core.update_framework(framework_id, roles, suppressed);
        self.trigger(ctx, None);
    }

    pub fn remove_framework(&mut self, ctx: &mut Ctx<'_, Self>, framework_id: &str) {
        self.core.remove_framework(framework_id);
        self.trigger(ctx, None);
    }

    pub fn activate_framework(&mut self, ctx: &mut Ctx<'_, Self>, framework_id: &str) {
        self.core.activate_framework(framework_id);
        self.trigger(ctx, None);
    }

    pub fn deactivate_framework(&mut self, framework_id: &str) {
        self.core.deactivate_framework(framework_id);
    }

    pub fn add_agent(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        agent_id: &str,
        total: Resources,
        used: &[(String, Resources)],
    ) {
        self.core.add_agent(agent_id, total, used);
        self.trigger(ctx, Some(agent_id));
    }

    pub fn update_agent(&mut self, ctx: &mut Ctx<'_, Self>, agent_id: &str, total: Resources) {
        self.core.update_agent(agent_id, total);
        self.trigger(ctx, Some(agent_id));
    }

    pub fn remove_agent(&mut self, agent_id: &str) {
        self.core.remove_agent(agent_id);
    }

    pub fn activate_agent(&mut self, ctx: &mut Ctx<'_, Self>, agent_id: &str) {
        self.core.activate_agent(agent_id);
        self.trigger(ctx, Some(agent_id));
    }

    pub fn deactivate_agent(&mut self, agent_id: &str) {
        self.core.deactivate_agent(agent_id);
    }

    pub fn recover(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        agent_id: &str,
        resources: &Resources,
        refuse: Option<Duration>,
    ) {
        let now = ctx.clock().now();
        self.core
            .recover(framework_id, agent_id, resources, refuse, now);
        self.trigger(ctx, Some(agent_id));
    }

    pub fn suppress(&mut self, framework_id: &str, roles: &[String]) {
        self.core.suppress(framework_id, roles);
    }

    pub fn revive(&mut self, ctx: &mut Ctx<'_, Self>, framework_id: &str, roles: &[String]) {
        self.core.revive(framework_id, roles);
        self.trigger(ctx, None);
    }

    pub fn explain(&self, framework_id: &str) -> Explanation {
        self.core.explain(framework_id)
    }
}

impl Process for AllocatorProcess {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Register the metrics at zero so they appear before the first run.
        ctx.metrics().counter("allocator/mesos/allocation_runs");
        ctx.metrics().timer("allocator/mesos/allocation_run");
        ctx.metrics()
            .timer("allocator/mesos/allocation_run_latency");
        // What waits in this process's mailbox, under both names genuine reports it.
        for name in [
            "allocator/event_queue_dispatches",
            "allocator/mesos/event_queue_dispatches",
        ] {
            let depth = ctx.queue_depth();
            ctx.metrics().gauge_fn(name, move || {
                depth.dispatches.load(std::sync::atomic::Ordering::Acquire) as f64
            });
        }
        self.schedule_batch(ctx);
    }
}

/// A cheap, cloneable handle the master uses: every method dispatches to the process.
#[derive(Clone)]
pub struct AllocatorHandle {
    pid: Pid<AllocatorProcess>,
}

impl AllocatorHandle {
    pub fn new(pid: Pid<AllocatorProcess>) -> Self {
        AllocatorHandle { pid }
    }

    pub fn pid(&self) -> &Pid<AllocatorProcess> {
        &self.pid
    }

    pub fn add_framework(
        &self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
        active: bool,
    ) {
        let (id, roles, suppressed) = (
            framework_id.to_string(),
            roles.to_vec(),
            suppressed_roles.to_vec(),
        );
        self.pid
            .dispatch("allocator::add_framework", move |me, ctx| {
                me.add_framework(ctx, &id, &roles, &suppressed, active)
            });
    }

    pub fn update_framework(
        &self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
    ) {
        let (id, roles, suppressed) = (
            framework_id.to_string(),
            roles.to_vec(),
            suppressed_roles.to_vec(),
        );
        self.pid
            .dispatch("allocator::update_framework", move |me, ctx| {
                me.update_framework(ctx, &id, &roles, &suppressed)
            });
    }

    pub fn remove_framework(&self, framework_id: &str) {
        let id = framework_id.to_string();
        self.pid
            .dispatch("allocator::remove_framework", move |me, ctx| {
                me.remove_framework(ctx, &id)
            });
    }

    pub fn activate_framework(&self, framework_id: &str) {
        let id = framework_id.to_string();
        self.pid
            .dispatch("allocator::activate_framework", move |me, ctx| {
                me.activate_framework(ctx, &id)
            });
    }

    pub fn deactivate_framework(&self, framework_id: &str) {
        let id = framework_id.to_string();
        self.pid
            .dispatch("allocator::deactivate_framework", move |me, _| {
                me.deactivate_framework(&id)
            });
    }

    pub fn add_agent(&self, agent_id: &str, total: Resources, used: Vec<(String, Resources)>) {
        let id = agent_id.to_string();
        self.pid.dispatch("allocator::add_agent", move |me, ctx| {
            me.add_agent(ctx, &id, total, &used)
        });
    }

    pub fn update_agent(&self, agent_id: &str, total: Resources) {
        let id = agent_id.to_string();
        self.pid
            .dispatch("allocator::update_agent", move |me, ctx| {
                me.update_agent(ctx, &id, total)
            });
    }

    pub fn remove_agent(&self, agent_id: &str) {
        let id = agent_id.to_string();
        self.pid
            .dispatch("allocator::remove_agent", move |me, _| me.remove_agent(&id));
    }

    pub fn activate_agent(&self, agent_id: &str) {
        let id = agent_id.to_string();
        self.pid
            .dispatch("allocator::activate_agent", move |me, ctx| {
                me.activate_agent(ctx, &id)
            });
    }

    pub fn deactivate_agent(&self, agent_id: &str) {
        let id = agent_id.to_string();
        self.pid
            .dispatch("allocator::deactivate_agent", move |me, _| {
                me.deactivate_agent(&id)
            });
    }

    pub fn recover(
        &self,
        framework_id: &str,
        agent_id: &str,
        resources: Resources,
        refuse: Option<Duration>,
    ) {
        let (fw, agent) = (framework_id.to_string(), agent_id.to_string());
        self.pid.dispatch("allocator::recover", move |me, ctx| {
            me.recover(ctx, &fw, &agent, &resources, refuse)
        });
    }

    pub fn suppress(&self, framework_id: &str, roles: &[String]) {
        let (id, roles) = (framework_id.to_string(), roles.to_vec());
        self.pid
            .dispatch("allocator::suppress", move |me, _| me.suppress(&id, &roles));
    }

    pub fn revive(&self, framework_id: &str, roles: &[String]) {
        let (id, roles) = (framework_id.to_string(), roles.to_vec());
        self.pid.dispatch("allocator::revive", move |me, ctx| {
            me.revive(ctx, &id, &roles)
        });
    }

    pub async fn explain(&self, framework_id: &str) -> Result<Explanation, libprocess::Error> {
        let id = framework_id.to_string();
        self.pid
            .call("allocator::explain", move |me, _| me.explain(&id))
            .await
    }
}

#[cfg(test)]
mod tests;
