//! The cgroups backend shared by `cgroups/cpu`, `cgroups/mem` and `cgroups/pids`.
//!
//! - [`Hierarchy`]: where cgroups live (`--cgroups_hierarchy`, `--cgroups_root`), v1 or v2
//!   detected at start-up, with a clear error for a missing or read-only hierarchy.
//! - `v2`: the cgroup2 interface files (`cpu.max`, `cpu.weight`, `memory.max`,
//!   `memory.high`, `memory.events`, `cpu.stat`) as plain formatting and parsing.
//! - `destroy`: killing everything in a container's cgroups and removing them.
//! - `cpu`, `mem`, `pids`: the isolators.
//!
//! v1 controllers are driven through `cgroups-rs`; v2 files are written by `v2` because
//! `cgroups-rs` hard-codes the unified mount at `/sys/fs/cgroup` and writes v1 share values
//! into `cpu.weight` unconverted.

mod common;
mod cpu;
pub mod destroy;
mod mem;
mod pids;
pub mod v2;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub use common::CgroupSet;
pub use cpu::CpuIsolator;
pub use mem::MemIsolator;
pub use pids::PidsIsolator;

use crate::protocol::ContainerId;

/// The agent's cgroups flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupsConfig {
    /// `--cgroups_hierarchy`: where the v1 controllers are mounted, or the cgroup2 mount.
    pub hierarchy: PathBuf,
    /// `--cgroups_root`: the cgroup (below each controller) that holds every container.
    pub root: String,
    /// `--cgroups_enable_cfs`: enforce cpus as a hard CFS quota, not only shares.
    pub enable_cfs: bool,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        CgroupsConfig {
            hierarchy: PathBuf::from("/sys/fs/cgroup"),
            root: "mesos".to_string(),
            enable_cfs: false,
        }
    }
}

/// cgroups v1 (a mount per controller) or v2 (one unified mount).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Why the cgroups backend cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupsError {
    #[error("cgroups hierarchy {path} does not exist or holds no cgroup controllers; mount cgroups there or point --cgroups_hierarchy at the mount")]
    Missing { path: PathBuf },
    #[error("cgroups hierarchy {path} is not writable ({source}); remount it read-write or change --cgroups_hierarchy")]
    ReadOnly {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cgroups controller '{controller}' is not available at {path}; enable it there or change --cgroups_hierarchy (and --isolation)")]
    NoController { controller: String, path: PathBuf },
    #[error("invalid --cgroups_root {0:?}: must be a relative path without '..'")]
    BadRoot(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CgroupsError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        CgroupsError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A detected hierarchy plus the root that holds the containers' cgroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: Version,
    pub base: PathBuf,
    pub root: String,
    pub enable_cfs: bool,
}

impl Hierarchy {
    /// Detects v1 or v2 at `config.hierarchy`: a `cgroup.controllers` file means a cgroup2
    /// mount; a `memory`/`cpu`/`freezer` directory with a `tasks` file means v1 controllers.
    pub fn detect(config: &CgroupsConfig) -> Result<Hierarchy, CgroupsError> {
        let root = config.root.trim_matches('/').to_string();
        if root.is_empty()
            || root
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty())
        {
            return Err(CgroupsError::BadRoot(config.root.clone()));
        }
        let base = config.hierarchy.clone();
        let version = if base.join("cgroup.controllers").is_file() {
            Version::V2
        } else if ["memory", "cpu", "freezer", "pids"]
            .iter()
            .any(|c| base.join(c).join("tasks").is_file())
        {
            Version::V1
        } else {
            return Err(CgroupsError::Missing { path: base });
        };
        let hierarchy = Hierarchy {
            version,
            base,
            root,
            enable_cfs: config.enable_cfs,
        };
        tracing::info!(version = ?version, hierarchy = %hierarchy.base.display(),
            root = %hierarchy.root, "cgroups hierarchy detected");
        Ok(hierarchy)
    }

    /// The directory of a controller's hierarchy (v1) or the unified mount (v2).
    pub fn controller_mount(&self, controller: &str) -> PathBuf {
        match self.version {
            Version::V1 => self.base.join(controller),
            Version::V2 => self.base.clone(),
        }
    }

    /// `<mount>/<root>`: where every container's cgroup is created.
    pub fn root_dir(&self, controller: &str) -> PathBuf {
        self.controller_mount(controller).join(&self.root)
    }

    /// `<mount>/<root>/<container>`.
    pub fn container_dir(&self, controller: &str, container: &ContainerId) -> PathBuf {
        self.root_dir(controller).join(container.as_str())
    }

    /// Makes sure `controller` can be used: its hierarchy exists (v1) or it is enabled for
    /// children of the root (v2, where it enables it in the root's `subtree_control`), and
    /// the root cgroup can be created there.
    pub fn ensure_controller(&self, controller: &str) -> Result<PathBuf, CgroupsError> {
        let mount = self.controller_mount(controller);
        match self.version {
            Version::V1 => {
                if !mount.join("tasks").is_file() {
                    return Err(CgroupsError::NoController {
                        controller: controller.into(),
                        path: mount,
                    });
                }
            }
            Version::V2 => {
                let available = std::fs::read_to_string(mount.join("cgroup.controllers"))
                    .map_err(|e| CgroupsError::io("read", &mount.join("cgroup.controllers"), e))?;
                if controller != "freezer" && !available.split_whitespace().any(|c| c == controller)
                {
                    return Err(CgroupsError::NoController {
                        controller: controller.into(),
                        path: mount,
                    });
                }
            }
        }
        let root = self.root_dir(controller);
        create_dir(&root)?;
        if self.version == Version::V2 && controller != "freezer" {
            v2::enable_controller(&mount, &self.root, controller)?;
        }
        Ok(root)
    }

    /// Containers with a cgroup under the root for `controller` (for orphan detection).
    pub fn containers(&self, controller: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root_dir(controller)) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }
}

/// Creates a cgroup directory, telling a read-only hierarchy apart from other failures.
pub(crate) fn create_dir(path: &Path) -> Result<(), CgroupsError> {
    match std::fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
            ) || e.raw_os_error() == Some(30) =>
        {
            Err(CgroupsError::ReadOnly {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Err(e) => Err(CgroupsError::io("create", path, e)),
    }
}

/// Writes one cgroup interface file.
pub(crate) fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), CgroupsError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| CgroupsError::io("write", &path, e))
}

pub(crate) fn read_file(dir: &Path, file: &str) -> Result<String, CgroupsError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| CgroupsError::io("read", &path, e))
}

/// Moves a process into the cgroup at `dir`.
pub(crate) fn add_process(dir: &Path, pid: u32) -> Result<(), CgroupsError> {
    write_file(dir, "cgroup.procs", &pid.to_string())
}

/// `key value` lines (`cpu.stat`, `memory.stat`, `cpuacct.stat`, `memory.events`).
pub fn parse_flat_keyed(text: &str) -> std::collections::HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(path: &Path) -> CgroupsConfig {
        CgroupsConfig {
            hierarchy: path.to_path_buf(),
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_hierarchy_is_an_error_naming_the_path_and_the_flag() {
        let err = Hierarchy::detect(&config(Path::new("/nonexistent/cgroups"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/cgroups"), "{text}");
        assert!(text.contains("--cgroups_hierarchy"), "{text}");
    }

    #[test]
    fn detection_tells_a_unified_mount_from_v1_controller_mounts() {
        let v2 = tempfile::tempdir().expect("tempdir");
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory\n").expect("write");
        assert_eq!(
            Hierarchy::detect(&config(v2.path())).expect("v2").version,
            Version::V2
        );
        let v1 = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(v1.path().join("memory")).expect("mkdir");
        std::fs::write(v1.path().join("memory/tasks"), "").expect("write");
        assert_eq!(
            Hierarchy::detect(&config(v1.path())).expect("v1").version,
            Version::V1
        );
    }

    #[test]
    fn a_cgroups_root_that_escapes_the_hierarchy_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cgroup.controllers"), "").expect("write");
        for bad in ["", "/", "../x", "a/../b"] {
            let mut c = config(dir.path());
            c.root = bad.into();
            assert!(
                matches!(Hierarchy::detect(&c), Err(CgroupsError::BadRoot(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_read_only_hierarchy_is_an_error_naming_the_path_and_the_flag() {
        // sysfs refuses new directories even to root (EPERM), like a read-only mount.
        let err = create_dir(Path::new("/sys/kernel/mesos-test-cgroup")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/sys/kernel/mesos-test-cgroup"), "{text}");
        assert!(matches!(err, CgroupsError::ReadOnly { .. }), "{text}");
        assert!(text.contains("--cgroups_hierarchy"), "{text}");
    }

    #[test]
    fn flat_keyed_files_parse_and_skip_malformed_lines() {
        let m = parse_flat_keyed("nr_periods 10\nnr_throttled 3\nbogus\nthrottled_time x\n");
        assert_eq!(m.get("nr_periods"), Some(&10));
        assert_eq!(m.get("nr_throttled"), Some(&3));
        assert_eq!(m.len(), 2);
    }
}
