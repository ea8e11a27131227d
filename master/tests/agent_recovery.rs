//! A new leader and the agents of the registry it recovered (`--registry=local`, one
//! master after another on the same work dir, paused clock): agents that do not re-register
//! within `--agent_reregister_timeout` are marked unreachable through the registrar, at the
//! pace of `--agent_removal_rate_limit`; an unreachable agent re-registers only after the
//! registry marks it reachable.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{advance, master, metric, peer, PeerHandle, AGENT_MESSAGES};
use libprocess::Matcher;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    RegisterSlaveMessage, ReregisterSlaveMessage, SlaveRegisteredMessage, SlaveReregisteredMessage,
};
use mesos_proto::mesos::{SlaveId, SlaveInfo};
use mesos_registrar::{LocalStorage, Registry, Storage};
use prost::Message as _;

fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-recovery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn local_master(dir: &Path, extra: &[&str]) -> MasterHandle {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--registry", "local", "--work_dir", dir];
    args.extend_from_slice(extra);
    master(&args)
}

async fn registry(dir: &Path) -> Registry {
    let store = LocalStorage::new(dir.join("meta").join("registry"));
    let entry = store.fetch().await.unwrap().expect("a registry");
    Registry::decode(entry.data.as_slice()).unwrap()
}

fn ids(slaves: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = slaves.collect();
    v.sort();
    v
}

async fn admitted(dir: &Path) -> Vec<String> {
    let r = registry(dir).await;
    ids(r
        .admitted()
        .iter()
        .filter_map(|s| s.info.id.as_ref().map(|i| i.value.clone())))
}

async fn unreachable(dir: &Path) -> Vec<String> {
    let r = registry(dir).await;
    ids(r.unreachable().iter().map(|u| u.id.value.clone()))
}

fn info(hostname: &str, id: Option<&SlaveId>) -> SlaveInfo {
    SlaveInfo {
        hostname: hostname.into(),
        id: id.cloned(),
        ..Default::default()
    }
}

/// Registers agents with a first master, which then goes away; returns their ids.
async fn agents_admitted_by_a_previous_master(dir: &Path, hostnames: &[&str]) -> Vec<SlaveId> {
    let a = local_master(dir, &[]);
    let mut out = Vec::new();
    for (n, h) in hostnames.iter().enumerate() {
        let mut agent = peer(&a.runtime, &format!("slave({})", n + 1), AGENT_MESSAGES);
        agent.send(
            a.upid(),
            &RegisterSlaveMessage {
                slave: info(h, None),
                version: Some("1.11.0".into()),
                ..Default::default()
            },
        );
        out.push(agent.expect::<SlaveRegisteredMessage>().await.1.slave_id);
    }
    a.shutdown();
    out
}

/// Waits until `m` recovered the registry and expects `n` agents back.
async fn awaiting(m: &MasterHandle, n: usize) {
    for _ in 0..500 {
        if m.pid
            .call("awaited", |m, _| m.awaited_agents())
            .await
            .unwrap()
            == n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the master never awaited {n} agents");
}

async fn until_metric(m: &MasterHandle, name: &str, value: f64) {
    for _ in 0..500 {
        if metric(&m.runtime, name) == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{name} never reached {value} (is {})",
        metric(&m.runtime, name)
    );
}

fn reregister(agent: &PeerHandle, m: &MasterHandle, hostname: &str, id: &SlaveId) {
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info(hostname, Some(id)),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_that_does_not_reregister_within_the_timeout_is_marked_unreachable_in_the_registry() {
    let dir = work_dir("timeout");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1"]).await;
    let b = local_master(&dir, &["--agent_reregister_timeout=1mins"]);
    awaiting(&b, 1).await;
    advance(&b.runtime, Duration::from_secs(59)).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_completed"),
        0.0
    );
    assert_eq!(admitted(&dir).await, [ids[0].value.clone()]);
    advance(&b.runtime, Duration::from_secs(2)).await;
    until_metric(&b, "master/slave_unreachable_completed", 1.0).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_scheduled"),
        1.0
    );
    assert!(admitted(&dir).await.is_empty());
    assert_eq!(unreachable(&dir).await, [ids[0].value.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_that_reregisters_within_the_timeout_stays_admitted() {
    let dir = work_dir("back");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1"]).await;
    let b = local_master(&dir, &["--agent_reregister_timeout=1mins"]);
    awaiting(&b, 1).await;
    let mut agent = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    reregister(&agent, &b, "a1", &ids[0]);
    agent.expect::<SlaveReregisteredMessage>().await;
    awaiting(&b, 0).await;
    advance(&b.runtime, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_scheduled"),
        0.0
    );
    assert_eq!(admitted(&dir).await, [ids[0].value.clone()]);
    assert!(unreachable(&dir).await.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_missing_after_failover_are_marked_unreachable_at_the_removal_rate_limit() {
    let dir = work_dir("rate");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1", "a2"]).await;
    let b = local_master(
        &dir,
        &[
            "--agent_reregister_timeout=1mins",
            "--agent_removal_rate_limit=1/1mins",
        ],
    );
    awaiting(&b, 2).await;
    advance(&b.runtime, Duration::from_secs(61)).await;
    until_metric(&b, "master/slave_unreachable_completed", 1.0).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_scheduled"),
        2.0
    );
    advance(&b.runtime, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_completed"),
        1.0
    );
    assert_eq!(unreachable(&dir).await.len(), 1);
    advance(&b.runtime, Duration::from_secs(31)).await;
    until_metric(&b, "master/slave_unreachable_completed", 2.0).await;
    let mut all: Vec<String> = ids.iter().map(|i| i.value.clone()).collect();
    all.sort();
    assert_eq!(unreachable(&dir).await, all);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_agent_reregisters_only_after_the_registry_marks_it_reachable() {
    let dir = work_dir("reachable");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1"]).await;
    let b = local_master(&dir, &["--agent_reregister_timeout=1mins"]);
    awaiting(&b, 1).await;
    advance(&b.runtime, Duration::from_secs(61)).await;
    until_metric(&b, "master/slave_unreachable_completed", 1.0).await;
    assert_eq!(unreachable(&dir).await, [ids[0].value.clone()]);

    let held = b
        .runtime
        .filters()
        .hold(Matcher::dispatch("apply").to_id("registrar"));
    let mut agent = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    reregister(&agent, &b, "a1", &ids[0]);
    assert!(
        agent
            .maybe::<SlaveReregisteredMessage>(Duration::from_millis(300))
            .await
            .is_none(),
        "re-registered before the registry marked the agent reachable"
    );
    b.runtime.filters().release(held);
    agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(admitted(&dir).await, [ids[0].value.clone()]);
    assert!(unreachable(&dir).await.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

async fn get_json(m: &MasterHandle, path: &'static str) -> serde_json::Value {
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || common::http(addr, "GET", path, &[], b""))
        .await
        .unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

async fn get_agents(m: &MasterHandle) -> serde_json::Value {
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || {
        common::http(
            addr,
            "POST",
            "/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            br#"{"type":"GET_AGENTS"}"#,
        )
    })
    .await
    .unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

fn recovered_ids(list: &serde_json::Value, id: &str) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| {
            a.pointer(id)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaited_agents_are_recovered_slaves_and_agents_marked_unreachable_count_in_state_across_failovers(
) {
    let dir = work_dir("visible");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1", "a2"]).await;
    let mut all: Vec<String> = ids.iter().map(|i| i.value.clone()).collect();
    all.sort();
    let b = local_master(&dir, &["--agent_reregister_timeout=1mins"]);
    awaiting(&b, 2).await;
    let state = get_json(&b, "/master/state").await;
    assert_eq!(recovered_ids(&state["recovered_slaves"], "/id"), all);
    assert_eq!(state["recovered_slaves"][0]["hostname"], "a1");
    let slaves = get_json(&b, "/master/slaves").await;
    assert_eq!(recovered_ids(&slaves["recovered_slaves"], "/id"), all);
    let agents = get_agents(&b).await;
    assert_eq!(
        recovered_ids(&agents["get_agents"]["recovered_agents"], "/id/value"),
        all
    );

    // a1 comes back, a2 does not: a2 is marked unreachable and counted.
    let mut agent = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    reregister(&agent, &b, "a1", &ids[0]);
    agent.expect::<SlaveReregisteredMessage>().await;
    advance(&b.runtime, Duration::from_secs(61)).await;
    until_metric(&b, "master/slave_unreachable_completed", 1.0).await;
    until_metric(&b, "master/slaves_unreachable", 1.0).await;
    let state = get_json(&b, "/master/state").await;
    assert_eq!(state["unreachable_slaves"], 1);
    assert_eq!(state["recovered_slaves"], serde_json::json!([]));
    b.shutdown();

    // The next leader knows it from the registry.
    let c = local_master(&dir, &["--agent_reregister_timeout=1mins"]);
    awaiting(&c, 1).await;
    until_metric(&c, "master/slaves_unreachable", 1.0).await;
    let state = get_json(&c, "/master/state").await;
    assert_eq!(state["unreachable_slaves"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_missing_agents_than_the_recovery_removal_limit_are_not_marked_unreachable_and_the_master_steps_down(
) {
    let dir = work_dir("limit");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1", "a2"]).await;
    let b = local_master(
        &dir,
        &[
            "--agent_reregister_timeout=1mins",
            "--recovery_agent_removal_limit=40%",
        ],
    );
    awaiting(&b, 2).await;
    let mut agent = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    reregister(&agent, &b, "a1", &ids[0]);
    agent.expect::<SlaveReregisteredMessage>().await;
    awaiting(&b, 1).await;
    // 1 of 2 missing (50%) is more than 40%: nothing is marked unreachable; the master
    // gives up this leadership and, being the only master, recovers afresh and waits again.
    advance(&b.runtime, Duration::from_secs(61)).await;
    awaiting(&b, 2).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_scheduled"),
        0.0
    );
    assert_eq!(metric(&b.runtime, "master/slaves_active"), 0.0);
    assert_eq!(admitted(&dir).await.len(), 2);
    assert!(unreachable(&dir).await.is_empty());
    // Both come back this time: nothing to remove.
    reregister(&agent, &b, "a1", &ids[0]);
    agent.expect::<SlaveReregisteredMessage>().await;
    let agent2 = peer(&b.runtime, "slave(2)", AGENT_MESSAGES);
    reregister(&agent2, &b, "a2", &ids[1]);
    awaiting(&b, 0).await;
    advance(&b.runtime, Duration::from_secs(61)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        metric(&b.runtime, "master/slave_unreachable_scheduled"),
        0.0
    );
    assert_eq!(metric(&b.runtime, "master/slaves_active"), 2.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_agents_within_the_recovery_removal_limit_are_marked_unreachable() {
    let dir = work_dir("within");
    let ids = agents_admitted_by_a_previous_master(&dir, &["a1", "a2"]).await;
    let b = local_master(
        &dir,
        &[
            "--agent_reregister_timeout=1mins",
            "--recovery_agent_removal_limit=50%",
        ],
    );
    awaiting(&b, 2).await;
    let mut agent = peer(&b.runtime, "slave(1)", AGENT_MESSAGES);
    reregister(&agent, &b, "a1", &ids[0]);
    agent.expect::<SlaveReregisteredMessage>().await;
    advance(&b.runtime, Duration::from_secs(61)).await;
    until_metric(&b, "master/slave_unreachable_completed", 1.0).await;
    assert_eq!(unreachable(&dir).await, [ids[1].value.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
}
