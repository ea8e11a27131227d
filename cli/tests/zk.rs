//! `mesos --master=zk://…` against two of our masters and a real ZooKeeper (Debian's
//! package): a command reaches the leader, and after the leader dies the next command of the
//! same process finds the new one (the address it knew fails, so it asks ZooKeeper again).
//! Skipped where ZooKeeper is not installed.

use std::time::Duration;

use libprocess::{Config, Runtime};
use mesos_master::{Flags, MasterHandle};
use mesos_tests::zookeeper::ZooKeeperServer;

fn master(url: &str) -> MasterHandle {
    let rt = Runtime::start(Config {
        delegate: Some("master".into()),
        ..Config::local()
    })
    .unwrap();
    let flags = Flags::parse_from_args([
        "mesos-master",
        "--zk",
        url,
        "--quorum",
        "1",
        "--registry",
        "replicated_log",
        "--zk_session_timeout=2secs",
    ])
    .unwrap();
    mesos_master::master::spawn(&rt, flags).unwrap()
}

fn elected(m: &MasterHandle) -> bool {
    m.runtime.metrics().snapshot().get("master/elected") == Some(&1.0)
}

/// Runs `mesos --master=<spec> state`; returns the exit code and the master id it printed.
async fn state_id(spec: &str) -> (i32, String) {
    let args = vec![format!("--master={spec}"), "state".to_string()];
    tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = mesos_cli::run(&args, &mut out, &mut err);
        let id = serde_json::from_slice::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&err).into_owned());
        (code, id)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zk_master_is_the_leader_and_after_a_failover_the_next_leader() {
    let Some(zk) = ZooKeeperServer::start("cli_zk_master") else {
        return;
    };
    let spec = zk.url("/mesos");
    let a = master(&spec);
    assert!(mesos_tests::poll_until(
        Duration::from_secs(20),
        || elected(&a)
    ));
    let b = master(&spec);
    assert_eq!(state_id(&spec).await, (0, a.info.id.clone()));

    a.shutdown();
    assert!(mesos_tests::poll_until(
        Duration::from_secs(30),
        || elected(&b)
    ));
    assert_eq!(state_id(&spec).await, (0, b.info.id.clone()));
    b.shutdown();
}
