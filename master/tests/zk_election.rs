//! Masters with `--zk` against a real ZooKeeper (Debian's package): one leads, the other
//! redirects scheduler calls to it and takes over when it goes; agents are admitted only
//! after the registry commit. Skipped (SKIPPED printed) where ZooKeeper is not installed.

mod common;

use std::time::Duration;

use common::{advance, http, master, metric, peer, AGENT_MESSAGES};
use libprocess::Matcher;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    RegisterSlaveMessage, ReregisterSlaveMessage, SlaveRegisteredMessage, SlaveReregisteredMessage,
};
use mesos_proto::mesos::{SlaveId, SlaveInfo};
use mesos_registrar::{Registry, Storage, ZooKeeperStorage};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::{SessionOptions, ZkUrl};
use prost::Message as _;

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn zk_master(url: &str) -> MasterHandle {
    master(&["--zk", url, "--quorum", "1", "--registry", "replicated_log"])
}

fn scheduler_call(m: &MasterHandle) -> mesos_tests::wire::HttpMessage {
    http(
        m.address(),
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json")],
        b"{}",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_redirects_scheduler_calls_to_the_leader_and_leads_when_the_leader_goes() {
    let Some(zk) = ZooKeeperServer::start("zk_two_masters") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let b = zk_master(&url);
    let leader = format!(
        "//{}:{}/api/v1/scheduler",
        a.info.hostname.clone().unwrap(),
        a.info.port
    );
    let mut location = None;
    until("b redirects", || {
        let r = scheduler_call(&b);
        location = r.header("Location").map(str::to_string);
        r.status == 307
    })
    .await;
    assert_eq!(location.as_deref(), Some(leader.as_str()));
    assert_eq!(metric(&b.runtime, "master/elected"), 0.0);
    assert_eq!(metric(&a.runtime, "master/elected"), 1.0);
    // The leader itself serves the call (a 4xx about the body, not a redirect).
    assert_ne!(scheduler_call(&a).status, 307);

    // The leader goes away: its session closes and the standby takes over.
    a.shutdown();
    until("b elected", || metric(&b.runtime, "master/elected") == 1.0).await;
    assert_ne!(scheduler_call(&b).status, 307);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_without_a_known_leader_answers_503() {
    let Some(mut zk) = ZooKeeperServer::start("zk_no_leader") else {
        return;
    };
    let url = zk.url("/mesos");
    zk.stop();
    let m = zk_master(&url);
    let r = scheduler_call(&m);
    assert_eq!(r.status, 503);
    assert_eq!(metric(&m.runtime, "master/elected"), 0.0);
    drop(zk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_is_registered_only_after_the_registry_commit() {
    let Some(zk) = ZooKeeperServer::start("zk_admission") else {
        return;
    };
    let url = zk.url("/mesos");
    let m = zk_master(&url);
    until("elected", || metric(&m.runtime, "master/elected") == 1.0).await;
    // Hold the registrar's operations: nothing can commit.
    let held = m
        .runtime
        .filters()
        .hold(Matcher::dispatch("apply").to_id("registrar"));
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "agent1".into(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    assert!(
        agent
            .maybe::<SlaveRegisteredMessage>(Duration::from_millis(500))
            .await
            .is_none(),
        "registered before the registry commit"
    );
    assert_eq!(metric(&m.runtime, "master/slave_registrations"), 0.0);
    m.runtime.filters().release(held);
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;

    // The registry in ZooKeeper holds the agent, under the id it was given.
    let store = ZooKeeperStorage::new(ZkUrl::parse(&url).unwrap(), SessionOptions::default());
    let entry = store.fetch().await.unwrap().expect("a registry");
    let registry = Registry::decode(entry.data.as_slice()).unwrap();
    let ids: Vec<_> = registry
        .admitted()
        .iter()
        .filter_map(|s| s.info.id.as_ref().map(|i| i.value.clone()))
        .collect();
    assert_eq!(ids, [registered.slave_id.value]);
    assert_eq!(registry.master.unwrap().info.id, m.info.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_ignores_agent_reregistration_that_the_leader_accepts() {
    let Some(zk) = ZooKeeperServer::start("zk_standby_reregister") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let b = zk_master(&url);
    let message = ReregisterSlaveMessage {
        slave: SlaveInfo {
            hostname: "agent1".into(),
            id: Some(SlaveId {
                value: "old-S0".into(),
            }),
            ..Default::default()
        },
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    let mut to_b = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    to_b.send(b.upid(), &message);
    assert!(to_b
        .maybe::<SlaveReregisteredMessage>(Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(metric(&b.runtime, "master/slave_reregistrations"), 0.0);
    let mut to_a = peer(&a.runtime, "slave(1)", AGENT_MESSAGES);
    to_a.send(a.upid(), &message);
    to_a.expect::<SlaveReregisteredMessage>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_session_expires_demotes_then_leads_again_and_admits_agents() {
    let Some(zk) = ZooKeeperServer::start("zk_leader_expiry") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let b = zk_master(&url);
    until("b standby knows a", || scheduler_call(&b).status == 307).await;

    // Expire a's session: another client attaches to it and closes it.
    let session = a
        .pid
        .call("zk_session", |m, _| m.zk_session())
        .await
        .unwrap()
        .expect("a has a session");
    zk.expire_session(session).await;

    until("b elected", || metric(&b.runtime, "master/elected") == 1.0).await;
    until("a demoted", || metric(&a.runtime, "master/elected") == 0.0).await;
    // a stays up, rejoins as a standby and sends callers to b.
    let to_b = format!(
        "//{}:{}/api/v1/scheduler",
        b.info.hostname.clone().unwrap(),
        b.info.port
    );
    let mut location = None;
    until("a redirects to b", || {
        let r = scheduler_call(&a);
        location = r.header("Location").map(str::to_string);
        r.status == 307 && location.as_deref() == Some(to_b.as_str())
    })
    .await;
    assert_eq!(metric(&a.runtime, "master/elected"), 0.0);

    // b goes: a leads again, re-reads the registry b wrote, and can admit agents.
    b.shutdown();
    until("a elected again", || {
        metric(&a.runtime, "master/elected") == 1.0
    })
    .await;
    let mut agent = peer(&a.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(
        a.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "agent1".into(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    agent.expect::<SlaveRegisteredMessage>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_agent_is_removed_only_after_the_registry_records_it() {
    let Some(zk) = ZooKeeperServer::start("zk_unreachable") else {
        return;
    };
    let url = zk.url("/mesos");
    let m = master(&[
        "--zk",
        &url,
        "--quorum",
        "1",
        "--registry",
        "replicated_log",
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=3",
    ]);
    until("elected", || metric(&m.runtime, "master/elected") == 1.0).await;
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "agent1".into(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;

    let held = m
        .runtime
        .filters()
        .hold(Matcher::dispatch("apply").to_id("registrar"));
    m.runtime
        .filters()
        .drop_all(Matcher::message("mesos.internal.PongSlaveMessage"));
    for _ in 0..5 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    // The observer gave up, but the registry has not recorded it: the agent stays.
    assert_eq!(metric(&m.runtime, "master/slave_removals"), 0.0);
    m.runtime.filters().release(held);
    until("removed", || {
        metric(&m.runtime, "master/slave_removals") == 1.0
    })
    .await;
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);

    let store = ZooKeeperStorage::new(ZkUrl::parse(&url).unwrap(), SessionOptions::default());
    let entry = store.fetch().await.unwrap().expect("a registry");
    let registry = Registry::decode(entry.data.as_slice()).unwrap();
    assert!(registry.admitted().is_empty());
    assert_eq!(registry.unreachable().len(), 1);
    assert_eq!(
        registry.unreachable()[0].id.value,
        registered.slave_id.value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_drops_v0_scheduler_messages_that_the_leader_answers() {
    use mesos_proto::mesos::internal::FrameworkRegisteredMessage;
    use mesos_proto::mesos::scheduler::{call, Call};
    let Some(zk) = ZooKeeperServer::start("zk_standby_v0") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url);
    until("a elected", || metric(&a.runtime, "master/elected") == 1.0).await;
    let b = zk_master(&url);
    until("b standby knows a", || scheduler_call(&b).status == 307).await;
    let subscribe = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: mesos_proto::mesos::FrameworkInfo {
                user: "test".into(),
                name: "v0".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut to_b = peer(&b.runtime, "scheduler-1", common::SCHEDULER_MESSAGES);
    to_b.send(b.upid(), &subscribe);
    assert!(to_b
        .maybe::<FrameworkRegisteredMessage>(Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(metric(&b.runtime, "master/dropped_messages"), 1.0);
    assert_eq!(metric(&b.runtime, "master/frameworks_active"), 0.0);
    let mut to_a = peer(&a.runtime, "scheduler-1", common::SCHEDULER_MESSAGES);
    to_a.send(a.upid(), &subscribe);
    to_a.expect::<FrameworkRegisteredMessage>().await;
}
