//! `--master=zk://…` (or `file://` naming a file that holds one): the leading master's
//! `host:port`, asked of ZooKeeper through mesos-zookeeper's `Detector`, the same group
//! genuine masters and ours join. The CLI is synchronous: detection runs on a small
//! runtime of its own and gives up after a timeout.

use std::net::Ipv4Addr;
use std::time::Duration;

use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions, UrlError, ZkUrl};

/// How long the CLI waits for ZooKeeper to name a leader.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no master address came out of a ZooKeeper URL.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("bad --master URL: {0}")]
    Url(#[from] UrlError),
    #[error(
        "no leading master in {url} after {waited:?} (is ZooKeeper up, and a master elected?)"
    )]
    NoLeader { url: String, waited: Duration },
    #[error("cannot start the detection runtime: {0}")]
    Runtime(std::io::Error),
}

/// Whether `master` names a ZooKeeper group rather than a `host:port`.
pub fn is_zk(master: &str) -> bool {
    master.starts_with("zk://") || master.starts_with("file://")
}

/// The address operators' endpoints are served at: `address` (ip, port), else the pid's,
/// else the packed `ip`/`port` fields.
pub fn address_of(info: &MasterInfo) -> Option<String> {
    if let Some(a) = &info.address {
        if let (Some(ip), Ok(port)) = (&a.ip, u16::try_from(a.port)) {
            return Some(format!("{ip}:{port}"));
        }
    }
    if let Some((_, addr)) = info.pid.as_deref().and_then(|p| p.split_once('@')) {
        return Some(addr.to_string());
    }
    let port = u16::try_from(info.port).ok()?;
    Some(format!("{}:{port}", Ipv4Addr::from(info.ip.to_le_bytes())))
}

/// The leading master's `host:port` for a `zk://` (or `file://`) URL, within `timeout`.
pub fn leader(master: &str, timeout: Duration) -> Result<String, DetectError> {
    let url = ZkUrl::parse(master)?;
    let shown = url.to_string();
    // A thread of its own: callers may already run inside an async runtime.
    let found = std::thread::spawn(move || -> Result<Option<String>, std::io::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(async move {
            let detector = Detector::start(url, SessionOptions::default());
            let mut rx = detector.watch();
            tokio::time::timeout(timeout, async {
                loop {
                    if let Some(address) = rx.borrow_and_update().as_ref().and_then(address_of) {
                        return Some(address);
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            })
            .await
            .ok()
            .flatten()
        }))
    })
    .join()
    .unwrap_or(Ok(None))
    .map_err(DetectError::Runtime)?;
    found.ok_or(DetectError::NoLeader {
        url: shown,
        waited: timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::Address;

    #[test]
    fn a_master_info_gives_its_address_then_its_pid_then_its_packed_ip() {
        let mut info = MasterInfo {
            id: "m".into(),
            ip: u32::from_le_bytes([10, 0, 0, 7]),
            port: 5050,
            pid: Some("master@10.0.0.8:5051".into()),
            address: Some(Address {
                hostname: Some("m1".into()),
                ip: Some("10.0.0.9".into()),
                port: 5052,
            }),
            ..Default::default()
        };
        assert_eq!(address_of(&info).as_deref(), Some("10.0.0.9:5052"));
        info.address = None;
        assert_eq!(address_of(&info).as_deref(), Some("10.0.0.8:5051"));
        info.pid = None;
        assert_eq!(address_of(&info).as_deref(), Some("10.0.0.7:5050"));
    }

    #[test]
    fn zk_and_file_urls_are_recognised_and_bad_ones_refused() {
        assert!(is_zk("zk://127.0.0.1:2181/mesos"));
        assert!(is_zk("file:///etc/mesos/zk"));
        assert!(!is_zk("127.0.0.1:5050"));
        assert!(matches!(
            leader("zk://127.0.0.1:2181/", Duration::from_millis(10)),
            Err(DetectError::Url(_))
        ));
    }

    #[test]
    fn an_unreachable_zookeeper_names_no_leader_within_the_timeout() {
        let started = std::time::Instant::now();
        let got = leader("zk://127.0.0.1:1/mesos", Duration::from_millis(300));
        assert!(matches!(got, Err(DetectError::NoLeader { .. })), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
