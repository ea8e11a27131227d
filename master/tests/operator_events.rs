//! The operator event stream (`SUBSCRIBE` on `/api/v1`) over real TCP on a paused clock:
//! SUBSCRIBED with the whole state, an immediate HEARTBEAT, then one event per change and a
//! HEARTBEAT every 15 s.

mod common;
mod semantics;

use std::time::Duration;

use common::{advance, Stream};
use mesos_proto::mesos::internal::{RunTaskMessage, StatusUpdateMessage};
use mesos_proto::mesos::TaskState;
use semantics::*;
use serde_json::{json, Value};

fn subscribe(m: &mesos_master::MasterHandle) -> Stream {
    Stream::open(
        m.address(),
        "/api/v1",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        json!({"type": "SUBSCRIBE"}).to_string().as_bytes(),
    )
}

/// The next event that is not a HEARTBEAT.
fn next(stream: &mut Stream) -> Value {
    loop {
        let e = stream.json();
        if e["type"] != "HEARTBEAT" {
            return e;
        }
    }
}

#[tokio::test]
async fn subscribe_streams_the_state_then_heartbeats_and_task_agent_and_framework_events() {
    let m = common::master(&[]);
    let (_agent1, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = semantics::subscribe(&m, "scheduler-1", framework_info()).await;
    let mut stream = subscribe(&m);
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("Content-Type"), Some("application/json"));
    let subscribed = stream.json();
    assert_eq!(subscribed["type"], "SUBSCRIBED");
    let state = &subscribed["subscribed"]["get_state"];
    assert_eq!(
        state["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        agent_id.as_str()
    );
    assert_eq!(
        state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        fid.as_str()
    );
    assert_eq!(subscribed["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert_eq!(stream.json()["type"], "HEARTBEAT", "a heartbeat at once");

    // A launch: TASK_ADDED; its first update: TASK_UPDATED.
    let mut agent = _agent1;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    sched.send(
        m.upid(),
        &accept_ops(
            &fid,
            vec![offer.id.clone()],
            vec![launch(vec![task("t1", &offer, "cpus:1;mem:128")])],
        ),
    );
    agent.expect::<RunTaskMessage>().await;
    let added = next(&mut stream);
    assert_eq!(added["type"], "TASK_ADDED", "{added}");
    assert_eq!(added["task_added"]["task"]["task_id"]["value"], "t1");
    assert_eq!(added["task_added"]["task"]["state"], "TASK_STAGING");
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update: agent_update(&fid, &agent_id, "t1", TaskState::TaskRunning, None),
            pid: Some(agent.upid().to_string()),
        },
    );
    let updated = next(&mut stream);
    assert_eq!(updated["type"], "TASK_UPDATED", "{updated}");
    assert_eq!(updated["task_updated"]["state"], "TASK_RUNNING");
    assert_eq!(
        updated["task_updated"]["framework_id"]["value"],
        fid.as_str()
    );
    assert_eq!(updated["task_updated"]["status"]["task_id"]["value"], "t1");

    // A second agent: AGENT_ADDED.
    let (_agent2, agent2_id) = register_agent(&m, "slave(2)").await;
    let e = next(&mut stream);
    assert_eq!(e["type"], "AGENT_ADDED", "{e}");
    assert_eq!(
        e["agent_added"]["agent"]["agent_info"]["id"]["value"],
        agent2_id.as_str()
    );

    // A heartbeat per interval.
    advance(&m.runtime, Duration::from_secs(15)).await;
    let mut saw_heartbeat = false;
    for _ in 0..5 {
        if stream.json()["type"] == "HEARTBEAT" {
            saw_heartbeat = true;
            break;
        }
    }
    assert!(saw_heartbeat);

    // A second framework: FRAMEWORK_ADDED; the first torn down: FRAMEWORK_REMOVED.
    let (_sched2, fid2) = semantics::subscribe(&m, "scheduler-2", framework_info()).await;
    let e = next(&mut stream);
    assert_eq!(e["type"], "FRAMEWORK_ADDED", "{e}");
    assert_eq!(
        e["framework_added"]["framework"]["framework_info"]["id"]["value"],
        fid2.as_str()
    );
    sched.send(
        m.upid(),
        &call_of(&fid, mesos_proto::mesos::scheduler::call::Type::Teardown),
    );
    let mut kinds = Vec::new();
    loop {
        let e = next(&mut stream);
        kinds.push(e["type"].as_str().unwrap_or_default().to_string());
        if e["type"] == "FRAMEWORK_REMOVED" {
            assert_eq!(
                e["framework_removed"]["framework_info"]["id"]["value"],
                fid.as_str()
            );
            break;
        }
        assert!(kinds.len() < 10, "no FRAMEWORK_REMOVED: {kinds:?}");
    }
    m.shutdown();
}

#[tokio::test]
async fn operator_subscribe_in_protobuf_gets_protobuf_records() {
    use prost::Message as _;
    let m = common::master(&[]);
    let body = mesos_proto::mesos::v1::master::Call {
        r#type: Some(mesos_proto::mesos::v1::master::call::Type::Subscribe as i32),
        ..Default::default()
    }
    .encode_to_vec();
    let mut stream = Stream::open(
        m.address(),
        "/api/v1",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Accept", "application/x-protobuf"),
        ],
        &body,
    );
    assert_eq!(stream.status, 200);
    let first = mesos_proto::mesos::v1::master::Event::decode(stream.record().as_slice()).unwrap();
    assert_eq!(
        first.r#type(),
        mesos_proto::mesos::v1::master::event::Type::Subscribed
    );
    assert!(first.subscribed.unwrap().get_state.is_some());
    let second = mesos_proto::mesos::v1::master::Event::decode(stream.record().as_slice()).unwrap();
    assert_eq!(
        second.r#type(),
        mesos_proto::mesos::v1::master::event::Type::Heartbeat
    );
    m.shutdown();
}

#[tokio::test]
async fn a_closed_subscriber_is_released_at_the_next_heartbeat() {
    let m = common::master(&[]);
    let metric = |m: &mesos_master::MasterHandle| {
        common::metric(&m.runtime, "master/operator_event_stream_subscribers")
    };
    let mut stream = subscribe(&m);
    assert_eq!(stream.json()["type"], "SUBSCRIBED");
    let mut second = subscribe(&m);
    assert_eq!(second.json()["type"], "SUBSCRIBED");
    assert_eq!(metric(&m), 2.0);
    drop(stream);
    // The connection notices the closed socket when it next writes; the master drops the
    // subscriber when its channel refuses an event.
    for _ in 0..3 {
        advance(&m.runtime, Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&m), 1.0);
    assert_eq!(next_heartbeat(&mut second), "HEARTBEAT");
    m.shutdown();
}

fn next_heartbeat(stream: &mut Stream) -> String {
    loop {
        let e = stream.json();
        if e["type"] == "HEARTBEAT" {
            return "HEARTBEAT".into();
        }
    }
}

#[tokio::test]
async fn the_subscribed_snapshot_is_delivered_even_when_larger_than_the_stream_budget() {
    let m = common::master(&["--http_framework_max_queued_bytes=1024"]);
    let (_agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (_a2, _) = register_agent(&m, "slave(2)").await;
    let (_a3, _) = register_agent(&m, "slave(3)").await;
    let mut stream = subscribe(&m);
    let record = stream.record();
    assert!(record.len() > 1024, "the state is larger than the budget");
    let subscribed: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(subscribed["type"], "SUBSCRIBED");
    assert_eq!(
        subscribed["subscribed"]["get_state"]["get_agents"]["agents"][0]["agent_info"]["id"]
            ["value"],
        agent_id.as_str()
    );
    assert_eq!(
        subscribed["subscribed"]["get_state"]["get_agents"]["agents"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(stream.json()["type"], "HEARTBEAT");
    m.shutdown();
}

#[tokio::test]
async fn a_framework_losing_its_scheduler_is_a_framework_updated_event() {
    let m = common::master(&[]);
    let (_sched, fid) = semantics::subscribe(&m, "scheduler-1", framework_info()).await;
    let mut stream = subscribe(&m);
    assert_eq!(stream.json()["type"], "SUBSCRIBED");
    m.runtime.terminate("scheduler-1");
    let e = next(&mut stream);
    assert_eq!(e["type"], "FRAMEWORK_UPDATED", "{e}");
    let f = &e["framework_updated"]["framework"];
    assert_eq!(f["framework_info"]["id"]["value"], fid.as_str());
    assert_eq!(f["connected"], false);
    m.shutdown();
}

#[tokio::test]
async fn a_resubscription_with_a_new_framework_info_is_a_framework_updated_event() {
    let m = common::master(&[]);
    let (sched, fid) = semantics::subscribe(&m, "scheduler-1", framework_info()).await;
    let mut stream = subscribe(&m);
    assert_eq!(stream.json()["type"], "SUBSCRIBED");
    let mut info = framework_info();
    info.id = Some(mesos_proto::mesos::FrameworkId { value: fid.clone() });
    info.name = "renamed".into();
    sched.send(m.upid(), &subscribe_call(info));
    let e = next(&mut stream);
    assert_eq!(e["type"], "FRAMEWORK_UPDATED", "{e}");
    let f = &e["framework_updated"]["framework"]["framework_info"];
    assert_eq!(f["id"]["value"], fid.as_str());
    assert_eq!(f["name"], "renamed");
    m.shutdown();
}

#[tokio::test]
async fn an_agent_that_unregisters_is_an_agent_removed_event() {
    let m = common::master(&[]);
    let (agent, agent_id) = register_agent(&m, "slave(1)").await;
    let mut stream = subscribe(&m);
    assert_eq!(stream.json()["type"], "SUBSCRIBED");
    agent.send(
        m.upid(),
        &mesos_proto::mesos::internal::UnregisterSlaveMessage {
            slave_id: mesos_proto::mesos::SlaveId {
                value: agent_id.clone(),
            },
        },
    );
    let e = next(&mut stream);
    assert_eq!(e["type"], "AGENT_REMOVED", "{e}");
    assert_eq!(e["agent_removed"]["agent_id"]["value"], agent_id.as_str());
    m.shutdown();
}
