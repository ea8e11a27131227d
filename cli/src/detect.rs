//! `--master=zk://…`: the CLI asks ZooKeeper which master leads (the `json.info_` group that
//! genuine masters and ours join), and asks again whenever that master cannot be reached
//! or answers as a standby (307/503), so a command survives a failover.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions, ZkUrl};

/// How long to wait for ZooKeeper to name a leader.
pub const DETECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The leader each `zk://` spec named last (forgotten when it fails us).
static LEADERS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Why no master address could be found.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("--master: {0}")]
    Url(#[from] mesos_zookeeper::UrlError),
    #[error("no leading master in {url} after {secs} s")]
    NoLeader { url: String, secs: u64 },
    #[error("cannot start the ZooKeeper client: {0}")]
    Runtime(std::io::Error),
}

/// Whether `master` is a ZooKeeper spec rather than `host:port`.
pub fn is_zk(master: &str) -> bool {
    master.starts_with("zk://")
}

/// `host:port` of the leader `spec` names: the one found last, unless `fresh`.
pub fn leader(spec: &str, fresh: bool) -> Result<String, DetectError> {
    if !fresh {
        if let Some(known) = LEADERS
            .lock()
            .ok()
            .and_then(|l| l.as_ref().and_then(|m| m.get(spec).cloned()))
        {
            return Ok(known);
        }
    }
    let url = ZkUrl::parse(spec)?;
    let address = detect(&url, DETECTION_TIMEOUT)?;
    if let Ok(mut l) = LEADERS.lock() {
        l.get_or_insert_with(HashMap::new)
            .insert(spec.to_string(), address.clone());
    }
    Ok(address)
}

/// `ip:port` of a MasterInfo (its `address`, else the network-order `ip` and `port`).
pub fn address_of(info: &MasterInfo) -> Option<String> {
    if let Some(a) = &info.address {
        if let (Some(ip), Ok(port)) = (&a.ip, u16::try_from(a.port)) {
            return Some(format!("{ip}:{port}"));
        }
    }
    let port = u16::try_from(info.port).ok()?;
    Some(format!("{}:{port}", Ipv4Addr::from(info.ip.to_le_bytes())))
}

fn detect(url: &ZkUrl, timeout: Duration) -> Result<String, DetectError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DetectError::Runtime)?;
    let found = rt.block_on(async {
        let detector = Detector::start(url.clone(), SessionOptions::default());
        let mut rx = detector.watch();
        let wait = async {
            rx.wait_for(|l| l.as_ref().and_then(address_of).is_some())
                .await
                .ok()
                .and_then(|leader| leader.as_ref().and_then(address_of))
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    });
    found.ok_or_else(|| DetectError::NoLeader {
        url: url.to_string(),
        secs: timeout.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::Address;

    #[test]
    fn a_master_info_gives_its_address_else_its_network_order_ip_and_port() {
        let mut info = MasterInfo {
            ip: u32::from_le_bytes([10, 0, 0, 7]),
            port: 5050,
            ..Default::default()
        };
        assert_eq!(address_of(&info).as_deref(), Some("10.0.0.7:5050"));
        info.address = Some(Address {
            ip: Some("192.168.1.2".into()),
            port: 5051,
            hostname: None,
        });
        assert_eq!(address_of(&info).as_deref(), Some("192.168.1.2:5051"));
        assert!(is_zk("zk://h:2181/mesos") && !is_zk("h:5050"));
    }
}
