//! What peers cannot do to the master with numbers and rates: absurd resources in an
//! agent's (re-)registration, durations like NaN or 1e300, histories that grow without end,
//! and v1 subscribers that never read their event stream.

mod common;

use std::time::Duration;

use common::{advance, master, metric, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, RegisterSlaveMessage, ReregisterSlaveMessage,
    SlaveRegisteredMessage, SlaveReregisteredMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{value, FrameworkInfo, Resource, SlaveId, SlaveInfo};

fn slave_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "localhost".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

fn register_message(info: SlaveInfo) -> RegisterSlaveMessage {
    RegisterSlaveMessage {
        slave: info,
        version: Some("1.11.0".into()),
        ..Default::default()
    }
}

async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, String) {
    let mut agent = peer(&m.runtime, id, AGENT_MESSAGES);
    agent.send(m.upid(), &register_message(slave_info()));
    let (_, reg) = agent.expect::<SlaveRegisteredMessage>().await;
    (agent, reg.slave_id.value)
}

async fn subscribe_v0(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, String) {
    let mut sched = peer(&m.runtime, id, SCHEDULER_MESSAGES);
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    sched.send(m.upid(), &call);
    let (_, reg) = sched.expect::<FrameworkRegisteredMessage>().await;
    (sched, reg.framework_id.value)
}

fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "bounds".into(),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn with_resources(resources: Vec<Resource>) -> SlaveInfo {
    SlaveInfo {
        resources,
        ..slave_info()
    }
}

#[tokio::test]
async fn agents_registering_invalid_resources_are_dropped_and_valid_ones_still_register() {
    let m = master(&[]);
    let inverted = Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range {
                begin: 32000,
                end: 31000,
            }],
        }),
        ..Default::default()
    };
    let bad = [
        vec![scalar("cpus", f64::NAN)],
        vec![scalar("cpus", 1e16)],
        vec![scalar("cpus", -4.0)],
        vec![scalar("mem", f64::INFINITY)],
        vec![scalar("cpus", 1.0), inverted],
    ];
    for (i, resources) in bad.into_iter().enumerate() {
        let mut agent = peer(&m.runtime, &format!("slave({})", i + 10), AGENT_MESSAGES);
        agent.send(m.upid(), &register_message(with_resources(resources)));
        assert!(
            agent
                .maybe::<SlaveRegisteredMessage>(Duration::from_millis(200))
                .await
                .is_none(),
            "registration {i} was accepted"
        );
    }
    assert_eq!(metric(&m.runtime, "master/slave_registrations"), 0.0);
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 0.0);
    register_agent(&m, "slave(1)").await;
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn agents_reregistering_invalid_resources_are_dropped() {
    let m = master(&[]);
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    let mut info = with_resources(vec![scalar("cpus", f64::NAN)]);
    info.id = Some(SlaveId {
        value: "unknown-S7".into(),
    });
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info.clone(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    assert!(agent
        .maybe::<SlaveReregisteredMessage>(Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 0.0);
    info.resources = slave_info().resources;
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info,
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, rereg) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(rereg.slave_id.value, "unknown-S7");
    advance(&m.runtime, Duration::from_millis(1)).await;
    m.shutdown();
}
