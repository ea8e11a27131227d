//! `--master=zk://…` in the scheduler library, against a real ZooKeeper (Debian's package)
//! where a contender publishes a MasterInfo exactly as a genuine master does. Skipped where
//! ZooKeeper is not installed.

use std::time::Duration;

use mesos_proto::mesos::MasterInfo;
use mesos_scheduler::detection::detect_leader;
use mesos_scheduler::master::{parse_master, MasterError};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::{Candidacy, Contender, SessionOptions, ZkUrl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_master_url_resolves_to_the_leading_masters_pid() {
    let Some(zk) = ZooKeeperServer::start("scheduler_zk_master") else {
        return;
    };
    let spec = zk.url("/mesos");
    let url = ZkUrl::parse(&spec).unwrap();
    // No leader yet: a clear error after the timeout, not a hang.
    let none = tokio::task::spawn_blocking({
        let url = url.clone();
        move || detect_leader(&url, Duration::from_millis(500))
    })
    .await
    .unwrap();
    assert!(matches!(none, Err(MasterError::NoLeader { .. })));

    let info = MasterInfo {
        id: "m1".into(),
        ip: 16777343,
        port: 5999,
        pid: Some("master@127.0.0.1:5999".into()),
        ..Default::default()
    };
    let contender = Contender::start(url, info, SessionOptions::default());
    let mut rx = contender.watch();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(Candidacy::is_leading))
        .await
        .unwrap()
        .unwrap();
    let pid = tokio::task::spawn_blocking(move || parse_master(&spec))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pid.to_string(), "master@127.0.0.1:5999");
}
