//! What every cgroups isolator does the same way: one cgroup per container under each of
//! its controllers (plus the freezer on v1, which [`super::destroy`] uses), created in
//! `prepare`, joined in `isolate`, destroyed in `cleanup`, and orphans destroyed in
//! `recover`.

use std::collections::HashSet;
use std::path::PathBuf;

use super::{add_process, create_dir, destroy, CgroupsError, Hierarchy, Version};
use crate::isolator::IsolatorError;
use crate::protocol::{ContainerId, ContainerState};

/// A cgroups isolator's controllers in one hierarchy.
#[derive(Clone, Debug)]
pub struct CgroupSet {
    pub hierarchy: Hierarchy,
    /// The controllers whose cgroups this isolator owns (`["cpu", "cpuacct"]`).
    pub controllers: Vec<&'static str>,
}

impl CgroupSet {
    /// Checks every controller is usable now, so a bad environment fails at start-up.
    pub fn new(hierarchy: Hierarchy, controllers: &[&'static str]) -> Result<Self, CgroupsError> {
        let set = CgroupSet {
            hierarchy,
            controllers: controllers.to_vec(),
        };
        for c in &set.controllers {
            set.hierarchy.ensure_controller(c)?;
        }
        // v1: the freezer hierarchy; v2: the unified root even with no controller.
        set.hierarchy.ensure_controller("freezer")?;
        Ok(set)
    }

    /// The cgroups a container gets: on v1 one per owned controller plus the freezer that
    /// cleanup kills through; on v2 the single unified cgroup (shared by every cgroups
    /// isolator, so the first to create or destroy it wins and the others find it done).
    fn all_controllers(&self) -> Vec<&'static str> {
        match self.hierarchy.version {
            Version::V1 => {
                let mut all = self.controllers.clone();
                all.push("freezer");
                all
            }
            Version::V2 => vec!["freezer"],
        }
    }

    /// The container's cgroup for `controller` (v2: the one unified cgroup).
    pub fn dir(&self, controller: &str, container: &ContainerId) -> PathBuf {
        self.hierarchy.container_dir(controller, container)
    }

    /// Creates the container's cgroups; an existing one means a stale container.
    pub fn create(&self, container: &ContainerId) -> Result<(), IsolatorError> {
        for c in self.all_controllers() {
            let dir = self.dir(c, container);
            let owned = self.hierarchy.version == Version::V1 && self.controllers.contains(&c);
            if owned && dir.exists() {
                return Err(IsolatorError::failed(format!(
                    "cgroup {} already exists",
                    dir.display()
                )));
            }
            create_dir(&dir).map_err(IsolatorError::failed)?;
        }
        Ok(())
    }

    /// Moves `pid` (and so every child it forks later) into the container's cgroups.
    pub fn join(&self, container: &ContainerId, pid: u32) -> Result<(), IsolatorError> {
        for c in self.all_controllers() {
            add_process(&self.dir(c, container), pid).map_err(IsolatorError::failed)?;
        }
        Ok(())
    }

    /// Kills and removes the container's cgroups, off the actor thread.
    pub async fn destroy(self, container: ContainerId) -> Result<(), IsolatorError> {
        destroy::destroy_async(self.hierarchy, self.controllers, container)
            .await
            .map_err(IsolatorError::failed)
    }

    /// Destroys every container cgroup under the root that no state claims; returns the
    /// ids of the recovered containers whose cgroups exist. Runs once at start-up, before
    /// any container is launched, so it may block.
    pub fn recover(
        &self,
        states: &[ContainerState],
        orphans: &[ContainerId],
    ) -> Result<Vec<ContainerId>, IsolatorError> {
        let known: HashSet<&str> = states.iter().map(|s| s.container_id.as_str()).collect();
        let mut found = HashSet::new();
        for c in self.all_controllers() {
            found.extend(self.hierarchy.containers(c));
        }
        let mut recovered = Vec::new();
        for name in found {
            let Ok(id) = ContainerId::new(name.clone()) else {
                tracing::warn!(cgroup = %name, "ignoring a cgroup whose name is no container id");
                continue;
            };
            if known.contains(name.as_str()) && !orphans.contains(&id) {
                recovered.push(id);
                continue;
            }
            tracing::info!(container = %id, "destroying orphaned container cgroups");
            destroy::destroy(&self.hierarchy, &self.controllers, &id)
                .map_err(IsolatorError::failed)?;
        }
        Ok(recovered)
    }
}
