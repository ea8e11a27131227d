//! `--master=zk://…` (or `file://` holding it): the agent finds the leading master through
//! ZooKeeper and follows it. A detector runs on its own small thread (it needs a tokio
//! runtime before the agent's runtime exists: the agent waits for a first leader, as genuine
//! agents do) and hands every new leader to `slave(1)`, which re-registers with it.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use libprocess::{Config, Upid};
use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions, ZkUrl};

use crate::slave::SlaveConfig;
use crate::{Agent, StartError};

/// The ZooKeeper URL `--master` names, if it names one (`zk://…`, or a file holding it).
pub fn zk_master(spec: &str) -> Result<Option<ZkUrl>, mesos_zookeeper::UrlError> {
    let spec = spec.trim();
    let is_zk = match spec.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim().starts_with("zk://"))
            .unwrap_or(false),
        None => spec.starts_with("zk://"),
    };
    if is_zk {
        ZkUrl::parse(spec).map(Some)
    } else {
        Ok(None)
    }
}

/// Stands for the master until the detector names one.
pub fn undetected_master() -> Upid {
    Upid::new("master", SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
}

/// The UPID a MasterInfo names (`pid`, else `master@ip:port`).
pub fn master_pid(info: &MasterInfo) -> Option<Upid> {
    if let Some(pid) = info.pid.as_deref() {
        if let Ok(upid) = Upid::parse(pid) {
            return Some(upid);
        }
    }
    let port = u16::try_from(info.port).ok()?;
    Some(Upid::new(
        "master",
        SocketAddrV4::new(Ipv4Addr::from(info.ip.to_le_bytes()), port),
    ))
}

/// Starts an agent that follows the leader of `url`: waits up to `first_leader` for one
/// (`Err` after that), then starts the agent with it and re-targets the agent on changes.
pub fn start_with_detector(
    rt_config: Config,
    config: SlaveConfig,
    url: ZkUrl,
    first_leader: Duration,
) -> Result<Agent, StartError> {
    let isolation = crate::IsolationConfig::default();
    start_isolated_with_detector(rt_config, config, isolation, url, first_leader)
}

/// [`start_with_detector`] with the containerizer's isolation.
pub fn start_isolated_with_detector(
    rt_config: Config,
    mut config: SlaveConfig,
    isolation: crate::IsolationConfig,
    url: ZkUrl,
    first_leader: Duration,
) -> Result<Agent, StartError> {
    let (leaders_tx, leaders) = std::sync::mpsc::channel::<Option<Upid>>();
    let (slave_tx, slave_rx) = std::sync::mpsc::channel::<libprocess::Pid<crate::slave::Slave>>();
    std::thread::Builder::new()
        .name("master-detector".into())
        .spawn(move || follow(url, leaders_tx, slave_rx))
        .map_err(|e| StartError::Detector(e.to_string()))?;
    let first = loop {
        match leaders.recv_timeout(first_leader) {
            Ok(Some(pid)) => break pid,
            Ok(None) => continue,
            Err(_) => {
                return Err(StartError::Detector(format!(
                    "no leading master detected within {first_leader:?}"
                )))
            }
        }
    };
    tracing::info!(master = %first, "detected the leading master");
    config.master = first;
    let agent = crate::start_isolated(rt_config, config, isolation)?;
    // From now on the detector thread talks to the agent directly.
    let _ = slave_tx.send(agent.slave.clone());
    Ok(agent)
}

fn follow(
    url: ZkUrl,
    first: std::sync::mpsc::Sender<Option<Upid>>,
    slave: std::sync::mpsc::Receiver<libprocess::Pid<crate::slave::Slave>>,
) {
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
        // Until the agent runs, leaders go to `start_with_detector`.
        let mut sent = None;
        let pid = loop {
            let leader = watch.borrow_and_update().as_ref().and_then(master_pid);
            if leader.is_some() && leader != sent {
                let _ = first.send(leader.clone());
                sent = leader;
            }
            match slave.try_recv() {
                Ok(pid) => break pid,
                // The agent did not start: nothing to follow for.
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), watch.changed()).await;
        };
        // Then every leader goes to the agent (which ignores the one it already has); its
        // MasterInfo id tells a master that leads again after a demotion from the same one.
        loop {
            let (leader, id) = {
                let info = watch.borrow_and_update();
                let info = info.as_ref();
                (info.and_then(master_pid), info.map(|i| i.id.clone()))
            };
            if !pid.is_running() {
                return;
            }
            pid.dispatch("master_detected", move |s, ctx| {
                s.master_detected(ctx, leader, id)
            });
            if watch.changed().await.is_err() {
                return;
            }
        }
    });
}
