//! `disk/du`: the sandbox's size from a periodic `du -k -s`, reported as
//! `disk_used_bytes`; with enforcement, a disk limitation once it outgrows its `disk`.
//! `du` runs on a blocking thread so a large sandbox never stalls the actor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use crate::isolator::{
    mb_to_bytes, now_secs, ready, scalar, scalar_resource, sorted, Isolator, IsolatorError,
    IsolatorFuture,
};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation, LimitationReason};

#[derive(Debug)]
struct Info {
    directory: PathBuf,
    disk_mb: Option<f64>,
}

type Shared = Arc<Mutex<Info>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Info> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `disk/du` isolator.
#[derive(Debug)]
pub struct DiskDu {
    interval: Duration,
    enforce: bool,
    infos: HashMap<ContainerId, Shared>,
}

impl DiskDu {
    pub fn new(interval: Duration, enforce: bool) -> Self {
        DiskDu {
            interval,
            enforce,
            infos: HashMap::new(),
        }
    }

    fn get(&self, c: &ContainerId) -> Result<Shared, IsolatorError> {
        self.infos
            .get(c)
            .cloned()
            .ok_or_else(|| IsolatorError::UnknownContainer(c.clone()))
    }
}

/// Bytes used under `dir`, per `du -k -s` (1 KiB blocks).
pub fn du_bytes(dir: &Path) -> Result<u64, IsolatorError> {
    let out = std::process::Command::new("du")
        .arg("-k")
        .arg("-s")
        .arg(dir)
        .output()
        .map_err(|e| IsolatorError::failed(format!("cannot run du: {e}")))?;
    if !out.status.success() {
        return Err(IsolatorError::failed(format!(
            "du -k -s {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| IsolatorError::failed(format!("unexpected du output {text:?}")))?;
    Ok(kb.saturating_mul(1024))
}

async fn du_async(dir: PathBuf) -> Result<u64, IsolatorError> {
    tokio::task::spawn_blocking(move || du_bytes(&dir))
        .await
        .map_err(IsolatorError::failed)?
}

async fn poll_disk(info: Shared, interval: Duration) -> Result<Limitation, IsolatorError> {
    loop {
        tokio::time::sleep(interval).await;
        let (dir, disk_mb) = {
            let i = lock(&info);
            (i.directory.clone(), i.disk_mb)
        };
        let Some(disk_mb) = disk_mb else { continue };
        let Ok(used) = du_async(dir).await else {
            continue;
        };
        let quota = mb_to_bytes(disk_mb);
        if used > quota {
            tracing::info!(used, quota, "disk/du: sandbox exceeds its disk quota");
            return Ok(Limitation {
                resources: vec![scalar_resource("disk", disk_mb)],
                message: format!("Disk usage ({used}B) exceeds quota ({quota}B)"),
                reason: LimitationReason::Disk,
            });
        }
    }
}

impl Isolator for DiskDu {
    fn name(&self) -> &str {
        "disk/du"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.infos.keys())
    }

    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        for s in states {
            let info = Info {
                directory: s.directory,
                disk_mb: scalar(&s.executor_info.resources, "disk"),
            };
            self.infos
                .insert(s.container_id, Arc::new(Mutex::new(info)));
        }
        ready(Ok(()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        executor: &ExecutorInfo,
        directory: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.infos.contains_key(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        let info = Info {
            directory: directory.to_path_buf(),
            disk_mb: scalar(&executor.resources, "disk"),
        };
        self.infos.insert(c.clone(), Arc::new(Mutex::new(info)));
        ready(Ok(None))
    }

    fn isolate(&mut self, c: &ContainerId, _: u32) -> IsolatorFuture<()> {
        ready(self.get(c).map(|_| ()))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.get(c) {
            Ok(info) if self.enforce => Box::pin(poll_disk(info, self.interval)),
            Ok(_) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }

    fn update(&mut self, c: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()> {
        ready(self.get(c).map(|info| {
            lock(&info).disk_mb = scalar(resources, "disk");
        }))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        let info = match self.get(c) {
            Ok(i) => i,
            Err(e) => return ready(Err(e)),
        };
        let (dir, disk_mb) = {
            let i = lock(&info);
            (i.directory.clone(), i.disk_mb)
        };
        Box::pin(async move {
            let used = du_async(dir).await?;
            Ok(ResourceStatistics {
                timestamp: now_secs(),
                disk_used_bytes: Some(used),
                disk_limit_bytes: disk_mb.map(mb_to_bytes),
                ..Default::default()
            })
        })
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.infos.remove(c);
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn du_counts_what_the_sandbox_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = du_bytes(dir.path()).expect("du");
        std::fs::write(dir.path().join("blob"), vec![7u8; 3 << 20]).expect("write");
        let after = du_bytes(dir.path()).expect("du");
        assert!(after >= before + (3 << 20), "before {before} after {after}");
    }

    #[test]
    fn du_of_a_missing_sandbox_is_an_error_not_a_panic() {
        assert!(du_bytes(Path::new("/nonexistent/sandbox")).is_err());
    }
}
