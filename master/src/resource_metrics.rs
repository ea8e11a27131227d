//! `master/<cpus|mem|disk|gpus>_<total|used|percent>` as genuine reports them: the
//! registered agents' total (non-revocable) scalars, what frameworks use of them (tasks
//! and executors), and the share used; the same of revocable resources as
//! `master/<name>_revocable_<total|used|percent>`; and the allocator's view
//! `allocator/mesos/resources/<name>/{total,offered_or_allocated}`. Refreshed with the other
//! gauges (at most every `GAUGE_REFRESH_INTERVAL`).

use mesos_proto::mesos::{value, Resource};

use crate::master::Master;

const NAMES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// Adds the non-revocable scalar amounts of `resources` into `sums` (indexed like `NAMES`).
fn add(sums: &mut [f64; 4], resources: &[Resource]) {
    add_of_kind(sums, resources, false)
}

/// Adds the scalar amounts of `resources` that are revocable (or not) into `sums`.
fn add_of_kind(sums: &mut [f64; 4], resources: &[Resource], revocable: bool) {
    for r in resources {
        if r.revocable.is_some() != revocable || r.r#type != value::Type::Scalar as i32 {
            continue;
        }
        if let (Some(i), Some(s)) = (NAMES.iter().position(|n| *n == r.name), &r.scalar) {
            if s.value.is_finite() {
                sums[i] += s.value;
            }
        }
    }
}

/// `used / total`, 0 when there is nothing.
pub fn percent(used: f64, total: f64) -> f64 {
    if total > 0.0 {
        used / total
    } else {
        0.0
    }
}

impl Master {
    pub(crate) fn refresh_resource_metrics(&self) {
        let (mut total, mut used, mut offered) = ([0.0; 4], [0.0; 4], [0.0; 4]);
        let (mut rev_total, mut rev_used) = ([0.0; 4], [0.0; 4]);
        // One pass over the offers (per agent it was O(agents × offers): the hot spot of a
        // 10,000-agent cluster).
        for o in self.offers.by_id.values() {
            if self.agents.registered.contains_key(&o.offer.slave_id.value) {
                add(&mut offered, &o.offer.resources);
            }
        }
        for a in self.agents.registered.values() {
            add(&mut total, a.total());
            add_of_kind(&mut rev_total, a.total(), true);
            for (fid, tid) in &a.tasks {
                if let Some(f) = self.frameworks.get(fid) {
                    if let Some(t) = f.tasks.get(tid) {
                        if !f.freed.contains(tid) {
                            add(&mut used, &t.resources);
                            add_of_kind(&mut rev_used, &t.resources, true);
                        }
                    }
                }
            }
            for executors in a.executors.values() {
                for e in executors.values() {
                    add(&mut used, &e.resources);
                    add_of_kind(&mut rev_used, &e.resources, true);
                }
            }
        }
        let m = &self.metrics.metrics;
        for (i, name) in NAMES.iter().enumerate() {
            m.gauge(&format!("master/{name}_total")).set(total[i]);
            m.gauge(&format!("master/{name}_used")).set(used[i]);
            m.gauge(&format!("master/{name}_percent"))
                .set(percent(used[i], total[i]));
            m.gauge(&format!("master/{name}_revocable_total"))
                .set(rev_total[i]);
            m.gauge(&format!("master/{name}_revocable_used"))
                .set(rev_used[i]);
            m.gauge(&format!("master/{name}_revocable_percent"))
                .set(percent(rev_used[i], rev_total[i]));
            m.gauge(&format!("allocator/mesos/resources/{name}/total"))
                .set(total[i]);
            m.gauge(&format!(
                "allocator/mesos/resources/{name}/offered_or_allocated"
            ))
            .set(used[i] + offered[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_skip_revocable_and_non_scalar_resources_and_percent_of_nothing_is_zero() {
        let mut sums = [0.0; 4];
        let scalar = |name: &str, v: f64| Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            ..Default::default()
        };
        let mut revocable = scalar("cpus", 8.0);
        revocable.revocable = Some(Default::default());
        let ports = Resource {
            name: "ports".into(),
            r#type: value::Type::Ranges as i32,
            ..Default::default()
        };
        add(
            &mut sums,
            &[
                scalar("cpus", 2.0),
                scalar("mem", 64.0),
                revocable,
                ports,
                scalar("gpus", f64::NAN),
            ],
        );
        assert_eq!(sums, [2.0, 64.0, 0.0, 0.0]);
        assert_eq!(percent(1.0, 4.0), 0.25);
        let mut revocable_sums = [0.0; 4];
        let mut r = scalar("cpus", 8.0);
        r.revocable = Some(Default::default());
        add_of_kind(&mut revocable_sums, &[r, scalar("cpus", 2.0)], true);
        assert_eq!(
            revocable_sums,
            [8.0, 0.0, 0.0, 0.0],
            "only the revocable ones"
        );
        assert_eq!(percent(0.0, 0.0), 0.0);
    }
}
