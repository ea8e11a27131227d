//! A registrar whose store fails: the master steps down and recovers the registry afresh
//! (genuine masters exit for a supervisor to restart them), rather than running on as a
//! leader that can never admit or remove an agent again.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{advance, master, metric, peer, AGENT_MESSAGES};
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{RegisterSlaveMessage, SlaveRegisteredMessage};
use mesos_proto::mesos::SlaveInfo;

fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("registrar-failure-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn register(hostname: &str) -> RegisterSlaveMessage {
    RegisterSlaveMessage {
        slave: SlaveInfo {
            hostname: hostname.into(),
            ..Default::default()
        },
        version: Some("1.11.0".into()),
        ..Default::default()
    }
}

async fn registers(m: &MasterHandle, actor: &str, hostname: &str) -> bool {
    let mut agent = peer(&m.runtime, actor, AGENT_MESSAGES);
    agent.send(m.upid(), &register(hostname));
    agent
        .maybe::<SlaveRegisteredMessage>(Duration::from_secs(2))
        .await
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_whose_registry_store_failed_steps_down_and_admits_agents_once_it_works_again() {
    let dir = work_dir("store");
    let m = master(&["--registry", "local", "--work_dir", dir.to_str().unwrap()]);
    assert!(
        registers(&m, "slave(1)", "a1").await,
        "first agent admitted"
    );

    // The store breaks: its directory becomes a file, so every write and read fails.
    let registry = dir.join("meta").join("registry");
    std::fs::remove_dir_all(&registry).unwrap();
    std::fs::write(&registry, b"not a directory").unwrap();
    assert!(
        !registers(&m, "slave(2)", "a2").await,
        "an agent cannot be admitted while the registry cannot be written"
    );

    // The store works again: the master, having stepped down and retried its recovery,
    // admits agents again (before the fix its registrar had failed for good).
    std::fs::remove_file(&registry).unwrap();
    std::fs::create_dir_all(&registry).unwrap();
    for _ in 0..10 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert_eq!(metric(&m.runtime, "master/elected"), 1.0);
    assert!(
        registers(&m, "slave(3)", "a3").await,
        "an agent is admitted once the registry can be written again"
    );
    m.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
