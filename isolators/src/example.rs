//! A small, complete isolator to copy from: it injects an environment variable into the
//! executor and reports how many processes each container has (from procfs). It runs
//! in-process (`IsolatorHandle::spawn_local`) and as an external OS process
//! (`examples/external_isolator.rs`), exercising every call of the protocol.

use std::collections::HashMap;
use std::path::Path;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use crate::isolator::{ready, sorted, Isolator, IsolatorError, IsolatorFuture};
use crate::procs::{self, ProcessTracker};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation};

/// The variable every prepared executor gets.
pub const ENV_VAR: &str = "MESOS_EXAMPLE_ISOLATOR";

/// Counts each container's processes.
#[derive(Debug, Default)]
pub struct ExampleIsolator {
    containers: HashMap<ContainerId, Option<ProcessTracker>>,
}

impl Isolator for ExampleIsolator {
    fn name(&self) -> &str {
        "example/processes"
    }

    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.keys())
    }

    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        for s in states {
            self.containers
                .insert(s.container_id, Some(ProcessTracker::new(s.pid)));
        }
        ready(Ok(()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        _: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.containers.contains_key(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        self.containers.insert(c.clone(), None);
        let mut info = LaunchInfo::default();
        info.environment.insert(ENV_VAR.into(), c.to_string());
        ready(Ok(Some(info)))
    }

    fn isolate(&mut self, c: &ContainerId, pid: u32) -> IsolatorFuture<()> {
        match self.containers.get_mut(c) {
            Some(slot) => {
                *slot = Some(ProcessTracker::new(pid));
                ready(Ok(()))
            }
            None => ready(Err(IsolatorError::UnknownContainer(c.clone()))),
        }
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        if !self.containers.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        Box::pin(futures::future::pending())
    }

    fn update(&mut self, c: &ContainerId, _: &[Resource]) -> IsolatorFuture<()> {
        if !self.containers.contains_key(c) {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        }
        ready(Ok(()))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        let Some(slot) = self.containers.get_mut(c) else {
            return ready(Err(IsolatorError::UnknownContainer(c.clone())));
        };
        let members = slot
            .as_mut()
            .map(|t| t.members(&procs::snapshot()))
            .unwrap_or_default();
        let all = procs::statistics(&members);
        ready(Ok(ResourceStatistics {
            timestamp: all.timestamp,
            processes: all.processes,
            ..Default::default()
        }))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.remove(c);
        ready(Ok(()))
    }
}
