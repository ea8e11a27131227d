//! The `Master` process: the state every handler shares, `MasterInfo`, the handler table,
//! metrics, and the reaction to broken links.
//!
//! Handlers live next to the concept they serve (`agents`, `frameworks`, `tasks`, ...) as
//! `impl Master` blocks; this file only wires them up, so it reads as the master's outline.

use std::net::SocketAddrV4;

use libprocess::metrics::{Counter, Gauge};
use libprocess::{Ctx, Pid, Process, Runtime, Upid};
use mesos_proto::mesos::{master_info, Address, MasterInfo};

use crate::agents::Agents;
use crate::allocation::{self, Allocator};
use crate::flags::Flags;
use crate::frameworks::Frameworks;
use crate::offers::Offers;
use crate::StartError;

/// Shortest time between two refreshes of the gauges (`master/tasks_running`, resources, …).
pub const GAUGE_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Gauge refreshes cheaper than this run at once, after every change (see `Master::changed`).
const INLINE_REFRESH_MAX: std::time::Duration = std::time::Duration::from_micros(100);

/// The master's state.
pub struct Master {
    pub(crate) flags: Flags,
    pub(crate) info: MasterInfo,
    pub(crate) start_time: f64,
    pub(crate) agents: Agents,
    pub(crate) frameworks: Frameworks,
    pub(crate) offers: Offers,
    pub(crate) allocator: Allocator,
    pub(crate) metrics: MasterMetrics,
    /// Bumped on every change; `/state` re-snapshots only when it moved.
    pub(crate) generation: u64,
    pub(crate) state_cache: crate::state::Cache,
    /// Election, leader detection and the registrar (`ha`).
    pub(crate) ha: crate::ha::Ha,
    pub(crate) operator_events: crate::operator_events::OperatorEvents,
    /// This process and its clock, to defer the gauge refresh of [`Master::changed`].
    me: Option<(libprocess::Pid<Master>, libprocess::Clock)>,
    /// A gauge refresh is queued.
    refresh_pending: bool,
    /// When the gauges were last refreshed (runtime clock).
    refreshed_at: Option<std::time::Instant>,
    /// How long the last refresh took (real time).
    refresh_cost: std::time::Duration,
}

/// A running master, for `main` and tests.
#[derive(Clone)]
pub struct MasterHandle {
    pub runtime: Runtime,
    pub pid: Pid<Master>,
    pub info: MasterInfo,
}

impl MasterHandle {
    pub fn upid(&self) -> &Upid {
        self.pid.upid()
    }

    /// The advertised address (`ip:port`).
    pub fn address(&self) -> SocketAddrV4 {
        self.runtime.address()
    }

    /// Stops the master and its runtime.
    pub fn shutdown(&self) {
        self.runtime.shutdown();
    }
}

/// `MasterInfo.ip`: the IPv4 `s_addr` (network order) read as a little-endian u32.
pub fn master_info_ip(ip: std::net::Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// Builds the `MasterInfo` for a master at `address` with a fresh random id.
pub fn make_master_info(address: SocketAddrV4, hostname: &str) -> MasterInfo {
    let ip = *address.ip();
    let capabilities = [
        master_info::capability::Type::AgentUpdate,
        master_info::capability::Type::AgentDraining,
        master_info::capability::Type::QuotaV2,
    ]
    .into_iter()
    .map(|t| master_info::Capability {
        r#type: Some(t as i32),
    })
    .collect();
    MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip: master_info_ip(ip),
        port: u32::from(address.port()),
        pid: Some(format!("master@{address}")),
        hostname: Some(hostname.to_string()),
        version: Some(crate::VERSION.to_string()),
        address: Some(Address {
            hostname: Some(hostname.to_string()),
            ip: Some(ip.to_string()),
            port: i32::from(address.port()),
        }),
        domain: None,
        capabilities,
    }
}

/// Spawns the master (and its allocator) in `runtime`.
pub fn spawn(runtime: &Runtime, flags: Flags) -> Result<MasterHandle, StartError> {
    let hostname = flags
        .hostname
        .clone()
        .unwrap_or_else(|| crate::hostname::for_ip(*runtime.address().ip(), flags.hostname_lookup));
    let info = make_master_info(runtime.address(), &hostname);
    let ha = crate::ha::Ha::new(crate::ha::config(&flags)?, runtime)?;
    let cell = allocation::MasterCell::default();
    let allocator = allocation::spawn(runtime, &flags, cell.clone())?;
    let master = Master {
        metrics: MasterMetrics::register(runtime),
        start_time: runtime.clock().now_secs(),
        agents: Agents::default(),
        frameworks: Frameworks::default(),
        offers: Offers::default(),
        allocator,
        generation: 0,
        state_cache: Default::default(),
        operator_events: Default::default(),
        me: None,
        refresh_pending: false,
        refreshed_at: None,
        refresh_cost: std::time::Duration::ZERO,
        info: info.clone(),
        flags,
        ha,
    };
    if !runtime.exists("version") {
        runtime.spawn("version", crate::http::VersionProcess)?;
    }
    let pid = runtime.spawn("master", master)?;
    let _ = cell.set(pid.clone());
    runtime.set_delegate("master");
    tracing::info!(id = %info.id, pid = %pid.upid(), "master started");
    Ok(MasterHandle {
        runtime: runtime.clone(),
        pid,
        info,
    })
}

impl Process for Master {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        crate::agents::install(ctx);
        crate::resource_versions::install(ctx);
        crate::teardown::install(ctx);
        crate::scheduler_v0::install(ctx);
        crate::tasks::install(ctx);
        crate::http::install(ctx);
        crate::operator_endpoints::install(ctx);
        crate::operator_api::install(ctx);
        crate::metrics::install(ctx);
        crate::files::install(ctx);
        crate::scheduler_http::install(ctx);
        crate::webui::install(ctx);
        crate::allocation_explain::install(ctx);
        crate::agent_proxy::install(ctx);
        self.start_registry_gc(ctx);
        crate::ha::start(self, ctx);
        self.me = Some((ctx.me(), ctx.clock().clone()));
        self.changed();
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if let Some(agent_id) = self.agents.by_pid.get(pid).cloned() {
            self.agent_disconnected(ctx, &agent_id);
        }
        if let Some(framework_id) = self.frameworks.by_pid(pid) {
            self.framework_disconnected(ctx, &framework_id);
        }
    }
}

impl Master {
    pub(crate) fn allocator(&mut self) -> &mut Allocator {
        &mut self.allocator
    }

    /// Records that state changed: invalidates the `/state` snapshot, publishes operator
    /// events and queues a refresh of the gauges. The refresh walks every agent and task, so running it
    /// after each message was quadratic (9 s of CPU for 1,000 agents registering and 10,000
    /// tasks starting; BENCHMARKS.md "Cluster"): it runs at most every
    /// [`GAUGE_REFRESH_INTERVAL`] (longer when it is costly), and at once (behind queued messages) when the clock is
    /// paused, so tests that settle the clock see exact gauges. While a refresh costs less than
    /// `INLINE_REFRESH_MAX` (small clusters) it runs inline, so gauges are exact after each change.
    pub(crate) fn changed(&mut self) {
        self.generation += 1;
        // Operator events are a diff of the state: each change must be seen on its own (a
        // framework disconnecting then removed is two events). A no-op without subscribers.
        self.publish_operator_events();
        let Some((me, clock)) = &self.me else {
            self.refresh_gauges();
            return;
        };
        if self.refresh_pending {
            return;
        }
        if self.refresh_cost < INLINE_REFRESH_MAX {
            // A small cluster: refreshing now costs less than the message that changed it,
            // and readers (operators, tests) see exact gauges right after each change.
            let started = std::time::Instant::now();
            self.refresh_gauges();
            self.refresh_cost = started.elapsed();
            self.refreshed_at = self.me.as_ref().map(|(_, clock)| clock.now());
            return;
        }
        self.refresh_pending = true;
        // At least the interval, and ten times the last refresh's cost, apart: the refresh
        // (~50 ms at 100,000 tasks) then takes at most a tenth of the master's time.
        let wait = match self.refreshed_at {
            Some(at) if !clock.is_paused() => GAUGE_REFRESH_INTERVAL
                .max(self.refresh_cost.saturating_mul(10))
                .saturating_sub(clock.now().saturating_duration_since(at)),
            _ => std::time::Duration::ZERO,
        };
        let me = me.clone();
        let refresh = move || {
            me.dispatch("refresh_gauges", |m, ctx| {
                m.refresh_pending = false;
                m.refreshed_at = Some(ctx.clock().now());
                let started = std::time::Instant::now();
                m.refresh_gauges();
                m.refresh_cost = started.elapsed();
            })
        };
        if wait.is_zero() {
            refresh();
        } else {
            clock.schedule(wait, refresh);
        }
    }

    /// Recomputes the gauges (O(agents + tasks)).
    fn refresh_gauges(&mut self) {
        let m = &self.metrics;
        let agents = self.agents.registered.values();
        let (mut active, mut connected, mut total) = (0, 0, 0);
        for a in agents {
            total += 1;
            active += usize::from(a.active);
            connected += usize::from(a.connected);
        }
        m.slaves_active.set(active as f64);
        m.slaves_inactive.set((total - active) as f64);
        m.slaves_connected.set(connected as f64);
        m.slaves_disconnected.set((total - connected) as f64);
        m.slaves_unreachable
            .set(self.agents.unreachable.len() as f64);
        let (mut fa, mut fc, mut ft) = (0, 0, 0);
        let mut counts = [0usize; 16];
        let mut unreachable_tasks = 0;
        for f in self.frameworks.registered.values() {
            ft += 1;
            unreachable_tasks += f.unreachable_tasks.len();
            fa += usize::from(f.active);
            fc += usize::from(f.connected);
            for t in f.tasks.values() {
                if let Some(c) = counts.get_mut(t.state as usize) {
                    *c += 1;
                }
            }
        }
        m.frameworks_active.set(fa as f64);
        m.frameworks_inactive.set((ft - fa) as f64);
        m.frameworks_connected.set(fc as f64);
        m.frameworks_disconnected.set((ft - fc) as f64);
        use mesos_proto::mesos::TaskState as S;
        m.tasks_staging.set(counts[S::TaskStaging as usize] as f64);
        m.tasks_starting
            .set(counts[S::TaskStarting as usize] as f64);
        m.tasks_running.set(counts[S::TaskRunning as usize] as f64);
        m.tasks_killing.set(counts[S::TaskKilling as usize] as f64);
        m.tasks_unreachable
            .set((counts[S::TaskUnreachable as usize] + unreachable_tasks) as f64);
        m.outstanding_offers.set(self.offers.len() as f64);
        self.refresh_resource_metrics();
    }
}

/// Master metrics, with Mesos's names, registered in the runtime's `/metrics/snapshot`.
pub struct MasterMetrics {
    pub elected: Gauge,
    pub slaves_active: Gauge,
    pub slaves_inactive: Gauge,
    pub slaves_connected: Gauge,
    pub slaves_disconnected: Gauge,
    pub slaves_unreachable: Gauge,
    pub frameworks_active: Gauge,
    pub frameworks_inactive: Gauge,
    pub frameworks_connected: Gauge,
    pub frameworks_disconnected: Gauge,
    pub tasks_staging: Gauge,
    pub tasks_starting: Gauge,
    pub tasks_running: Gauge,
    pub tasks_killing: Gauge,
    pub tasks_unreachable: Gauge,
    pub outstanding_offers: Gauge,
    pub slave_registrations: Counter,
    pub slave_reregistrations: Counter,
    pub slave_removals: Counter,
    pub slave_unreachable_scheduled: Counter,
    pub frameworks_registered: Counter,
    pub offers_sent: Counter,
    pub offers_declined: Counter,
    pub offers_accepted: Counter,
    pub offers_rescinded: Counter,
    pub valid_status_updates: Counter,
    pub invalid_status_updates: Counter,
    pub valid_framework_to_executor_messages: Counter,
    pub invalid_framework_to_executor_messages: Counter,
    pub messages_launch_tasks: Counter,
    pub dropped_messages: Counter,
    pub metrics: libprocess::metrics::Metrics,
}

impl MasterMetrics {
    fn register(rt: &Runtime) -> MasterMetrics {
        let m = rt.metrics();
        let g = |n: &str| m.gauge(&format!("master/{n}"));
        let c = |n: &str| m.counter(&format!("master/{n}"));
        // Terminal task counters exist from the start, as in Mesos.
        for state in [
            "finished",
            "failed",
            "killed",
            "lost",
            "error",
            "dropped",
            "gone",
            "gone_by_operator",
        ] {
            c(&format!("tasks_{state}"));
        }
        let start = rt.clock().now_secs();
        let clock = rt.clock().clone();
        m.gauge_fn("master/uptime_secs", move || clock.now_secs() - start);
        MasterMetrics {
            elected: g("elected"),
            slaves_active: g("slaves_active"),
            slaves_inactive: g("slaves_inactive"),
            slaves_connected: g("slaves_connected"),
            slaves_disconnected: g("slaves_disconnected"),
            slaves_unreachable: g("slaves_unreachable"),
            frameworks_active: g("frameworks_active"),
            frameworks_inactive: g("frameworks_inactive"),
            frameworks_connected: g("frameworks_connected"),
            frameworks_disconnected: g("frameworks_disconnected"),
            tasks_staging: g("tasks_staging"),
            tasks_starting: g("tasks_starting"),
            tasks_running: g("tasks_running"),
            tasks_killing: g("tasks_killing"),
            tasks_unreachable: g("tasks_unreachable"),
            outstanding_offers: g("outstanding_offers"),
            slave_registrations: c("slave_registrations"),
            slave_reregistrations: c("slave_reregistrations"),
            slave_removals: c("slave_removals"),
            slave_unreachable_scheduled: c("slave_unreachable_scheduled"),
            frameworks_registered: c("frameworks_registered"),
            offers_sent: c("messages_resource_offers"),
            offers_declined: c("messages_decline_offers"),
            offers_accepted: c("messages_accept_offers"),
            offers_rescinded: c("offers_rescinded"),
            valid_status_updates: c("valid_status_updates"),
            invalid_status_updates: c("invalid_status_updates"),
            valid_framework_to_executor_messages: c("valid_framework_to_executor_messages"),
            invalid_framework_to_executor_messages: c("invalid_framework_to_executor_messages"),
            messages_launch_tasks: c("messages_launch_tasks"),
            dropped_messages: c("dropped_messages"),
            metrics: m.clone(),
        }
    }

    /// Counts a task reaching a terminal state (`master/tasks_finished`, ...).
    pub fn task_terminal(&self, state: mesos_proto::mesos::TaskState) {
        let name = state
            .as_str_name()
            .trim_start_matches("TASK_")
            .to_ascii_lowercase();
        self.metrics.counter(&format!("master/tasks_{name}")).inc();
    }
}
