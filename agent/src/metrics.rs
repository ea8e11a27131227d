//! The agent's `slave/*` metrics with genuine 1.11's names (and
//! `slave/executor_directory_max_allowed_age_secs` from the work directory's disk usage).
//!
//! Counters (`slave/tasks_finished`, `slave/valid_status_updates`, ...) are counted where
//! the agent handles the event. Gauges of the agent's state (`slave/tasks_running`,
//! `slave/executors_running`, `slave/cpus_used`, ...) are computed from its state in its
//! mailbox: genuine computes them when the snapshot is read (a deferred call into the
//! agent); here the snapshot is read off the agent's mailbox, so the agent recomputes
//! them every [`REFRESH`] of its clock, and before answering GET_METRICS itself.

use std::time::Duration;

use libprocess::Ctx;
use mesos_proto::mesos::{value, Resource, TaskState};

use crate::slave::{ExecState, RegState, Slave};

/// How often the state gauges are recomputed.
pub const REFRESH: Duration = Duration::from_secs(1);

/// How often the work directory's disk usage is measured (Mesos's `--disk_watch_interval`).
pub const DISK_WATCH_INTERVAL: Duration = Duration::from_secs(60);
/// Mesos's default `--gc_delay` (one week) and `--gc_disk_headroom`, from which
/// `slave/executor_directory_max_allowed_age_secs` follows. This agent deletes no sandbox:
/// the gauge reports the age genuine's policy would allow at the current disk usage.
pub const GC_DELAY_SECS: f64 = 7.0 * 24.0 * 3600.0;
pub const GC_DISK_HEADROOM: f64 = 0.1;

/// Genuine's `executor_directory_max_allowed_age`: the GC delay shrunk by disk usage.
pub fn max_allowed_age_secs(disk_usage: f64) -> f64 {
    GC_DELAY_SECS * (1.0 - GC_DISK_HEADROOM - disk_usage).max(0.0)
}

/// The used share of a filesystem from `df -Pk <path>`'s output (`Used / 1024-blocks`).
pub fn df_usage(output: &str) -> Option<f64> {
    let line = output.lines().nth(1)?;
    let mut fields = line.split_whitespace().skip(1);
    let total: f64 = fields.next()?.parse().ok()?;
    let used: f64 = fields.next()?.parse().ok()?;
    (total > 0.0).then(|| (used / total).clamp(0.0, 1.0))
}

/// Measures the work directory's filesystem (`df`, as the agent's resource detection
/// does; no unsafe `statvfs`). `None` when it cannot be measured.
fn disk_usage(work_dir: &std::path::Path) -> Option<f64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(work_dir)
        .output()
        .ok()?;
    df_usage(&String::from_utf8_lossy(&out.stdout))
}

/// Counters genuine registers at start, all at 0.
pub const COUNTERS: &[&str] = &[
    "slave/recovery_errors",
    "slave/tasks_finished",
    "slave/tasks_failed",
    "slave/tasks_killed",
    "slave/tasks_lost",
    "slave/tasks_gone",
    "slave/executors_terminated",
    "slave/executors_preempted",
    "slave/valid_status_updates",
    "slave/invalid_status_updates",
    "slave/valid_framework_messages",
    "slave/invalid_framework_messages",
    "slave/container_launch_errors",
];

const RESOURCES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// The state gauges' values, computed from the agent's state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StateGauges {
    pub registered: f64,
    pub frameworks_active: f64,
    pub tasks: [f64; 4],
    pub executors: [f64; 3],
    /// `(total, used)` of each of `RESOURCES`, non-revocable then revocable.
    pub resources: [(f64, f64); 4],
    pub revocable: [(f64, f64); 4],
}

/// Adds the scalar amounts of `resources` (revocable or not) into `sums`.
fn add(sums: &mut [f64; 4], resources: &[Resource], revocable: bool) {
    for r in resources {
        if r.revocable.is_some() != revocable || r.r#type != value::Type::Scalar as i32 {
            continue;
        }
        if let (Some(i), Some(s)) = (RESOURCES.iter().position(|n| *n == r.name), &r.scalar) {
            if s.value.is_finite() {
                sums[i] += s.value;
            }
        }
    }
}

fn percent(used: f64, total: f64) -> f64 {
    if total > 0.0 {
        used / total
    } else {
        0.0
    }
}

impl Slave {
    /// The state gauges now.
    pub fn state_gauges(&self) -> StateGauges {
        let mut g = StateGauges {
            registered: f64::from(u8::from(self.state == RegState::Registered)),
            frameworks_active: self.frameworks.len() as f64,
            ..Default::default()
        };
        let (mut total, mut used, mut rev_total, mut rev_used) =
            ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
        add(&mut total, &self.config.resources, false);
        add(&mut rev_total, &self.config.resources, true);
        for ex in self.frameworks.values().flat_map(|f| f.executors.values()) {
            let slot = match ex.state {
                ExecState::Registering => Some(0),
                ExecState::Running => Some(1),
                ExecState::Terminating => Some(2),
                ExecState::Terminated => None,
            };
            let Some(slot) = slot else { continue };
            g.executors[slot] += 1.0;
            add(&mut used, &ex.info.resources, false);
            add(&mut rev_used, &ex.info.resources, true);
            for t in ex.tasks.values() {
                let state = TaskState::try_from(t.state).unwrap_or(TaskState::TaskStaging);
                let i = match state {
                    TaskState::TaskStaging => 0,
                    TaskState::TaskStarting => 1,
                    TaskState::TaskRunning => 2,
                    TaskState::TaskKilling => 3,
                    _ => continue,
                };
                g.tasks[i] += 1.0;
                add(&mut used, &t.resources, false);
                add(&mut rev_used, &t.resources, true);
            }
            for t in &ex.queued {
                g.tasks[0] += 1.0;
                add(&mut used, &t.resources, false);
                add(&mut rev_used, &t.resources, true);
            }
        }
        for i in 0..4 {
            g.resources[i] = (total[i], used[i]);
            g.revocable[i] = (rev_total[i], rev_used[i]);
        }
        g
    }

    /// Writes the state gauges into the runtime's metrics.
    pub(crate) fn publish_gauges(&self, ctx: &Ctx<'_, Self>) {
        let g = self.state_gauges();
        let m = ctx.metrics();
        let set = |name: &str, v: f64| m.gauge(&format!("slave/{name}")).set(v);
        set("registered", g.registered);
        set("frameworks_active", g.frameworks_active);
        for (name, v) in ["staging", "starting", "running", "killing"]
            .iter()
            .zip(g.tasks)
        {
            set(&format!("tasks_{name}"), v);
        }
        for (name, v) in ["registering", "running", "terminating"]
            .iter()
            .zip(g.executors)
        {
            set(&format!("executors_{name}"), v);
        }
        for (i, name) in RESOURCES.iter().enumerate() {
            let (total, used) = g.resources[i];
            set(&format!("{name}_total"), total);
            set(&format!("{name}_used"), used);
            set(&format!("{name}_percent"), percent(used, total));
            let (total, used) = g.revocable[i];
            set(&format!("{name}_revocable_total"), total);
            set(&format!("{name}_revocable_used"), used);
            set(&format!("{name}_revocable_percent"), percent(used, total));
        }
    }

    /// Counts a task reaching a terminal state (`slave/tasks_finished`, ...).
    pub(crate) fn count_terminal_task(&self, ctx: &Ctx<'_, Self>, state: TaskState) {
        let name = match state {
            TaskState::TaskFinished => "finished",
            TaskState::TaskFailed | TaskState::TaskError => "failed",
            TaskState::TaskKilled => "killed",
            TaskState::TaskLost | TaskState::TaskDropped | TaskState::TaskUnreachable => "lost",
            TaskState::TaskGone | TaskState::TaskGoneByOperator => "gone",
            _ => return,
        };
        ctx.metrics().counter(&format!("slave/tasks_{name}")).inc();
    }

    /// Counts a status update from an executor, accepted or refused.
    pub(crate) fn count_status_update(&self, ctx: &Ctx<'_, Self>, valid: bool) {
        let name = if valid { "valid" } else { "invalid" };
        ctx.metrics()
            .counter(&format!("slave/{name}_status_updates"))
            .inc();
    }

    /// Counts a framework message for an executor, delivered or not.
    pub(crate) fn count_framework_message(&self, ctx: &Ctx<'_, Self>, valid: bool) {
        let name = if valid { "valid" } else { "invalid" };
        ctx.metrics()
            .counter(&format!("slave/{name}_framework_messages"))
            .inc();
    }
}

/// Registers the counters and `slave/uptime_secs`, publishes the gauges, and keeps them
/// fresh every [`REFRESH`].
pub(crate) fn install(ctx: &mut Ctx<'_, Slave>) {
    let m = ctx.metrics().clone();
    for name in COUNTERS {
        m.counter(name);
    }
    let clock = ctx.clock().clone();
    let start = clock.now_secs();
    m.gauge_fn("slave/uptime_secs", move || clock.now_secs() - start);
    ctx.me()
        .dispatch("publish_metrics", |me, ctx| me.publish_gauges(ctx));
    refresh_later(ctx);
    ctx.me().dispatch("watch_disk", watch_disk);
}

/// Measures the disk off the mailbox, sets the age gauge, and again after the interval.
fn watch_disk(me: &mut Slave, ctx: &mut Ctx<'_, Slave>) {
    let work_dir = me.config.work_dir.clone();
    ctx.then(
        async move {
            tokio::task::spawn_blocking(move || disk_usage(&work_dir))
                .await
                .ok()
                .flatten()
        },
        |_me, ctx, usage: Option<f64>| {
            match usage {
                Some(usage) => ctx
                    .metrics()
                    .gauge("slave/executor_directory_max_allowed_age_secs")
                    .set(max_allowed_age_secs(usage)),
                None => tracing::warn!("cannot measure the work directory's disk usage"),
            }
            ctx.delay(DISK_WATCH_INTERVAL, "watch_disk", watch_disk);
        },
    );
}

fn refresh_later(ctx: &mut Ctx<'_, Slave>) {
    ctx.delay(REFRESH, "refresh_metrics", |me, ctx| {
        me.publish_gauges(ctx);
        refresh_later(ctx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_directory_age_shrinks_with_disk_usage_as_genuine_computes_it() {
        let df = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                  /dev/vda        263174212 74000000 189174212      29% /\n";
        let usage = df_usage(df).unwrap();
        assert!((usage - 74_000_000.0 / 263_174_212.0).abs() < 1e-9);
        assert_eq!(max_allowed_age_secs(0.0), GC_DELAY_SECS * 0.9);
        assert_eq!(
            max_allowed_age_secs(0.95),
            0.0,
            "past the headroom: no age at all"
        );
        assert!((max_allowed_age_secs(0.4) - GC_DELAY_SECS * 0.5).abs() < 1e-6);
        assert_eq!(df_usage("Filesystem\n"), None);
        assert_eq!(df_usage(""), None);
    }

    #[test]
    fn resource_sums_keep_revocable_apart_and_percent_of_nothing_is_zero() {
        let scalar = |name: &str, v: f64, revocable: bool| Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            revocable: revocable.then(Default::default),
            ..Default::default()
        };
        let rs = [
            scalar("cpus", 2.0, false),
            scalar("cpus", 1.0, true),
            scalar("mem", 64.0, false),
            scalar("gpus", f64::NAN, false),
        ];
        let (mut plain, mut revocable) = ([0.0; 4], [0.0; 4]);
        add(&mut plain, &rs, false);
        add(&mut revocable, &rs, true);
        assert_eq!(plain, [2.0, 64.0, 0.0, 0.0]);
        assert_eq!(revocable, [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(percent(1.0, 4.0), 0.25);
        assert_eq!(percent(1.0, 0.0), 0.0);
    }
}
