//! `mesos --master=zk://…`: the CLI asks a real ZooKeeper (Debian's package) which master
//! leads and reads that one; a group with no master, or a bad URL, gives a meaningful exit
//! code. Skipped where ZooKeeper is not installed.

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
    ])
    .unwrap();
    mesos_master::master::spawn(&rt, flags).unwrap()
}

fn elected(m: &MasterHandle) -> bool {
    m.runtime
        .metrics()
        .snapshot()
        .get("master/elected")
        .copied()
        == Some(1.0)
}

fn mesos(args: Vec<String>) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = mesos_cli::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).to_string(),
        String::from_utf8_lossy(&err).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zk_master_url_reads_the_elected_leader_and_an_empty_group_exits_3() {
    let Some(zk) = ZooKeeperServer::start("cli_zk_master") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = master(&url);
    let mut up = false;
    for _ in 0..1500 {
        if elected(&a) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the master was never elected");
    let standby = master(&url);

    let flag = format!("--master={url}");
    let (code, out, err) = tokio::task::spawn_blocking(move || mesos(vec![flag, "state".into()]))
        .await
        .unwrap();
    assert_eq!(code, mesos_cli::EXIT_OK, "{err}");
    let state: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        state["id"], a.info.id,
        "the state is the leader's, not the standby's"
    );

    // A group nobody joined: no leader, exit 3 (after the detection timeout).
    let empty = format!("--master={}", zk.url("/nobody"));
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        mesos(vec![empty, "--zk_timeout=1".into(), "agents".into()])
    })
    .await
    .unwrap();
    assert_eq!(code, mesos_cli::EXIT_UNREACHABLE, "{err}");
    assert!(err.contains("no leading master"), "{err}");

    // A malformed URL is a usage error.
    let (code, _, err) = mesos(vec!["--master=zk://127.0.0.1:1/".into(), "agents".into()]);
    assert_eq!(code, mesos_cli::EXIT_USAGE, "{err}");
    standby.shutdown();
    a.shutdown();
}
