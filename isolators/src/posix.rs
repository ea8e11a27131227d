//! `posix/cpu` and `posix/mem`: no enforcement by the kernel, usage from procfs summed
//! over the container's process tree (see [`crate::procs`]). `posix/mem` can enforce its
//! limit itself by polling resident memory and reporting a memory limitation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use crate::isolator::{
    mb_to_bytes, ready, scalar, scalar_resource, sorted, Isolator, IsolatorError, IsolatorFuture,
};
use crate::procs::{self, ProcessTracker};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation, LimitationReason};

/// What a posix isolator knows about one container.
#[derive(Debug, Default)]
struct Info {
    tracker: Option<ProcessTracker>,
    resources: Vec<Resource>,
}

type Shared = Arc<Mutex<Info>>;

fn lock(info: &Shared) -> std::sync::MutexGuard<'_, Info> {
    info.lock().unwrap_or_else(|e| e.into_inner())
}

/// The containers of one posix isolator, with the calls both share.
#[derive(Debug, Default)]
struct Containers(HashMap<ContainerId, Shared>);

impl Containers {
    fn recover(&mut self, states: Vec<ContainerState>) {
        for s in states {
            let info = Info {
                tracker: Some(ProcessTracker::new(s.pid)),
                resources: s.executor_info.resources.clone(),
            };
            self.0.insert(s.container_id, Arc::new(Mutex::new(info)));
        }
    }

    fn prepare(&mut self, c: &ContainerId, executor: &ExecutorInfo) -> Result<(), IsolatorError> {
        if self.0.contains_key(c) {
            return Err(IsolatorError::AlreadyPrepared(c.clone()));
        }
        let info = Info {
            tracker: None,
            resources: executor.resources.clone(),
        };
        self.0.insert(c.clone(), Arc::new(Mutex::new(info)));
        Ok(())
    }

    fn get(&self, c: &ContainerId) -> Result<Shared, IsolatorError> {
        self.0
            .get(c)
            .cloned()
            .ok_or_else(|| IsolatorError::UnknownContainer(c.clone()))
    }

    fn isolate(&mut self, c: &ContainerId, pid: u32) -> Result<(), IsolatorError> {
        lock(&self.get(c)?).tracker = Some(ProcessTracker::new(pid));
        Ok(())
    }

    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> Result<(), IsolatorError> {
        lock(&self.get(c)?).resources = resources.to_vec();
        Ok(())
    }

    /// procfs totals for the container (zeros before `isolate`).
    fn usage(
        &mut self,
        c: &ContainerId,
    ) -> Result<(ResourceStatistics, Vec<Resource>), IsolatorError> {
        let shared = self.get(c)?;
        let mut info = lock(&shared);
        let members = match info.tracker.as_mut() {
            Some(t) => t.members(&procs::snapshot()),
            None => Vec::new(),
        };
        Ok((procs::statistics(&members), info.resources.clone()))
    }
}

/// `posix/cpu`: cpu time of every process in the container.
#[derive(Debug, Default)]
pub struct PosixCpu {
    containers: Containers,
}

impl Isolator for PosixCpu {
    fn name(&self) -> &str {
        "posix/cpu"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.0.keys())
    }
    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        self.containers.recover(states);
        ready(Ok(()))
    }
    fn prepare(
        &mut self,
        c: &ContainerId,
        executor: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        ready(self.containers.prepare(c, executor).map(|()| None))
    }
    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        ready(self.containers.isolate(c, pid))
    }
    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.containers.get(c) {
            Ok(_) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }
    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()> {
        ready(self.containers.update(c, resources))
    }
    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        ready(
            self.containers
                .usage(c)
                .map(|(all, resources)| ResourceStatistics {
                    timestamp: all.timestamp,
                    cpus_user_time_secs: all.cpus_user_time_secs,
                    cpus_system_time_secs: all.cpus_system_time_secs,
                    cpus_limit: scalar(&resources, "cpus"),
                    processes: all.processes,
                    threads: all.threads,
                    ..Default::default()
                }),
        )
    }
    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.0.remove(c);
        ready(Ok(()))
    }
}

/// `posix/mem`: resident memory of every process in the container, optionally enforced.
#[derive(Debug)]
pub struct PosixMem {
    containers: Containers,
    enforce: bool,
    interval: Duration,
}

impl PosixMem {
    pub fn new(enforce: bool, interval: Duration) -> Self {
        PosixMem {
            containers: Containers::default(),
            enforce,
            interval,
        }
    }
}

/// Polls the container's resident memory until it exceeds the container's `mem`.
async fn poll_memory(info: Shared, interval: Duration) -> Result<Limitation, IsolatorError> {
    loop {
        tokio::time::sleep(interval).await;
        let (rss, limit_mb) = {
            let mut guard = lock(&info);
            let limit_mb = scalar(&guard.resources, "mem");
            let Some(tracker) = guard.tracker.as_mut() else {
                continue;
            };
            let members = tracker.members(&procs::snapshot());
            (
                procs::statistics(&members).mem_rss_bytes.unwrap_or(0),
                limit_mb,
            )
        };
        let Some(limit_mb) = limit_mb else { continue };
        if rss > mb_to_bytes(limit_mb) {
            let used_mb = rss as f64 / (1024.0 * 1024.0);
            tracing::info!(rss, limit_mb, "posix/mem: container exceeded its memory");
            return Ok(Limitation {
                resources: vec![scalar_resource("mem", limit_mb)],
                message: format!(
                    "Memory limit exceeded: Requested: {limit_mb:.0}MB Used: {used_mb:.0}MB"
                ),
                reason: LimitationReason::Memory,
            });
        }
    }
}

impl Isolator for PosixMem {
    fn name(&self) -> &str {
        "posix/mem"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.0.keys())
    }
    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        self.containers.recover(states);
        ready(Ok(()))
    }
    fn prepare(
        &mut self,
        c: &ContainerId,
        executor: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        ready(self.containers.prepare(c, executor).map(|()| None))
    }
    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        ready(self.containers.isolate(c, pid))
    }
    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.containers.get(c) {
            Ok(info) if self.enforce => Box::pin(poll_memory(info, self.interval)),
            Ok(_) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }
    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()> {
        ready(self.containers.update(c, resources))
    }
    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        ready(
            self.containers
                .usage(c)
                .map(|(all, resources)| ResourceStatistics {
                    timestamp: all.timestamp,
                    mem_rss_bytes: all.mem_rss_bytes,
                    mem_limit_bytes: scalar(&resources, "mem").map(mb_to_bytes),
                    ..Default::default()
                }),
        )
    }
    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.0.remove(c);
        ready(Ok(()))
    }
}
