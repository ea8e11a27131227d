//! `cgroups/cpu`: cpu shares (1024 per cpu, at least 2) and, with `--cgroups_enable_cfs`,
//! a hard CFS quota (cpus × 100 ms per 100 ms period, at least 1 ms), as Mesos sets them;
//! usage from `cpuacct.stat` and `cpu.stat` (v1) or `cpu.stat` (v2).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use cgroups_rs::cpu::CpuController;
use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use super::{parse_flat_keyed, read_file, v2, CgroupSet, CgroupsError, Hierarchy, Version};
use crate::isolator::{now_secs, ready, scalar, sorted, Isolator, IsolatorError, IsolatorFuture};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation};

pub const CPU_SHARES_PER_CPU: u64 = 1024;
pub const MIN_CPU_SHARES: u64 = 2;
pub const CFS_PERIOD: Duration = Duration::from_millis(100);
pub const MIN_CFS_QUOTA: Duration = Duration::from_millis(1);

/// Mesos's share and quota for `cpus`.
pub fn shares_and_quota(cpus: f64) -> (u64, Duration) {
    let shares = ((CPU_SHARES_PER_CPU as f64) * cpus).max(MIN_CPU_SHARES as f64) as u64;
    let quota = CFS_PERIOD.mul_f64(cpus.clamp(0.0, 1e6)).max(MIN_CFS_QUOTA);
    (shares, quota)
}

/// The `cgroups/cpu` isolator.
#[derive(Debug)]
pub struct CpuIsolator {
    cgroups: CgroupSet,
    /// Each container's latest cpus.
    cpus: HashMap<ContainerId, Option<f64>>,
}

impl CpuIsolator {
    pub fn new(hierarchy: Hierarchy) -> Result<Self, CgroupsError> {
        let controllers: &[&'static str] = match hierarchy.version {
            Version::V1 => &["cpu", "cpuacct"],
            Version::V2 => &["cpu"],
        };
        Ok(CpuIsolator {
            cgroups: CgroupSet::new(hierarchy, controllers)?,
            cpus: HashMap::new(),
        })
    }

    fn apply(&self, container: &ContainerId, cpus: f64) -> Result<(), CgroupsError> {
        let (shares, quota) = shares_and_quota(cpus);
        let h = &self.cgroups.hierarchy;
        let dir = self.cgroups.dir("cpu", container);
        match h.version {
            Version::V1 => {
                let cpu = CpuController::new(dir.clone(), false);
                let io = |e: cgroups_rs::error::Error| {
                    CgroupsError::io("write", &dir, std::io::Error::other(e.to_string()))
                };
                cpu.set_shares(shares).map_err(io)?;
                if h.enable_cfs {
                    cpu.set_cfs_period(CFS_PERIOD.as_micros() as u64)
                        .map_err(io)?;
                    cpu.set_cfs_quota(quota.as_micros() as i64).map_err(io)?;
                }
            }
            Version::V2 => {
                let quota = h.enable_cfs.then_some(quota);
                v2::set_cpu(&dir, shares, quota, CFS_PERIOD)?;
            }
        }
        tracing::info!(container = %container, cpus, shares, cfs = h.enable_cfs,
            quota_us = quota.as_micros() as u64, "updated cpu limits");
        Ok(())
    }

    fn update_inner(
        &mut self,
        c: &ContainerId,
        resources: &[Resource],
    ) -> Result<(), IsolatorError> {
        if !self.cpus.contains_key(c) {
            return Err(IsolatorError::UnknownContainer(c.clone()));
        }
        let cpus = scalar(resources, "cpus")
            .ok_or_else(|| IsolatorError::failed("No cpus resource given"))?;
        self.apply(c, cpus).map_err(IsolatorError::failed)?;
        self.cpus.insert(c.clone(), Some(cpus));
        Ok(())
    }

    fn usage_inner(&self, c: &ContainerId) -> Result<ResourceStatistics, CgroupsError> {
        let mut stats = ResourceStatistics {
            timestamp: now_secs(),
            cpus_limit: self.cpus.get(c).copied().flatten(),
            ..Default::default()
        };
        match self.cgroups.hierarchy.version {
            Version::V1 => {
                let ticks = procfs::ticks_per_second().max(1) as f64;
                let acct =
                    parse_flat_keyed(&read_file(&self.cgroups.dir("cpuacct", c), "cpuacct.stat")?);
                stats.cpus_user_time_secs = acct.get("user").map(|t| *t as f64 / ticks);
                stats.cpus_system_time_secs = acct.get("system").map(|t| *t as f64 / ticks);
                let cpu = parse_flat_keyed(&read_file(&self.cgroups.dir("cpu", c), "cpu.stat")?);
                stats.cpus_nr_periods = cpu
                    .get("nr_periods")
                    .map(|v| (*v).min(u32::MAX as u64) as u32);
                stats.cpus_nr_throttled = cpu
                    .get("nr_throttled")
                    .map(|v| (*v).min(u32::MAX as u64) as u32);
                stats.cpus_throttled_time_secs =
                    cpu.get("throttled_time").map(|ns| *ns as f64 / 1e9);
            }
            Version::V2 => {
                let s = v2::cpu_stat(&self.cgroups.dir("cpu", c))?;
                stats.cpus_user_time_secs = Some(s.user_usec as f64 / 1e6);
                stats.cpus_system_time_secs = Some(s.system_usec as f64 / 1e6);
                stats.cpus_nr_periods = Some(s.nr_periods.min(u32::MAX as u64) as u32);
                stats.cpus_nr_throttled = Some(s.nr_throttled.min(u32::MAX as u64) as u32);
                stats.cpus_throttled_time_secs = Some(s.throttled_usec as f64 / 1e6);
            }
        }
        Ok(stats)
    }
}

impl Isolator for CpuIsolator {
    fn name(&self) -> &str {
        "cgroups/cpu"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.cpus.keys())
    }

    fn recover(
        &mut self,
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    ) -> IsolatorFuture<()> {
        for s in &states {
            self.cpus.insert(
                s.container_id.clone(),
                scalar(&s.executor_info.resources, "cpus"),
            );
        }
        ready(self.cgroups.recover(&states, &orphans).map(|_| ()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        executor: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.cpus.contains_key(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        if let Err(e) = self.cgroups.create(c) {
            return ready(Err(e));
        }
        self.cpus.insert(c.clone(), None);
        // Like Mesos 0.18, limits apply from the start (the executor's own resources).
        if scalar(&executor.resources, "cpus").is_some() {
            if let Err(e) = self.update_inner(c, &executor.resources) {
                return ready(Err(e));
            }
        }
        ready(Ok(None))
    }

    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        if !self.cpus.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        ready(self.cgroups.join(c, pid))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        if !self.cpus.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        // CPU is throttled, never a reason to stop a container.
        Box::pin(futures::future::pending())
    }

    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()> {
        ready(self.update_inner(c, resources))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        if !self.cpus.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        ready(self.usage_inner(c).map_err(IsolatorError::failed))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.cpus.remove(c);
        Box::pin(self.cgroups.clone().destroy(c.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_quota_follow_mesos_minimums() {
        assert_eq!(shares_and_quota(1.0), (1024, Duration::from_millis(100)));
        assert_eq!(shares_and_quota(0.5), (512, Duration::from_millis(50)));
        assert_eq!(shares_and_quota(0.001), (2, Duration::from_millis(1)));
        assert_eq!(shares_and_quota(0.0), (2, Duration::from_millis(1)));
    }
}
