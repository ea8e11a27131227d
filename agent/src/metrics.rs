//! The agent's `slave/*` metrics with genuine 1.11's names.
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
