//! A third-party client finds our leader through ZooKeeper: the PyPI `pymesos` scheduler
//! driver (unmodified; it reads the `json.info_` nodes with kazoo) given `--master=zk://…`,
//! after the first leader was killed, runs its tasks on the master that leads now.
//! SKIPPED where ZooKeeper or the pymesos virtualenv is missing.

mod cluster;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cluster::{bin_dir, leader, metric, start_agent, start_master};
use mesos_tests::poll_until;
use mesos_tests::zookeeper::ZooKeeperServer;

fn pymesos_python() -> Option<PathBuf> {
    let venv =
        PathBuf::from(std::env::var("INTEROP_VENV").unwrap_or_else(|_| "/tmp/interop-venv".into()));
    let py = venv.join("bin/python");
    py.is_file().then_some(py)
}

#[test]
fn pymesos_given_a_zk_url_finds_the_leader_elected_after_the_first_one_died() {
    let Some(python) = pymesos_python() else {
        println!("SKIPPED pymesos zk test: no pymesos virtualenv at /tmp/interop-venv (scripts/test.sh builds it)");
        return;
    };
    let Some(zk) = ZooKeeperServer::start("zk_pymesos") else {
        return;
    };
    let url = zk.url("/mesos");
    let bin = bin_dir();
    let first = start_master(&bin, &url, 1, &[]);
    assert!(
        poll_until(Duration::from_secs(30), || metric(
            first.0,
            "master/elected"
        ) == Some(1.0)),
        "the first master never led"
    );
    let second = start_master(&bin, &url, 2, &[]);
    let _agent = start_agent(&bin, &url, 1);
    assert!(
        poll_until(Duration::from_secs(30), || {
            metric(first.0, "master/slaves_active") == Some(1.0)
        }),
        "the agent never registered with the first leader"
    );

    // The first leader dies; the second leads and the agent follows it.
    let (_, mut dead) = first;
    dead.kill();
    let masters = [second];
    assert!(
        poll_until(Duration::from_secs(40), || {
            leader(&masters) == Some(masters[0].0)
                && metric(masters[0].0, "master/slaves_active") == Some(1.0)
        }),
        "the second master never led with the agent"
    );

    let out = Command::new(&python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/py/pymesos_framework.py"))
        .args([
            format!("--master={url}"),
            "--tasks=3".into(),
            "--timeout=60".into(),
        ])
        .output()
        .expect("run the pymesos framework");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("3 launched, 3 finished, 0 failed"),
        "pymesos through zk:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(metric(masters[0].0, "master/tasks_finished"), Some(3.0));
}
