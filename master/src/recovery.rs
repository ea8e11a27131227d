//! What a newly elected master does with the registry it recovered (as Mesos's
//! `_recover` / `recoveredSlavesTimeout` / `reregisterSlave`).
//!
//! Every agent the registry admits may re-register for `--agent_reregister_timeout`; those
//! that have not by then are marked unreachable through the registrar, one at a time and at
//! most as fast as `--agent_removal_rate_limit` allows (all at once when unset), and the
//! frameworks are told they are lost. An agent this master does not have re-registers only
//! after the registrar commits `MarkSlaveReachable` (an unreachable or unknown agent becomes
//! admitted again; a no-op, with no store, for an admitted one), so the registry never
//! lists as unreachable an agent that runs under a master.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::ReregisterSlaveMessage;
use mesos_proto::mesos::{SlaveId, SlaveInfo, TimeInfo};
use mesos_registrar::{Operation, Registry};

use crate::master::Master;

/// `--agent_removal_rate_limit`: `<permits>/<duration>`, e.g. `1/10mins`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub permits: u32,
    pub per: Duration,
}

impl RateLimit {
    /// The spacing between two removals.
    pub fn interval(&self) -> Duration {
        self.per / self.permits
    }
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (permits, per) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not <permits>/<duration> (e.g. 1/10mins)"))?;
        let permits: u32 = permits
            .trim()
            .parse()
            .map_err(|_| format!("'{permits}' is not a number of permits"))?;
        if permits == 0 {
            return Err("the number of permits must be positive".into());
        }
        let per = libprocess::duration::parse(per.trim()).map_err(|e| e.to_string())?;
        if per.is_zero() {
            return Err("the duration must be positive".into());
        }
        Ok(RateLimit { permits, per })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.permits,
            libprocess::duration::format(self.per)
        )
    }
}

/// `--recovery_agent_removal_limit`: the largest share of the recovered registry's agents
/// a new leader may mark unreachable after `--agent_reregister_timeout` (`0%`..`100%`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RemovalLimit {
    /// 0.0..=1.0.
    pub fraction: f64,
}

impl std::str::FromStr for RemovalLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = s.trim().strip_suffix('%').unwrap_or(s.trim());
        let percent: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a percentage (e.g. 100%)"))?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("'{s}' is not within [0%-100%]"));
        }
        Ok(RemovalLimit {
            fraction: percent / 100.0,
        })
    }
}

impl std::fmt::Display for RemovalLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.fraction * 100.0)
    }
}

/// The recovery state of one leadership (reset on demotion).
#[derive(Default)]
pub(crate) struct Recovery {
    /// Bumped on every recovery and demotion, so timers of an earlier one do nothing.
    generation: u64,
    /// Admitted by the recovered registry and not re-registered yet.
    recovered: HashMap<String, SlaveInfo>,
    /// How many agents the recovered registry admitted.
    admitted: usize,
    /// Waiting for their turn under the rate limit.
    queue: VecDeque<SlaveInfo>,
    /// Agents whose re-registration waits for `MarkSlaveReachable`.
    reregistering: HashSet<String>,
    /// Agents whose re-registration was just committed (let through once).
    committed: HashSet<String>,
    /// Recovered agents being marked unreachable (their re-registrations are dropped).
    marking: HashSet<String>,
}

impl Recovery {
    /// Forgets this leadership's recovery (the master no longer leads).
    pub(crate) fn reset(&mut self) {
        let generation = self.generation + 1;
        *self = Recovery {
            generation,
            ..Recovery::default()
        };
    }

    /// Which leadership this is: callbacks of an earlier one compare it and do nothing.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The agents still expected to re-register.
    pub(crate) fn awaited(&self) -> usize {
        self.recovered.len()
    }

    /// Their SlaveInfos (`recovered_slaves` in `/master/state`, `recovered_agents` in
    /// GET_AGENTS), by id.
    pub(crate) fn awaited_infos(&self) -> Vec<SlaveInfo> {
        let mut infos: Vec<(&String, &SlaveInfo)> = self.recovered.iter().collect();
        infos.sort_by(|a, b| a.0.cmp(b.0));
        infos.into_iter().map(|(_, i)| i.clone()).collect()
    }
}

impl Master {
    /// How many recovered agents this leader still expects to re-register.
    pub fn awaited_agents(&self) -> usize {
        self.ha.recovery.awaited()
    }
}

/// Called once the registry is recovered: start waiting for its agents.
pub(crate) fn recovered(m: &mut Master, ctx: &mut Ctx<'_, Master>, registry: &Registry) {
    // (Not reset here: re-registrations already being committed belong to this leadership;
    // a demotion resets it.)
    let generation = m.ha.recovery.generation;
    m.ha.recovery.admitted = registry.admitted().len();
    // As Mesos: the registry's unreachable agents, with the time they became so.
    for u in registry.unreachable() {
        let since = u.timestamp.nanoseconds as f64 / 1e9;
        m.agents.unreachable.insert(u.id.value.clone(), since);
    }
    m.changed();
    for slave in registry.admitted() {
        let Some(id) = slave.info.id.as_ref().map(|i| i.value.clone()) else {
            continue;
        };
        if !m.agents.registered.contains_key(&id) {
            m.ha.recovery.recovered.insert(id, slave.info.clone());
        }
    }
    let timeout = m.flags.agent_reregister_timeout.0;
    tracing::info!(
        agents = m.ha.recovery.recovered.len(),
        timeout = %libprocess::duration::format(timeout),
        "waiting for the recovered agents to re-register"
    );
    if m.ha.recovery.recovered.is_empty() {
        return;
    }
    ctx.delay(timeout, "agent-reregister-timeout", move |m, ctx| {
        if m.ha.recovery.generation != generation || !m.ha.is_leading() {
            return;
        }
        if removal_limit_exceeded(m) {
            crate::ha::step_down(m, ctx, "too many recovered agents did not re-register");
            return;
        }
        let mut late: Vec<SlaveInfo> = m.ha.recovery.recovered.values().cloned().collect();
        late.sort_by(|a, b| {
            let id = |s: &SlaveInfo| s.id.as_ref().map(|i| i.value.clone());
            id(a).cmp(&id(b))
        });
        for info in &late {
            tracing::warn!(agent = ?info.id.as_ref().map(|i| &i.value), hostname = %info.hostname,
                "agent did not re-register after the master failover: marking it unreachable");
        }
        for _ in &late {
            m.metrics.slave_unreachable_scheduled.inc();
        }
        m.ha.recovery.queue.extend(late);
        remove_next(m, ctx, generation);
    });
}

/// Whether more of the registry's agents than `--recovery_agent_removal_limit` allows would
/// be marked unreachable now (as Mesos checks before removing any). A genuine master exits
/// then, so that another one takes over and waits again; see `ha::step_down`.
fn removal_limit_exceeded(m: &Master) -> bool {
    let missing = m.ha.recovery.recovered.len();
    let admitted = m.ha.recovery.admitted.max(1);
    let share = missing as f64 / admitted as f64;
    let limit = m.flags.recovery_agent_removal_limit;
    if share <= limit.fraction {
        return false;
    }
    let mut ids: Vec<&String> = m.ha.recovery.recovered.keys().collect();
    ids.sort();
    tracing::error!(
        missing,
        admitted = m.ha.recovery.admitted,
        share = %format!("{:.1}%", share * 100.0),
        limit = %limit,
        agents = ?ids,
        timeout = %libprocess::duration::format(m.flags.agent_reregister_timeout.0),
        "post-recovery agent removal limit exceeded: not marking any agent unreachable; \
         investigate, or raise --recovery_agent_removal_limit to proceed"
    );
    true
}

/// Marks the next queued agent unreachable; with a rate limit the one after it waits one
/// interval, without one it follows at once (the registrar batches them).
fn remove_next(m: &mut Master, ctx: &mut Ctx<'_, Master>, generation: u64) {
    if m.ha.recovery.generation != generation {
        return;
    }
    let Some(info) = m.ha.recovery.queue.pop_front() else {
        return;
    };
    let id = info
        .id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let counter = |m: &Master, name: &str| m.metrics.metrics.counter(&format!("master/{name}"));
    if !m.ha.recovery.recovered.contains_key(&id) || m.ha.recovery.reregistering.contains(&id) {
        // It came back meanwhile.
        counter(m, "slave_unreachable_canceled").inc();
        remove_next(m, ctx, generation);
        return;
    }
    match m.flags.agent_removal_rate_limit {
        Some(limit) if !m.ha.recovery.queue.is_empty() => {
            ctx.delay(
                limit.interval(),
                "agent-removal-rate-limit",
                move |m, ctx| remove_next(m, ctx, generation),
            );
        }
        _ => remove_next(m, ctx, generation),
    }
    let Some(registrar) = m.ha.registrar.clone() else {
        return;
    };
    m.ha.recovery.marking.insert(id.clone());
    let op = Operation::MarkSlaveUnreachable {
        id: SlaveId { value: id.clone() },
        time: TimeInfo {
            nanoseconds: (ctx.clock().now_secs() * 1e9) as i64,
        },
    };
    ctx.then(
        async move { registrar.apply(op).await },
        move |m, ctx, result| {
            if m.ha.recovery.generation != generation {
                return;
            }
            m.ha.recovery.marking.remove(&id);
            m.ha.recovery.recovered.remove(&id);
            if let Err(e) = result {
                tracing::error!(agent = %id, error = %e, "cannot mark the agent unreachable");
                return;
            }
            m.count_recovery_removal();
            counter(m, "slave_unreachable_completed").inc();
            m.mark_agent_unreachable(&id, ctx.clock().now_secs());
            m.changed();
            tracing::info!(agent = %id, "marked unreachable: it did not re-register after the master failover");
            let frameworks: Vec<String> = m.frameworks.registered.keys().cloned().collect();
            for framework in frameworks {
                m.send_agent_lost(ctx, &framework, &id);
            }
        },
    );
}

/// For an agent this master does not have: `true` if the registrar takes over its
/// re-registration (the caller stops; it resumes once `MarkSlaveReachable` is committed),
/// `false` to re-register it now.
pub(crate) fn reregister_through_registry(
    m: &mut Master,
    ctx: &mut Ctx<'_, Master>,
    from: &Upid,
    msg: &ReregisterSlaveMessage,
) -> bool {
    let Some(registrar) = m.ha.registrar.clone() else {
        return false;
    };
    let Some(id) = msg.slave.id.as_ref().map(|i| i.value.clone()) else {
        return false;
    };
    if m.ha.recovery.committed.remove(&id) {
        m.ha.recovery.recovered.remove(&id);
        return false;
    }
    if m.ha.recovery.marking.contains(&id) {
        tracing::warn!(agent = %from, %id, "ignoring a re-registration: the agent is being marked unreachable");
        return true;
    }
    if !m.ha.recovery.reregistering.insert(id.clone()) {
        tracing::info!(agent = %from, %id, "re-registration already being committed; ignoring the retry");
        return true;
    }
    let generation = m.ha.recovery.generation;
    let (from, msg) = (from.clone(), msg.clone());
    let op = Operation::MarkSlaveReachable(msg.slave.clone());
    ctx.then(
        async move { registrar.apply(op).await },
        move |m, ctx, result| {
            if m.ha.recovery.generation != generation {
                return;
            }
            m.ha.recovery.reregistering.remove(&id);
            if let Err(e) = result {
                tracing::error!(agent = %from, %id, error = %e, "agent not re-registered: the registry refused it");
                return;
            }
            m.ha.recovery.committed.insert(id);
            m.reregister_slave(ctx, from, msg);
        },
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_removal_limit_is_a_percentage_from_0_to_100() {
        let l: RemovalLimit = "100%".parse().unwrap();
        assert_eq!(l.fraction, 1.0);
        assert_eq!(l.to_string(), "100%");
        let l: RemovalLimit = "12.5".parse().unwrap();
        assert_eq!(l.fraction, 0.125);
        for bad in ["101%", "-1%", "NaN%", "inf", "x%", "%", ""] {
            assert!(bad.parse::<RemovalLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn removal_rate_limit_parses_permits_per_duration_and_refuses_nonsense() {
        let r: RateLimit = "1/10mins".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_secs(600));
        assert_eq!(r.to_string(), "1/10mins");
        let r: RateLimit = "4/2secs".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(500));
        for bad in [
            "10mins",
            "0/1secs",
            "x/1secs",
            "1/0secs",
            "1/forever",
            "-1/1secs",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }
}
