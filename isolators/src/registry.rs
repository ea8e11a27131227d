//! Isolators by Mesos name, `--isolation` parsing, and start-up of the selected set.
//!
//! `--isolation=posix/cpu,cgroups/mem,cpu-hog-guard@10.0.0.5:5051` selects two built-in
//! isolators and one external isolator named by its UPID (any OS process that speaks the
//! protocol in [`crate::protocol`]).

use std::time::Duration;

use libprocess::{Runtime, Upid};

use crate::cgroups::{CgroupsConfig, CgroupsError};
use crate::handle::{HandleError, IsolatorHandle};

/// Every built-in isolator, by the name Mesos gives it.
pub const BUILTIN: [&str; 8] = [
    "posix/cpu",
    "posix/mem",
    "cgroups/cpu",
    "cgroups/mem",
    "cgroups/pids",
    "namespaces/pid",
    "filesystem/posix",
    "disk/du",
];

/// Mesos's default `--isolation`.
pub const DEFAULT_ISOLATION: &str = "posix/cpu,posix/mem";

/// One entry of `--isolation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsolatorSpec {
    Builtin(&'static str),
    External(Upid),
}

/// Why `--isolation` or the isolators it names could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown isolator '{name}' in --isolation; valid isolators: {}; an external isolator is named by its UPID (id@ip:port)", valid.join(", "))]
    Unknown { name: String, valid: Vec<String> },
    #[error("isolator '{0}' is listed twice in --isolation")]
    Duplicate(String),
    #[error("--isolation is empty")]
    Empty,
    #[error("using 'posix/disk' and 'disk/du' together in --isolation is not allowed ('posix/disk' is the old name of 'disk/du')")]
    PosixDiskAndDiskDu,
    #[error(transparent)]
    Cgroups(#[from] CgroupsError),
    #[error("cannot start isolator '{name}': {source}")]
    Start { name: String, source: HandleError },
}

/// Parses `--isolation` (comma separated; blanks ignored). Mesos's deprecated spellings are
/// accepted with a warning, as Mesos does: `process` (= `posix/cpu,posix/mem`), `cgroups`
/// (= `cgroups/cpu,cgroups/mem`) and `posix/disk` (= `disk/du`, not both).
pub fn parse_isolation(flag: &str) -> Result<Vec<IsolatorSpec>, RegistryError> {
    let flag = match flag.trim() {
        "process" => {
            tracing::warn!("--isolation=process is deprecated; use posix/cpu,posix/mem");
            "posix/cpu,posix/mem"
        }
        "cgroups" => {
            tracing::warn!("--isolation=cgroups is deprecated; use cgroups/cpu,cgroups/mem");
            "cgroups/cpu,cgroups/mem"
        }
        other => other,
    };
    let entries: Vec<&str> = flag
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if entries.contains(&"posix/disk") {
        if entries.contains(&"disk/du") {
            return Err(RegistryError::PosixDiskAndDiskDu);
        }
        tracing::warn!("'posix/disk' has been renamed 'disk/du'; update --isolation");
    }
    let mut specs = Vec::new();
    for raw in entries {
        let raw = if raw == "posix/disk" { "disk/du" } else { raw };
        let spec = if let Some(name) = BUILTIN.iter().find(|n| **n == raw) {
            IsolatorSpec::Builtin(name)
        } else if raw.contains('@') {
            match Upid::parse(raw) {
                Ok(upid) => IsolatorSpec::External(upid),
                Err(_) => return Err(unknown(raw)),
            }
        } else {
            return Err(unknown(raw));
        };
        if specs.contains(&spec) {
            return Err(RegistryError::Duplicate(raw.to_string()));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(RegistryError::Empty);
    }
    Ok(specs)
}

/// The isolators the Mesos containerizer actually runs for `specs`: exactly one filesystem
/// isolator is required, so `filesystem/posix` is appended when `--isolation` names none
/// (as Mesos does when it creates its containerizer).
pub fn with_filesystem_isolator(mut specs: Vec<IsolatorSpec>) -> Vec<IsolatorSpec> {
    let has_filesystem = specs
        .iter()
        .any(|s| matches!(s, IsolatorSpec::Builtin(n) if n.starts_with("filesystem/")));
    if !has_filesystem {
        specs.push(IsolatorSpec::Builtin("filesystem/posix"));
    }
    specs
}

fn unknown(name: &str) -> RegistryError {
    RegistryError::Unknown {
        name: name.to_string(),
        valid: BUILTIN.iter().map(|s| s.to_string()).collect(),
    }
}

/// Flags the built-in isolators read (the agent's `--cgroups_*` and friends).
#[derive(Clone, Debug)]
pub struct IsolationFlags {
    pub cgroups: CgroupsConfig,
    /// `posix/mem` kills nothing itself; when set it reports a memory limitation once the
    /// container's resident memory exceeds its `mem`.
    pub posix_mem_enforce: bool,
    /// How often polling isolators (`posix/mem` enforcement, `disk/du`) look.
    pub poll_interval: Duration,
    /// `disk/du`: report a disk limitation when the sandbox outgrows its `disk`.
    pub enforce_container_disk_quota: bool,
    /// How long a handle waits for an answer.
    pub timeout: Duration,
    /// `--switch_user`: executors run as their task's user (when the agent is root) and
    /// isolators are told that user (`filesystem/posix` chowns the sandbox to it).
    pub switch_user: bool,
}

impl Default for IsolationFlags {
    fn default() -> Self {
        IsolationFlags {
            cgroups: CgroupsConfig::default(),
            posix_mem_enforce: false,
            poll_interval: Duration::from_secs(1),
            enforce_container_disk_quota: false,
            timeout: crate::handle::DEFAULT_TIMEOUT,
            switch_user: true,
        }
    }
}

/// Starts every isolator in `specs` on `runtime` (built-ins as actors there, externals
/// by handle only) and returns their handles in order.
pub fn start_isolators(
    runtime: &Runtime,
    specs: &[IsolatorSpec],
    flags: &IsolationFlags,
) -> Result<Vec<IsolatorHandle>, RegistryError> {
    let mut handles = Vec::new();
    // All cgroups isolators share one detected hierarchy; detect once, fail early.
    let needs_cgroups = specs
        .iter()
        .any(|s| matches!(s, IsolatorSpec::Builtin(n) if n.starts_with("cgroups/")));
    let hierarchy = if needs_cgroups {
        Some(crate::cgroups::Hierarchy::detect(&flags.cgroups)?)
    } else {
        None
    };
    for spec in specs {
        let handle = match spec {
            IsolatorSpec::External(upid) => {
                IsolatorHandle::connect(runtime, upid.to_string(), upid.clone(), flags.timeout)
                    .map_err(|source| RegistryError::Start {
                        name: upid.to_string(),
                        source,
                    })?
            }
            IsolatorSpec::Builtin(name) => start_builtin(runtime, name, hierarchy.as_ref(), flags)?,
        };
        tracing::info!(isolator = handle.name(), "isolator started");
        handles.push(handle);
    }
    Ok(handles)
}

fn start_builtin(
    runtime: &Runtime,
    name: &'static str,
    hierarchy: Option<&crate::cgroups::Hierarchy>,
    flags: &IsolationFlags,
) -> Result<IsolatorHandle, RegistryError> {
    use crate::{cgroups, disk, filesystem, namespaces, posix};
    let t = flags.timeout;
    let start = |r: Result<IsolatorHandle, HandleError>| {
        r.map_err(|source| RegistryError::Start {
            name: name.to_string(),
            source,
        })
    };
    let h = || -> Result<cgroups::Hierarchy, RegistryError> {
        hierarchy.cloned().ok_or_else(|| RegistryError::Start {
            name: name.to_string(),
            source: HandleError::Spawn("no cgroups hierarchy".into()),
        })
    };
    match name {
        "posix/cpu" => start(IsolatorHandle::spawn_local(
            runtime,
            posix::PosixCpu::default(),
            t,
        )),
        "posix/mem" => start(IsolatorHandle::spawn_local(
            runtime,
            posix::PosixMem::new(flags.posix_mem_enforce, flags.poll_interval),
            t,
        )),
        "cgroups/cpu" => {
            let iso = cgroups::CpuIsolator::new(h()?)?;
            start(IsolatorHandle::spawn_local(runtime, iso, t))
        }
        "cgroups/mem" => {
            let iso = cgroups::MemIsolator::new(h()?)?;
            start(IsolatorHandle::spawn_local(runtime, iso, t))
        }
        "cgroups/pids" => {
            let iso = cgroups::PidsIsolator::new(h()?)?;
            start(IsolatorHandle::spawn_local(runtime, iso, t))
        }
        "namespaces/pid" => start(IsolatorHandle::spawn_local(
            runtime,
            namespaces::PidNamespace::default(),
            t,
        )),
        "filesystem/posix" => start(IsolatorHandle::spawn_local(
            runtime,
            filesystem::PosixFilesystem::default(),
            t,
        )),
        "disk/du" => start(IsolatorHandle::spawn_local(
            runtime,
            disk::DiskDu::new(flags.poll_interval, flags.enforce_container_disk_quota),
            t,
        )),
        other => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_flag_selects_builtins_and_upids_in_order() {
        let specs = parse_isolation("cgroups/cpu, cgroups/mem,guard(1)@127.0.0.1:5051").unwrap();
        assert_eq!(specs[0], IsolatorSpec::Builtin("cgroups/cpu"));
        assert_eq!(specs[1], IsolatorSpec::Builtin("cgroups/mem"));
        match &specs[2] {
            IsolatorSpec::External(u) => assert_eq!(u.to_string(), "guard(1)@127.0.0.1:5051"),
            other => panic!("expected an external isolator, got {other:?}"),
        }
        assert_eq!(parse_isolation(DEFAULT_ISOLATION).unwrap().len(), 2);
    }

    #[test]
    fn unknown_isolator_name_is_an_error_listing_every_valid_name() {
        let err = parse_isolation("posix/cpu,cgroups/memory").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown isolator 'cgroups/memory'"), "{text}");
        for name in BUILTIN {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert!(matches!(
            parse_isolation("x@notanaddress"),
            Err(RegistryError::Unknown { .. })
        ));
    }

    #[test]
    fn filesystem_posix_is_appended_only_when_no_filesystem_isolator_is_listed() {
        let specs = with_filesystem_isolator(parse_isolation(DEFAULT_ISOLATION).unwrap());
        assert_eq!(
            specs,
            [
                IsolatorSpec::Builtin("posix/cpu"),
                IsolatorSpec::Builtin("posix/mem"),
                IsolatorSpec::Builtin("filesystem/posix"),
            ]
        );
        let listed = parse_isolation("filesystem/posix,cgroups/mem").unwrap();
        assert_eq!(with_filesystem_isolator(listed.clone()), listed);
    }

    #[test]
    fn mesos_deprecated_isolation_spellings_map_to_their_isolators() {
        let b = IsolatorSpec::Builtin;
        assert_eq!(
            parse_isolation("process").unwrap(),
            [b("posix/cpu"), b("posix/mem")]
        );
        assert_eq!(
            parse_isolation("cgroups").unwrap(),
            [b("cgroups/cpu"), b("cgroups/mem")]
        );
        assert_eq!(
            parse_isolation("posix/cpu,posix/disk").unwrap(),
            [b("posix/cpu"), b("disk/du")]
        );
        assert!(matches!(
            parse_isolation("posix/disk,disk/du"),
            Err(RegistryError::PosixDiskAndDiskDu)
        ));
    }

    #[test]
    fn empty_or_duplicated_isolation_is_rejected() {
        assert!(matches!(parse_isolation(" , "), Err(RegistryError::Empty)));
        assert!(matches!(
            parse_isolation("posix/mem,posix/mem"),
            Err(RegistryError::Duplicate(_))
        ));
    }
}
