//! `--master=zk://…` for frameworks and CLIs: asks ZooKeeper which master leads (the same
//! group genuine masters and ours join) and returns its UPID.
//!
//! `parse_master` detects once, when a framework starts; `Driver::run_following` also asks
//! again whenever its master is lost, and subscribes to the new leader; so does
//! `v1::run_following` before every re-subscription (besides following 307 redirects).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use libprocess::Upid;
use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions, ZkUrl};

use crate::master::MasterError;

/// How long [`detect_leader`] waits for a leader when called through `parse_master`.
pub const DETECTION_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Waits up to `timeout` for the leading master of `url` (on a thread of its own, so it
/// works from synchronous and asynchronous callers alike).
pub fn detect_leader(url: &ZkUrl, timeout: Duration) -> Result<Upid, MasterError> {
    detect(url, timeout, None)
}

/// How long [`detect_new_leader`] waits for ZooKeeper to name another master: Mesos's
/// default session timeout, the longest a dead leader's node normally outlives it.
pub const LOST_LEADER_WAIT: Duration = Duration::from_secs(10);

/// After losing `lost`: the leader ZooKeeper names once it is not `lost` any more (a dead
/// leader's node stays until its session expires), or, if `lost` still leads after
/// [`LOST_LEADER_WAIT`] (it was only a connection blip), `lost` itself.
pub fn detect_new_leader(url: &ZkUrl, timeout: Duration, lost: &Upid) -> Result<Upid, MasterError> {
    match detect(url, timeout.min(LOST_LEADER_WAIT), Some(lost.clone())) {
        Ok(pid) => Ok(pid),
        Err(_) => detect_leader(url, timeout),
    }
}

fn detect(url: &ZkUrl, timeout: Duration, not: Option<Upid>) -> Result<Upid, MasterError> {
    let url = url.clone();
    let shown = url.to_string();
    let handle = std::thread::Builder::new()
        .name("master-detection".into())
        .spawn(move || -> Option<Upid> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let detector = Detector::start(url, SessionOptions::default());
                let mut rx = detector.watch();
                let found = tokio::time::timeout(timeout, async {
                    loop {
                        let leader = rx.borrow_and_update().as_ref().and_then(master_pid);
                        if let Some(pid) = leader.filter(|p| Some(p) != not.as_ref()) {
                            return Some(pid);
                        }
                        if rx.changed().await.is_err() {
                            return None;
                        }
                    }
                })
                .await;
                found.ok().flatten()
            })
        })
        .map_err(|e| MasterError::NoLeader {
            url: shown.clone(),
            reason: e.to_string(),
        })?;
    match handle.join() {
        Ok(Some(pid)) => {
            tracing::info!(url = %shown, master = %pid, "detected the leading master");
            Ok(pid)
        }
        _ => Err(MasterError::NoLeader {
            url: shown,
            reason: format!("no leading master within {timeout:?}"),
        }),
    }
}
