//! `cgroups/mem`: Mesos's memory limits and the kernel's OOM notification.
//!
//! Limits (as Mesos sets them): the soft limit is `max(mem, 32 MB)` and is always
//! written; the hard limit is the same value, written the first time and whenever it
//! grows, never lowered (lowering it under a running executor could OOM it). v1 writes
//! `memory.soft_limit_in_bytes`/`memory.limit_in_bytes`, v2 `memory.high`/`memory.max`.
//!
//! OOM: v1 registers an eventfd on `memory.oom_control` through `cgroup.event_control`
//! (cgroups-rs runs the blocking read on its own thread); v2 watches the `oom_kill`
//! counter of `memory.events`. Either way `watch` resolves with a memory limitation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cgroups_rs::memory::MemController;
use futures::future::{BoxFuture, FutureExt, Shared};
use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use super::{parse_flat_keyed, read_file, v2, CgroupSet, CgroupsError, Hierarchy, Version};
use crate::isolator::{
    mb_to_bytes, now_secs, ready, scalar, scalar_resource, sorted, Isolator, IsolatorError,
    IsolatorFuture,
};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation, LimitationReason};

/// Mesos's floor for a container's memory.
pub const MIN_MEMORY: u64 = 32 * 1024 * 1024;
/// How often v2 looks at `memory.events`.
const V2_EVENTS_POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Info {
    mem_mb: Option<f64>,
    hard_limit_set: bool,
    /// Resolves true when the kernel reported an OOM in the container's cgroup.
    oom: Option<Shared<BoxFuture<'static, bool>>>,
}

/// The `cgroups/mem` isolator.
#[derive(Debug)]
pub struct MemIsolator {
    cgroups: CgroupSet,
    infos: HashMap<ContainerId, Info>,
}

fn cg_err(dir: &Path) -> impl Fn(cgroups_rs::error::Error) -> CgroupsError + '_ {
    move |e| CgroupsError::io("write", dir, std::io::Error::other(e.to_string()))
}

impl MemIsolator {
    pub fn new(hierarchy: Hierarchy) -> Result<Self, CgroupsError> {
        Ok(MemIsolator {
            cgroups: CgroupSet::new(hierarchy, &["memory"])?,
            infos: HashMap::new(),
        })
    }

    fn dir(&self, c: &ContainerId) -> PathBuf {
        self.cgroups.dir("memory", c)
    }

    fn version(&self) -> Version {
        self.cgroups.hierarchy.version
    }

    /// Starts listening for the kernel's OOM notification for the container.
    fn listen(&self, c: &ContainerId) -> Result<Shared<BoxFuture<'static, bool>>, CgroupsError> {
        let dir = self.dir(c);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        match self.version() {
            Version::V1 => {
                let events = MemController::new(dir.clone(), false)
                    .register_oom_event(c.as_str())
                    .map_err(cg_err(&dir))?;
                // The receiver closes without a message when the cgroup is removed.
                std::thread::Builder::new()
                    .name(format!("oom-{c}"))
                    .spawn(move || {
                        if events.recv().is_ok() {
                            let _ = tx.send(());
                        }
                    })
                    .map_err(|e| CgroupsError::io("spawn OOM listener for", &dir, e))?;
            }
            Version::V2 => {
                let baseline = v2::memory_events(&dir)?.oom_kill;
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(V2_EVENTS_POLL).await;
                        match v2::memory_events(&dir) {
                            Ok(e) if e.oom_kill > baseline => {
                                let _ = tx.send(());
                                return;
                            }
                            Ok(_) if !tx.is_closed() => continue,
                            _ => return,
                        }
                    }
                });
            }
        }
        Ok(rx.map(|r| r.is_ok()).boxed().shared())
    }

    fn set_limits(&mut self, c: &ContainerId, mem_mb: f64) -> Result<(), CgroupsError> {
        let dir = self.dir(c);
        let limit = mb_to_bytes(mem_mb).max(MIN_MEMORY);
        let version = self.version();
        let Some(info) = self.infos.get_mut(c) else {
            return Ok(());
        };
        let current_hard = match version {
            Version::V1 => read_file(&dir, "memory.limit_in_bytes")?
                .trim()
                .parse::<u64>()
                .ok(),
            Version::V2 => read_file(&dir, "memory.max")?.trim().parse::<u64>().ok(),
        };
        let raise_hard = !info.hard_limit_set || current_hard.is_none_or(|cur| limit > cur);
        match version {
            Version::V1 => {
                let mem = MemController::new(dir.clone(), false);
                mem.set_soft_limit(limit as i64).map_err(cg_err(&dir))?;
                if raise_hard {
                    mem.set_limit(limit as i64).map_err(cg_err(&dir))?;
                }
            }
            Version::V2 => {
                super::write_file(&dir, "memory.high", &limit.to_string())?;
                if raise_hard {
                    super::write_file(&dir, "memory.max", &limit.to_string())?;
                }
            }
        }
        info.hard_limit_set |= raise_hard;
        info.mem_mb = Some(mem_mb);
        tracing::info!(container = %c, limit, hard = raise_hard, "updated memory limits");
        Ok(())
    }

    fn usage_inner(&self, c: &ContainerId) -> Result<ResourceStatistics, CgroupsError> {
        let dir = self.dir(c);
        let mut s = ResourceStatistics {
            timestamp: now_secs(),
            ..Default::default()
        };
        let num = |file: &str| -> Option<u64> { read_file(&dir, file).ok()?.trim().parse().ok() };
        match self.version() {
            Version::V1 => {
                s.mem_total_bytes = num("memory.usage_in_bytes");
                s.mem_limit_bytes = num("memory.limit_in_bytes");
                s.mem_soft_limit_bytes = num("memory.soft_limit_in_bytes");
                let stat = parse_flat_keyed(&read_file(&dir, "memory.stat")?);
                s.mem_rss_bytes = stat.get("total_rss").copied();
                s.mem_anon_bytes = s.mem_rss_bytes;
                s.mem_cache_bytes = stat.get("total_cache").copied();
                s.mem_file_bytes = s.mem_cache_bytes;
                s.mem_mapped_file_bytes = stat.get("total_mapped_file").copied();
                s.mem_swap_bytes = stat.get("total_swap").copied();
                s.mem_unevictable_bytes = stat.get("total_unevictable").copied();
            }
            Version::V2 => {
                s.mem_total_bytes = num("memory.current");
                s.mem_limit_bytes = num("memory.max");
                s.mem_soft_limit_bytes = num("memory.high");
                let stat = parse_flat_keyed(&read_file(&dir, "memory.stat")?);
                s.mem_rss_bytes = stat.get("anon").copied();
                s.mem_anon_bytes = s.mem_rss_bytes;
                s.mem_cache_bytes = stat.get("file").copied();
                s.mem_file_bytes = s.mem_cache_bytes;
                s.mem_mapped_file_bytes = stat.get("file_mapped").copied();
                s.mem_unevictable_bytes = stat.get("unevictable").copied();
            }
        }
        Ok(s)
    }
}

/// Mesos's OOM message: what was requested, the peak, and the memory statistics.
fn oom_message(dir: &Path, version: Version, mem_mb: Option<f64>) -> String {
    let peak_file = match version {
        Version::V1 => "memory.max_usage_in_bytes",
        Version::V2 => "memory.peak",
    };
    let peak = read_file(dir, peak_file)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|b| format!("{}MB", b / (1024 * 1024)))
        .unwrap_or_else(|| "unknown".into());
    let requested = mem_mb.map_or_else(|| "unknown".into(), |m| format!("{m:.0}MB"));
    let stats = read_file(dir, "memory.stat").unwrap_or_default();
    format!("Memory limit exceeded: Requested: {requested} Maximum Used: {peak}\n\nMEMORY STATISTICS: \n{stats}")
}

impl Isolator for MemIsolator {
    fn name(&self) -> &str {
        "cgroups/mem"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.infos.keys())
    }

    fn recover(
        &mut self,
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    ) -> IsolatorFuture<()> {
        let mem: HashMap<ContainerId, Option<f64>> = states
            .iter()
            .map(|s| {
                (
                    s.container_id.clone(),
                    scalar(&s.executor_info.resources, "mem"),
                )
            })
            .collect();
        let recovered = match self.cgroups.recover(&states, &orphans) {
            Ok(r) => r,
            Err(e) => return ready(Err(e)),
        };
        for c in recovered {
            let oom = self.listen(&c).ok();
            let mem_mb = mem.get(&c).copied().flatten();
            self.infos.insert(
                c,
                Info {
                    mem_mb,
                    hard_limit_set: true,
                    oom,
                },
            );
        }
        ready(Ok(()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        executor: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.infos.contains_key(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        if let Err(e) = self.cgroups.create(c) {
            return ready(Err(e));
        }
        let oom = match self.listen(c) {
            Ok(oom) => Some(oom),
            Err(e) => return ready(Err(IsolatorError::failed(e))),
        };
        self.infos.insert(
            c.clone(),
            Info {
                mem_mb: None,
                hard_limit_set: false,
                oom,
            },
        );
        if let Some(mem) = scalar(&executor.resources, "mem") {
            if let Err(e) = self.set_limits(c, mem) {
                return ready(Err(IsolatorError::failed(e)));
            }
        }
        ready(Ok(None))
    }

    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        if !self.infos.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        ready(self.cgroups.join(c, pid))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        let Some(info) = self.infos.get(c) else {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        };
        let Some(oom) = info.oom.clone() else {
            return Box::pin(futures::future::pending());
        };
        let (dir, version, mem_mb, id) = (self.dir(c), self.version(), info.mem_mb, c.clone());
        Box::pin(async move {
            if !oom.await {
                // The cgroup went away without an OOM: no limitation, ever.
                return futures::future::pending().await;
            }
            tracing::info!(container = %id, "OOM detected");
            Ok(Limitation {
                resources: mem_mb
                    .map(|m| vec![scalar_resource("mem", m)])
                    .unwrap_or_default(),
                message: oom_message(&dir, version, mem_mb),
                reason: LimitationReason::Memory,
            })
        })
    }

    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()> {
        if !self.infos.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        let Some(mem) = scalar(resources, "mem") else {
            return ready(Err(IsolatorError::failed("No memory resource given")));
        };
        ready(self.set_limits(c, mem).map_err(IsolatorError::failed))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        if !self.infos.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        ready(self.usage_inner(c).map_err(IsolatorError::failed))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.infos.remove(c);
        Box::pin(self.cgroups.clone().destroy(c.clone()))
    }
}
