//! Which master the simulation talks to: a fixed `ip:port` (`master@ip:port`), or the leader
//! of a `zk://` group (genuine `json.info_` nodes, ours or genuine masters'), followed on one
//! ZooKeeper session for the whole simulation rather than one per simulated agent.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use libprocess::Upid;
use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions, ZkUrl};

use crate::Simulation;

/// `--master`.
#[derive(Debug, Clone)]
pub enum MasterSpec {
    Fixed(Upid),
    Zk(ZkUrl),
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("invalid --master '{spec}': {reason}")]
    Invalid { spec: String, reason: String },
    #[error("cannot start the master detector: {0}")]
    Thread(String),
}

impl MasterSpec {
    /// `host:port`, `master@host:port`, `zk://…` or `file://` holding a `zk://` URL.
    pub fn parse(spec: &str) -> Result<MasterSpec, DetectError> {
        let spec = spec.trim();
        let invalid = |reason: String| DetectError::Invalid {
            spec: spec.to_string(),
            reason,
        };
        if spec.starts_with("zk://") || spec.starts_with("file://") {
            return ZkUrl::parse(spec)
                .map(MasterSpec::Zk)
                .map_err(|e| invalid(e.to_string()));
        }
        let text = if spec.contains('@') {
            spec.to_string()
        } else {
            format!("master@{spec}")
        };
        Upid::resolve(&text)
            .map(MasterSpec::Fixed)
            .map_err(|e| invalid(e.to_string()))
    }
}

/// The UPID a MasterInfo names (`pid`, else `master@ip:port`).
pub fn master_pid(info: &MasterInfo) -> Option<Upid> {
    if let Some(upid) = info.pid.as_deref().and_then(|p| Upid::parse(p).ok()) {
        return Some(upid);
    }
    let port = u16::try_from(info.port).ok()?;
    Some(Upid::new(
        "master",
        SocketAddrV4::new(Ipv4Addr::from(info.ip.to_le_bytes()), port),
    ))
}

/// Points the simulation at its master: at once for a fixed one; for `zk://`, on a thread
/// that hands every newly detected leader to [`Simulation::master_detected`].
pub fn follow(spec: MasterSpec, sim: Arc<Simulation>) -> Result<(), DetectError> {
    let url = match spec {
        MasterSpec::Fixed(pid) => {
            sim.master_detected(pid);
            return Ok(());
        }
        MasterSpec::Zk(url) => url,
    };
    std::thread::Builder::new()
        .name("sim-master-detector".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the master detector");
                    return;
                }
            };
            rt.block_on(async move {
                let detector = Detector::start(url, SessionOptions::default());
                let mut watch = detector.watch();
                let mut current: Option<Upid> = None;
                loop {
                    let leader = watch.borrow_and_update().as_ref().and_then(master_pid);
                    match leader {
                        Some(pid) if current.as_ref() != Some(&pid) => {
                            current = Some(pid.clone());
                            sim.master_detected(pid);
                        }
                        Some(_) => {}
                        None => tracing::warn!("no leading master in ZooKeeper; waiting"),
                    }
                    if watch.changed().await.is_err() {
                        return;
                    }
                }
            });
        })
        .map(|_| ())
        .map_err(|e| DetectError::Thread(e.to_string()))
}
