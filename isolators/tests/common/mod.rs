//! Helpers shared by the isolator integration tests: executor infos, held children (a
//! child that waits on its stdin until the test has isolated it, as a launcher would hold
//! it), unique cgroups roots that are checked empty and removed, and bounded polling.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mesos_isolators::cgroups::{CgroupsConfig, Hierarchy, Version};
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::ContainerId;
use mesos_proto::mesos::{ExecutorId, ExecutorInfo};

pub fn executor(resources: &[(&str, f64)]) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId {
            value: "executor".into(),
        },
        resources: resources
            .iter()
            .map(|(n, v)| scalar_resource(n, *v))
            .collect(),
        ..Default::default()
    }
}

pub fn container(name: &str) -> ContainerId {
    ContainerId::new(format!("{name}-{}", std::process::id())).expect("valid container id")
}

/// A `sh -c <script>` child that blocks until [`Held::release`], so it can be put into
/// cgroups before it does anything (the launcher will do the same with a pipe).
pub struct Held {
    pub child: Child,
    stdin: Option<ChildStdin>,
}

impl Held {
    pub fn spawn(script: &str) -> Held {
        Held::spawn_command(
            Command::new("sh")
                .arg("-c")
                .arg(format!("read _go; {script}")),
        )
    }

    pub fn spawn_command(cmd: &mut Command) -> Held {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdin = child.stdin.take();
        Held { child, stdin }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            stdin.write_all(b"go\n").expect("release child");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub fn poll_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Whether `pid` still runs (a zombie counts as gone: it was killed and awaits reaping).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

static NEXT_ROOT: AtomicU32 = AtomicU32::new(0);

/// A unique `--cgroups_root` for one test; dropping it removes whatever is left.
pub struct TestRoot {
    pub config: CgroupsConfig,
    controllers: Vec<PathBuf>,
}

impl TestRoot {
    pub fn new(hierarchy: &Path, cfs: bool) -> TestRoot {
        let n = NEXT_ROOT.fetch_add(1, Ordering::SeqCst);
        let root = format!("mesos-test-{}-{n}", std::process::id());
        TestRoot {
            config: CgroupsConfig {
                hierarchy: hierarchy.to_path_buf(),
                root,
                enable_cfs: cfs,
            },
            controllers: Vec::new(),
        }
    }

    pub fn hierarchy(&mut self) -> Hierarchy {
        let h = Hierarchy::detect(&self.config).expect("detect hierarchy");
        self.controllers = match h.version {
            Version::V1 => ["cpu", "cpuacct", "memory", "pids", "freezer"]
                .iter()
                .map(|c| h.root_dir(c))
                .collect(),
            Version::V2 => vec![h.root_dir("")],
        };
        h
    }

    /// Container cgroups left under the root, in any controller.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.controllers
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|entries| entries.filter_map(Result::ok))
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for TestRoot {
    /// A failed test must not leak: kill what is left in its cgroups, then remove them.
    fn drop(&mut self) {
        for dir in self.leftovers() {
            for _ in 0..100 {
                for pid in mesos_isolators::cgroups::destroy::procs(&dir) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for dir in &self.controllers {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The v1 hierarchy of this machine, or None (with a SKIPPED line) when there is none.
pub fn v1_or_skip(test: &str) -> Option<PathBuf> {
    let base = PathBuf::from("/sys/fs/cgroup");
    if base.join("memory/tasks").is_file() && base.join("cpu/tasks").is_file() {
        Some(base)
    } else {
        eprintln!("SKIPPED {test}: no cgroups v1 memory+cpu controllers under /sys/fs/cgroup");
        None
    }
}
