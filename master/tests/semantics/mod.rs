//! Helpers for the master semantics tests: an agent, frameworks (v0 peers and v1 streams
//! over TCP), offers, launches and agent-style status updates, on a paused clock.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::{self, advance, master, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, RegisterSlaveMessage, ResourceOffersMessage, RunTaskMessage,
    SlaveRegisteredMessage, StatusUpdate,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, task_status, CommandInfo, FrameworkId, FrameworkInfo, Offer, OfferId, SlaveId,
    SlaveInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

pub fn slave_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "localhost".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

pub async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, String) {
    let mut agent = peer(&m.runtime, id, AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: slave_info(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, reg) = agent.expect::<SlaveRegisteredMessage>().await;
    (agent, reg.slave_id.value)
}

pub fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        framework_id: info.id.clone(),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn subscribe(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, String) {
    let mut sched = peer(&m.runtime, id, SCHEDULER_MESSAGES);
    sched.send(m.upid(), &subscribe_call(info));
    let (_, reg) = sched.expect::<FrameworkRegisteredMessage>().await;
    (sched, reg.framework_id.value)
}

pub fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "test-framework".into(),
        ..Default::default()
    }
}

/// Advances the clock an allocation interval at a time until offers arrive.
pub async fn next_offers(m: &MasterHandle, sched: &mut PeerHandle) -> ResourceOffersMessage {
    for _ in 0..20 {
        advance(&m.runtime, Duration::from_secs(1)).await;
        if let Some(offers) = sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await
        {
            return offers;
        }
    }
    panic!("no offers after 20 allocation intervals");
}

pub fn call_of(framework_id: &str, t: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        r#type: Some(t as i32),
        ..Default::default()
    }
}

pub fn accept_ops(framework_id: &str, offer_ids: Vec<OfferId>, ops: Vec<offer::Operation>) -> Call {
    let mut c = call_of(framework_id, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids,
        operations: ops,
        filters: None,
    });
    c
}

pub fn launch(tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

pub fn task(id: &str, offer: &Offer, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: offer.slave_id.clone(),
        resources: Resources::parse(resources, "*").unwrap().to_protos_pre(),
        command: Some(CommandInfo {
            value: Some("echo ok".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A status update as an agent sends it (`latest_state` set when it differs).
pub fn agent_update(
    framework_id: &str,
    agent_id: &str,
    task_id: &str,
    state: TaskState,
    latest: Option<TaskState>,
) -> StatusUpdate {
    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    StatusUpdate {
        framework_id: FrameworkId {
            value: framework_id.into(),
        },
        slave_id: Some(SlaveId {
            value: agent_id.into(),
        }),
        status: TaskStatus {
            task_id: TaskId {
                value: task_id.into(),
            },
            state: state as i32,
            uuid: Some(uuid.clone()),
            source: Some(task_status::Source::Executor as i32),
            ..Default::default()
        },
        executor_id: None,
        timestamp: 1.0,
        uuid: Some(uuid),
        latest_state: latest.map(|s| s as i32),
    }
}

/// An agent, a framework, and one task of it launched on the agent.
pub struct Launched {
    pub m: MasterHandle,
    pub agent: PeerHandle,
    pub agent_id: String,
    pub sched: PeerHandle,
    pub fid: String,
}

pub async fn launched(flags: &[&str], info: FrameworkInfo) -> Launched {
    let m = master(flags);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", info).await;
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
    Launched {
        m,
        agent,
        agent_id,
        sched,
        fid,
    }
}

/// Opens a v1 SUBSCRIBE stream over real TCP and reads it until the first OFFERS event,
/// advancing the paused clock meanwhile. Returns the open stream and that event.
pub async fn v1_subscriber_with_offers(
    m: &MasterHandle,
    framework_info: serde_json::Value,
) -> (common::Stream, serde_json::Value) {
    let addr = m.address();
    let body = serde_json::json!({
        "type": "SUBSCRIBE",
        "subscribe": { "framework_info": framework_info }
    })
    .to_string();
    let reader = tokio::task::spawn_blocking(move || {
        let mut s = common::Stream::open(
            addr,
            "/api/v1/scheduler",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        loop {
            let event = s.json();
            if event["type"] == "OFFERS" {
                return (s, event);
            }
        }
    });
    for _ in 0..10 {
        if reader.is_finished() {
            break;
        }
        advance(&m.runtime, Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.await.expect("v1 subscriber got offers")
}

pub fn multi_role(roles: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        capabilities: vec![mesos_proto::mesos::framework_info::Capability {
            r#type: Some(mesos_proto::mesos::framework_info::capability::Type::MultiRole as i32),
        }],
        ..framework_info()
    }
}

pub fn offer_role(offer: &Offer) -> Option<&str> {
    offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
}

pub fn cpus(offers: &[Offer]) -> f64 {
    offers
        .iter()
        .flat_map(|o| o.resources.iter())
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// Offers arriving over `seconds` allocation intervals, all together.
pub async fn offers_within(m: &MasterHandle, sched: &mut PeerHandle, seconds: u32) -> Vec<Offer> {
    let mut all = Vec::new();
    for _ in 0..seconds {
        advance(&m.runtime, Duration::from_secs(1)).await;
        while let Some(o) = sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await
        {
            all.extend(o.offers);
        }
    }
    all
}

/// POSTs a v1 call for the framework of `stream` and returns the HTTP status.
pub fn v1_call(
    addr: std::net::SocketAddrV4,
    stream: &common::Stream,
    call: serde_json::Value,
) -> u16 {
    let stream_id = stream.header("Mesos-Stream-Id").unwrap_or("").to_string();
    common::http(
        addr,
        "POST",
        "/api/v1/scheduler",
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", &stream_id),
        ],
        call.to_string().as_bytes(),
    )
    .status
}

/// The next event of `kind` on the stream.
pub fn next_event(stream: &mut common::Stream, kind: &str) -> serde_json::Value {
    loop {
        let event = stream.json();
        if event["type"] == kind {
            return event;
        }
    }
}
