//! A leader that loses ZooKeeper (its session expires, or ZooKeeper itself restarts)
//! demotes to a standby instead of exiting like a genuine master: it forgets agents,
//! frameworks and offers (the allocator too), ends the v1 scheduler and operator event
//! streams, answers 307/503 like any standby, and leads again later after recovering the
//! registry. Real ZooKeeper (Debian's package); SKIPPED where it is not installed.

mod common;

use std::time::Duration;

use common::{advance, http, master, metric, peer, PeerHandle, Stream, AGENT_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, FrameworkReregisteredMessage, PingSlaveMessage,
    RegisterSlaveMessage, ReregisterSlaveMessage, ResourceOffersMessage, SlaveRegisteredMessage,
    SlaveReregisteredMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{FrameworkId, FrameworkInfo, SlaveId, SlaveInfo};
use mesos_tests::wire::HttpMessage;
use mesos_tests::zookeeper::ZooKeeperServer;
use serde_json::{json, Value};

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn zk_master(url: &str, extra: &[&str]) -> MasterHandle {
    let mut flags = vec!["--zk", url, "--quorum", "1", "--registry", "replicated_log"];
    flags.extend_from_slice(extra);
    master(&flags)
}

fn elected(m: &MasterHandle) -> bool {
    metric(&m.runtime, "master/elected") == 1.0
}

fn slave_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "agent1".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

async fn register_agent(m: &MasterHandle) -> (PeerHandle, SlaveInfo) {
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: slave_info(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, registered) = agent.expect::<SlaveRegisteredMessage>().await;
    let mut info = slave_info();
    info.id = Some(registered.slave_id);
    (agent, info)
}

fn reregister(agent: &PeerHandle, m: &MasterHandle, info: &SlaveInfo) {
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info.clone(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
}

fn v0_subscribe(id: Option<&str>) -> Call {
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "test".into(),
                name: "v0".into(),
                id: id.map(|v| FrameworkId { value: v.into() }),
                failover_timeout: Some(3600.0),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn get(m: &MasterHandle, path: &'static str) -> HttpMessage {
    let addr = m.address();
    blocking(move || http(addr, "GET", path, &[], b"")).await
}

async fn post_json(m: &MasterHandle, path: &'static str, body: Value) -> HttpMessage {
    let addr = m.address();
    blocking(move || {
        http(
            addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    })
    .await
}

/// Opens a JSON event stream and returns it with its first record (SUBSCRIBED).
async fn open_stream(m: &MasterHandle, path: &'static str, body: Value) -> (Stream, Value) {
    let addr = m.address();
    blocking(move || {
        let mut s = Stream::open(
            addr,
            path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(s.status, 200, "{path}");
        let first = s.json();
        (s, first)
    })
    .await
}

/// Expires `m`'s ZooKeeper session: another client attaches to it, then closes it.
async fn expire_session(m: &MasterHandle, zk: &ZooKeeperServer) {
    let session = m
        .pid
        .call("zk_session", |m, _| m.zk_session())
        .await
        .unwrap()
        .expect("a session");
    zk.expire_session(session).await;
}

fn location(r: &HttpMessage) -> Option<String> {
    r.header("Location").map(str::to_string)
}

fn to(m: &MasterHandle, path: &str) -> String {
    format!(
        "//{}:{}{path}",
        m.info.hostname.clone().unwrap(),
        m.info.port
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_session_expires_forgets_the_cluster_ends_its_streams_and_redirects_operators_then_recovers_when_elected_again(
) {
    let Some(zk) = ZooKeeperServer::start("zk_demotion_expiry") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url, &[]);
    until("a elected", || elected(&a)).await;
    let b = zk_master(&url, &[]);
    until("b knows a", || {
        metric(&b.runtime, "master/elected") == 0.0
            && http(b.address(), "GET", "/redirect", &[], b"").status == 307
    })
    .await;

    // A cluster on a: an agent, a v1 framework holding an offer, an operator subscriber.
    let (mut agent, info) = register_agent(&a).await;
    let subscribe = json!({"type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "test", "name": "v1", "failover_timeout": 3600}}});
    let (mut scheduler, subscribed) = open_stream(&a, "/api/v1/scheduler", subscribe).await;
    assert_eq!(subscribed["type"], "SUBSCRIBED");
    for _ in 0..3 {
        advance(&a.runtime, Duration::from_secs(1)).await;
    }
    let (scheduler_stream, offered) = blocking(move || {
        for _ in 0..10 {
            if scheduler.json()["type"] == "OFFERS" {
                return (scheduler, true);
            }
        }
        (scheduler, false)
    })
    .await;
    let mut scheduler = scheduler_stream;
    assert!(offered, "the framework got no offer");
    assert_eq!(metric(&a.runtime, "master/outstanding_offers"), 1.0);
    let (mut operator, first) = open_stream(&a, "/api/v1", json!({"type": "SUBSCRIBE"})).await;
    assert_eq!(first["type"], "SUBSCRIBED");
    assert_eq!(
        first["subscribed"]["get_state"]["get_agents"]["agents"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    expire_session(&a, &zk).await;
    until("b elected", || elected(&b)).await;
    until("a demoted", || !elected(&a)).await;

    // a holds nothing of the cluster any more, nor does its allocator.
    until("a forgot the cluster", || {
        metric(&a.runtime, "master/slaves_active") == 0.0
            && metric(&a.runtime, "master/frameworks_active") == 0.0
            && metric(&a.runtime, "master/outstanding_offers") == 0.0
            && metric(&a.runtime, "allocator/mesos/resources/cpus/total") == 0.0
    })
    .await;
    let state: Value = serde_json::from_slice(&get(&a, "/master/state").await.body).unwrap();
    assert_eq!(state["slaves"], json!([]));
    assert_eq!(state["frameworks"], json!([]));
    // Both event streams ended, so their clients look for the leader now.
    let (scheduler_ended, operator_ended) =
        blocking(move || (scheduler.ends(), operator.ends())).await;
    assert!(scheduler_ended, "the v1 scheduler stream is still open");
    assert!(operator_ended, "the operator event stream is still open");
    // The agent is not pinged any more (its observer is gone) and was told nothing.
    agent.drain();
    for _ in 0..3 {
        advance(&a.runtime, Duration::from_secs(15)).await;
    }
    assert!(agent
        .maybe::<PingSlaveMessage>(Duration::from_millis(300))
        .await
        .is_none());
    // Callers are sent to b, as by any standby.
    let mut seen = None;
    for _ in 0..200 {
        let r = post_json(&a, "/api/v1", json!({"type": "GET_HEALTH"})).await;
        seen = Some((r.status, location(&r)));
        if seen == Some((307, Some(to(&b, "/api/v1")))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some((307, Some(to(&b, "/api/v1")))));
    let r = post_json(&a, "/api/v1/scheduler", json!({})).await;
    assert_eq!(
        (r.status, location(&r)),
        (307, Some(to(&b, "/api/v1/scheduler")))
    );

    // b goes; a leads again: it recovers the registry (the agent is admitted there) and
    // takes the agent back when it re-registers.
    b.shutdown();
    until("a elected again", || elected(&a)).await;
    let mut awaited = 0;
    for _ in 0..250 {
        awaited = a
            .pid
            .call("awaited", |m, _| m.awaited_agents())
            .await
            .unwrap();
        if awaited == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(awaited, 1, "the recovered registry's agent is not awaited");
    reregister(&agent, &a, &info);
    let (_, reregistered) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(Some(&reregistered.slave_id), info.id.as_ref());
    assert_eq!(metric(&a.runtime, "master/slaves_active"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_restart_demotes_the_leader_which_leads_again_and_serves_its_agent_and_framework()
{
    let Some(mut zk) = ZooKeeperServer::start("zk_demotion_restart") else {
        return;
    };
    let url = zk.url("/mesos");
    let a = zk_master(&url, &["--zk_session_timeout=1secs"]);
    until("a elected", || elected(&a)).await;
    let (mut agent, info) = register_agent(&a).await;
    let mut scheduler = peer(&a.runtime, "scheduler-1", common::SCHEDULER_MESSAGES);
    scheduler.send(a.upid(), &v0_subscribe(None));
    let (_, registered) = scheduler.expect::<FrameworkRegisteredMessage>().await;
    let framework_id = registered.framework_id.value;

    zk.stop();
    until("a demoted", || !elected(&a)).await;
    until("a forgot the cluster", || {
        metric(&a.runtime, "master/slaves_active") == 0.0
            && metric(&a.runtime, "master/frameworks_active") == 0.0
    })
    .await;
    // No leader is known while ZooKeeper is down.
    let r = post_json(&a, "/api/v1/scheduler", json!({})).await;
    assert_eq!(r.status, 503);

    zk.start_again();
    until("a elected again", || elected(&a)).await;
    // The agent and the framework come back (as they do when they detect the leader) and
    // the cluster works: the framework is offered the agent's resources.
    agent.drain();
    reregister(&agent, &a, &info);
    agent.expect::<SlaveReregisteredMessage>().await;
    scheduler.drain();
    scheduler.send(a.upid(), &v0_subscribe(Some(&framework_id)));
    scheduler.expect::<FrameworkReregisteredMessage>().await;
    let mut offers = None;
    for _ in 0..20 {
        advance(&a.runtime, Duration::from_secs(1)).await;
        offers = scheduler
            .maybe::<ResourceOffersMessage>(Duration::from_millis(100))
            .await;
        if offers.is_some() {
            break;
        }
    }
    let offers = offers.expect("offers after the restart");
    assert_eq!(
        offers.offers[0].slave_id,
        info.id.clone().unwrap_or(SlaveId::default())
    );
}
