//! Our `mesos-master --zk` with GENUINE Mesos 1.11 peers that only know the ZooKeeper URL:
//! the genuine agent and the genuine scheduler driver read our `json.info_` node, find our
//! leader and use it. Needs `../shared/interop/native` and Debian's zookeeper (SKIPPED
//! otherwise).

use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, genuine, http_get, wait_http_ok, ChildGuard};
use mesos_tests::zookeeper::ZooKeeperServer;

fn metric(port: u16, name: &str) -> Option<f64> {
    let (status, body) = http_get(port, "/metrics/snapshot").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get(name)?.as_f64()
}

#[test]
fn genuine_agent_and_driver_pointed_at_zk_find_and_use_our_leader() {
    let test = "genuine_agent_and_driver_pointed_at_zk_find_and_use_our_leader";
    let Some(native) = genuine(test) else {
        return;
    };
    let Some(zk) = ZooKeeperServer::start(test) else {
        return;
    };
    let url = zk.url("/mesos");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args([
        "--ip=127.0.0.1",
        &format!("--port={port}"),
        &format!("--zk={url}"),
        "--quorum=1",
        "--registry=replicated_log",
        "--allocation_interval=200ms",
    ])
    .env("RUST_LOG", "info");
    let mut master = ChildGuard::spawn("rust-master", cmd);
    assert!(
        master
            .wait_for_line("mesos-master: serving", Duration::from_secs(20))
            .is_some(),
        "master did not start"
    );
    wait_http_ok(port, "/health", Duration::from_secs(10)).expect("master health");
    assert!(
        mesos_tests::poll_until(Duration::from_secs(20), || {
            metric(port, "master/elected") == Some(1.0)
        }),
        "our master was not elected"
    );

    let dir = ChildGuard::new_dir("genuine-agent");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(&url)
        .arg(free_port().to_string())
        .env(
            "MESOS_RESOURCES",
            "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        )
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let _agent = ChildGuard::spawn_in("genuine-agent", dir, cmd);
    assert!(
        mesos_tests::poll_until(Duration::from_secs(40), || {
            metric(port, "master/slaves_active") == Some(1.0)
        }),
        "the genuine agent never registered through ZooKeeper"
    );
    // Admitted through the registrar: one commit for the master, one for the agent.
    assert!(metric(port, "registrar/state_store_ms/count").unwrap_or(0.0) >= 2.0);

    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-scheduler.sh"))
        .arg(&url)
        .arg("2")
        .arg("30");
    let mut sched = ChildGuard::spawn("genuine-scheduler", cmd);
    let (status, lines) = sched
        .wait(Duration::from_secs(90))
        .expect("scheduler did not exit");
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        status.success(),
        "genuine driver failed: {summary}\n{}",
        lines.join("\n")
    );
    assert!(
        summary.contains("2 launched, 2 finished, 0 failed"),
        "{summary}"
    );
}

#[test]
fn a_genuine_agent_reregisters_when_our_master_leads_again_after_a_zookeeper_restart() {
    let test = "a_genuine_agent_reregisters_when_our_master_leads_again_after_a_zookeeper_restart";
    let Some(native) = genuine(test) else {
        return;
    };
    let Some(mut zk) = ZooKeeperServer::start(test) else {
        return;
    };
    let url = zk.url("/mesos");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args([
        "--ip=127.0.0.1",
        &format!("--port={port}"),
        &format!("--zk={url}"),
        "--quorum=1",
        "--registry=replicated_log",
        "--zk_session_timeout=2secs",
    ])
    .env("RUST_LOG", "info");
    let mut master = ChildGuard::spawn("rust-master", cmd);
    assert!(
        master
            .wait_for_line("mesos-master: serving", Duration::from_secs(20))
            .is_some(),
        "master did not start"
    );
    assert!(
        mesos_tests::poll_until(Duration::from_secs(20), || {
            metric(port, "master/elected") == Some(1.0)
        }),
        "our master was not elected"
    );
    let dir = ChildGuard::new_dir("genuine-agent-restart");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(&url)
        .arg(free_port().to_string())
        .env("MESOS_RESOURCES", "cpus:2;mem:1024")
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let agent = ChildGuard::spawn_in("genuine-agent", dir, cmd);
    assert!(
        mesos_tests::poll_until(Duration::from_secs(40), || {
            metric(port, "master/slaves_active") == Some(1.0)
        }),
        "the genuine agent never registered through ZooKeeper"
    );

    // ZooKeeper goes away for longer than our master's session timeout: it demotes itself
    // (forgetting the agent) and stays up; when ZooKeeper is back it leads again, and the
    // genuine agent, whose detector saw the leader go and come back, registers again.
    zk.stop();
    assert!(
        mesos_tests::poll_until(Duration::from_secs(30), || {
            metric(port, "master/elected") == Some(0.0)
                && metric(port, "master/slaves_active") == Some(0.0)
        }),
        "our master did not demote itself"
    );
    zk.start_again();
    assert!(
        mesos_tests::poll_until(Duration::from_secs(40), || {
            metric(port, "master/elected") == Some(1.0)
        }),
        "our master did not lead again"
    );
    // Well before the genuine agent's 75 s ping timeout.
    assert!(
        mesos_tests::poll_until(Duration::from_secs(40), || {
            metric(port, "master/slaves_active") == Some(1.0)
        }),
        "the genuine agent did not come back: {}",
        agent.stderr_tail(30)
    );
    assert!(metric(port, "master/slave_reregistrations").unwrap_or(0.0) >= 1.0);
}
