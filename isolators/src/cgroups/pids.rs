//! `cgroups/pids`: puts each container in its own pids cgroup so its process count is
//! known exactly (`pids.current`) and its processes are found and killed by cleanup even
//! when no other cgroups isolator is selected. Mesos has no pids resource, so no limit.

use std::collections::HashSet;
use std::path::Path;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use super::{read_file, CgroupSet, CgroupsError, Hierarchy};
use crate::isolator::{now_secs, ready, sorted, Isolator, IsolatorError, IsolatorFuture};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation};

/// The `cgroups/pids` isolator.
#[derive(Debug)]
pub struct PidsIsolator {
    cgroups: CgroupSet,
    containers: HashSet<ContainerId>,
}

impl PidsIsolator {
    pub fn new(hierarchy: Hierarchy) -> Result<Self, CgroupsError> {
        Ok(PidsIsolator {
            cgroups: CgroupSet::new(hierarchy, &["pids"])?,
            containers: HashSet::new(),
        })
    }

    fn known(&self, c: &ContainerId) -> Result<(), IsolatorError> {
        if self.containers.contains(c) {
            Ok(())
        } else {
            Err(IsolatorError::UnknownContainer(c.clone()))
        }
    }
}

impl Isolator for PidsIsolator {
    fn name(&self) -> &str {
        "cgroups/pids"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.iter())
    }

    fn recover(
        &mut self,
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    ) -> IsolatorFuture<()> {
        match self.cgroups.recover(&states, &orphans) {
            Ok(recovered) => {
                self.containers.extend(recovered);
                ready(Ok(()))
            }
            Err(e) => ready(Err(e)),
        }
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        _: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.containers.contains(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        if let Err(e) = self.cgroups.create(c) {
            return ready(Err(e));
        }
        self.containers.insert(c.clone());
        ready(Ok(None))
    }

    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        ready(self.known(c).and_then(|()| self.cgroups.join(c, pid)))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.known(c) {
            Ok(()) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }

    fn update(&mut self, c: &ContainerId, _: &[Resource]) -> IsolatorFuture<()> {
        ready(self.known(c))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        if let Err(e) = self.known(c) {
            return ready(Err(e));
        }
        // pids.current counts tasks (threads), on v1 and v2 alike.
        let current = read_file(&self.cgroups.dir("pids", c), "pids.current")
            .map_err(IsolatorError::failed)
            .and_then(|t| t.trim().parse::<u32>().map_err(IsolatorError::failed));
        ready(current.map(|n| ResourceStatistics {
            timestamp: now_secs(),
            threads: Some(n),
            ..Default::default()
        }))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.remove(c);
        Box::pin(self.cgroups.clone().destroy(c.clone()))
    }
}
