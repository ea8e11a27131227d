//! Killing every process of a container's cgroups and removing them.
//!
//! A process that double-forks or calls `setsid` is still in its cgroup, so the cgroup is
//! the one reliable list of a container's processes. v1: freeze the container's freezer
//! cgroup so nothing can fork while we kill, SIGKILL every member, thaw so the kills are
//! delivered, wait until it is empty, remove it. v2: write `cgroup.kill`, which the kernel
//! applies to the whole subtree atomically. Then each controller's cgroup is emptied the
//! same way (a member the freezer missed is killed there) and removed.

use std::path::Path;
use std::time::{Duration, Instant};

use cgroups_rs::freezer::FreezerController;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{read_file, write_file, CgroupsError, Hierarchy, Version};
use crate::protocol::ContainerId;

/// How long a cgroup may take to empty after SIGKILL before destroy gives up.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(10);

/// The pids listed in `<dir>/cgroup.procs` (empty if the cgroup is gone).
pub fn procs(dir: &Path) -> Vec<i32> {
    read_file(dir, "cgroup.procs")
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn kill_all(dir: &Path) -> usize {
    let pids = procs(dir);
    for pid in &pids {
        // ESRCH: it exited meanwhile, which is what we want.
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    pids.len()
}

/// SIGKILLs members until the cgroup is empty, then removes it (absent is fine).
fn empty_and_remove(dir: &Path) -> Result<(), CgroupsError> {
    if !dir.exists() {
        return Ok(());
    }
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        kill_all(dir);
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(CgroupsError::io("remove", dir, e));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Kills through the freezer (v1), so members cannot fork away during the kill.
fn freeze_and_kill(dir: &Path) -> Result<(), CgroupsError> {
    let freezer = FreezerController::new(dir.to_path_buf(), false);
    if let Err(e) = freezer.freeze() {
        tracing::warn!(cgroup = %dir.display(), error = %e, "cannot freeze; killing unfrozen");
    } else {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            match read_file(dir, "freezer.state") {
                Ok(s) if s.trim() == "FROZEN" => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => break,
            }
        }
    }
    let killed = kill_all(dir);
    let _ = freezer.thaw();
    tracing::debug!(cgroup = %dir.display(), killed, "killed frozen cgroup");
    empty_and_remove(dir)
}

/// Kills through `cgroup.kill` (v2, Linux 5.14+), falling back to a kill loop.
fn cgroup_kill(dir: &Path) -> Result<(), CgroupsError> {
    if dir.join("cgroup.kill").exists() {
        write_file(dir, "cgroup.kill", "1")?;
    }
    empty_and_remove(dir)
}

/// Destroys the container's cgroups under every controller in `controllers` (plus the
/// freezer on v1): no process of it survives, no cgroup of it remains.
pub fn destroy(
    hierarchy: &Hierarchy,
    controllers: &[&str],
    container: &ContainerId,
) -> Result<(), CgroupsError> {
    match hierarchy.version {
        Version::V1 => {
            let freezer = hierarchy.container_dir("freezer", container);
            if freezer.exists() {
                freeze_and_kill(&freezer)?;
            }
            for c in controllers {
                empty_and_remove(&hierarchy.container_dir(c, container))?;
            }
        }
        Version::V2 => cgroup_kill(&hierarchy.container_dir("", container))?,
    }
    tracing::info!(container = %container, "destroyed container cgroups");
    Ok(())
}

/// Runs [`destroy`] off the actor's thread (it waits for processes to die).
pub async fn destroy_async(
    hierarchy: Hierarchy,
    controllers: Vec<&'static str>,
    container: ContainerId,
) -> Result<(), CgroupsError> {
    let joined =
        tokio::task::spawn_blocking(move || destroy(&hierarchy, &controllers, &container)).await;
    match joined {
        Ok(result) => result,
        Err(e) => Err(CgroupsError::io(
            "destroy",
            Path::new("<cgroup>"),
            std::io::Error::other(e.to_string()),
        )),
    }
}
