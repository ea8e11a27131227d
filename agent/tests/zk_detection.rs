//! `--master=zk://…`: the agent finds the leading master through a real ZooKeeper (Debian's
//! package) and follows it when another master takes over. Skipped where ZooKeeper is not
//! installed.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::{Config, Runtime};
use mesos_agent::slave::SlaveConfig;
use mesos_master::{Flags, MasterHandle};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::ZkUrl;

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

fn metric(rt: &Runtime, name: &str) -> f64 {
    rt.metrics().snapshot().get(name).copied().unwrap_or(0.0)
}

async fn until(what: &str, f: impl FnMut() -> bool) {
    until_within(what, Duration::from_secs(30), f).await
}

async fn until_within(what: &str, budget: Duration, mut f: impl FnMut() -> bool) {
    let tries = budget.as_millis() / 20;
    for _ in 0..tries {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn agent_config() -> SlaveConfig {
    agent_config_in("zk")
}

fn agent_config_in(tag: &str) -> SlaveConfig {
    let work = std::env::temp_dir().join(format!("agent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    SlaveConfig {
        master: mesos_agent::detection::undetected_master(),
        resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
        attributes: Vec::new(),
        work_dir: work.canonicalize().unwrap(),
        hostname: "localhost".into(),
        launcher_dir: PathBuf::from("."),
        registration_backoff_factor: Duration::from_millis(100),
        executor_registration_timeout: Duration::from_secs(60),
        executor_shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        max_completed_executors_per_framework: 10,
        flags: Vec::new(),
    }
}

#[test]
fn zk_master_flag_is_recognised_directly_and_through_a_file() {
    assert!(mesos_agent::detection::zk_master("zk://h:2181/mesos")
        .unwrap()
        .is_some());
    assert!(mesos_agent::detection::zk_master("127.0.0.1:5050")
        .unwrap()
        .is_none());
    let file = std::env::temp_dir().join(format!("agent-zk-master-{}", std::process::id()));
    std::fs::write(&file, "zk://h:2181/mesos\n").unwrap();
    let spec = format!("file://{}", file.display());
    let url = mesos_agent::detection::zk_master(&spec).unwrap().unwrap();
    assert_eq!(url.path(), "/mesos");
    std::fs::remove_file(file).unwrap();
    assert!(mesos_agent::detection::zk_master("zk://h:2181/").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_registers_with_the_zk_leader_and_follows_the_next_one() {
    let Some(zk) = ZooKeeperServer::start("agent_zk_detection") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let b = master(&url);

    let zk_url = ZkUrl::parse(&url).unwrap();
    let agent = tokio::task::spawn_blocking(move || {
        mesos_agent::detection::start_with_detector(
            Config::local(),
            agent_config(),
            zk_url,
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap()
    .unwrap();
    until("registered with a", || {
        metric(&a.runtime, "master/slave_registrations") == 1.0
    })
    .await;
    assert_eq!(metric(&b.runtime, "master/slave_registrations"), 0.0);

    a.shutdown();
    until("b elected", || metric(&b.runtime, "master/elected") == 1.0).await;
    until("re-registered with b", || {
        metric(&b.runtime, "master/slave_reregistrations")
            + metric(&b.runtime, "master/slave_registrations")
            >= 1.0
    })
    .await;
    assert_eq!(
        metric(&b.runtime, "master/slave_registrations"),
        0.0,
        "kept its id"
    );
    agent.runtime.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reregisters_when_its_master_leads_again_after_a_demotion() {
    let Some(zk) = ZooKeeperServer::start("agent_zk_demotion") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let zk_url = ZkUrl::parse(&url).unwrap();
    let agent = tokio::task::spawn_blocking(move || {
        mesos_agent::detection::start_with_detector(
            Config::local(),
            agent_config_in("zk-demotion"),
            zk_url,
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap()
    .unwrap();
    until("registered with a", || {
        metric(&a.runtime, "master/slaves_active") == 1.0
    })
    .await;

    // a's session expires: it demotes (forgetting the agent) and, the only master, leads
    // again as a new master at the same address. The agent registers with it again long
    // before its ping timeout (75 s) would have told it.
    let session = a
        .pid
        .call("zk_session", |m, _| m.zk_session())
        .await
        .unwrap()
        .expect("a session");
    zk.expire_session(session).await;
    // (Not polled for the moment a has forgotten the agent: on a fast machine the agent may
    // be back before a poll sees it gone. Its re-registration is the proof.)
    // Up to 60 s on a loaded machine (a new session, an election, a registry recovery and the
    // agent's detection and backoff in a row), still short of the 75 s ping timeout.
    until_within("the agent is back", Duration::from_secs(60), || {
        metric(&a.runtime, "master/elected") == 1.0
            && metric(&a.runtime, "master/slaves_active") == 1.0
            && metric(&a.runtime, "master/slave_reregistrations") >= 1.0
    })
    .await;
    assert_eq!(
        metric(&a.runtime, "master/slave_reregistrations"),
        1.0,
        "kept its id"
    );
    agent.runtime.shutdown();
    a.shutdown();
}
