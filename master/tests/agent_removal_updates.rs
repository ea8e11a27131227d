//! The status updates the master generates for the tasks of a removed agent carry what
//! genuine 1.11 puts in them (master.cpp `_removeSlave` / `__removeSlave`): an agent that
//! unregistered makes its tasks TASK_LOST ("Agent <host> removed: the agent unregistered"),
//! even for partition-aware frameworks; one that failed health checks makes them
//! TASK_UNREACHABLE for partition-aware frameworks ("health check timed out", with
//! `unreachable_time`). Both are SOURCE_MASTER / REASON_SLAVE_REMOVED, without uuid, sent
//! with the empty UPID as `pid`.

mod common;

use std::time::Duration;

use common::{advance, master, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use libprocess::Matcher;
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, RegisterSlaveMessage, ResourceOffersMessage, RunTaskMessage,
    SlaveRegisteredMessage, StatusUpdateMessage, UnregisterSlaveMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    framework_info, offer, task_status, CommandInfo, FrameworkInfo, SlaveId, SlaveInfo, TaskId,
    TaskInfo, TaskState,
};

/// A master (pings every second, 3 misses), an agent running task "t" of a
/// partition-aware framework; returns the agent, the framework and the agent id.
async fn running_task(m: &MasterHandle) -> (PeerHandle, PeerHandle, String) {
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "agent-host".into(),
                resources: Resources::parse("cpus:1;mem:512", "*")
                    .unwrap()
                    .to_protos_pre(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, reg) = agent.expect::<SlaveRegisteredMessage>().await;
    let mut sched = peer(&m.runtime, "scheduler-1", SCHEDULER_MESSAGES);
    let info = FrameworkInfo {
        user: "test".into(),
        name: "aware".into(),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        }],
        ..Default::default()
    };
    sched.send(
        m.upid(),
        &Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let (_, registered) = sched.expect::<FrameworkRegisteredMessage>().await;
    let mut offers = None;
    for _ in 0..20 {
        advance(&m.runtime, Duration::from_secs(1)).await;
        offers = sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await;
        if offers.is_some() {
            break;
        }
    }
    let offer = offers.expect("an offer").offers.remove(0);
    let task = TaskInfo {
        name: "t".into(),
        task_id: TaskId { value: "t".into() },
        slave_id: offer.slave_id.clone(),
        resources: Resources::parse("cpus:0.5;mem:64", "*")
            .unwrap()
            .to_protos_pre(),
        command: Some(CommandInfo {
            value: Some("sleep 100".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    sched.send(
        m.upid(),
        &Call {
            framework_id: Some(registered.framework_id.clone()),
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![offer.id],
                operations: vec![offer::Operation {
                    r#type: Some(offer::operation::Type::Launch as i32),
                    launch: Some(offer::operation::Launch {
                        task_infos: vec![task],
                    }),
                    ..Default::default()
                }],
                filters: None,
            }),
            ..Default::default()
        },
    );
    agent.expect::<RunTaskMessage>().await;
    (agent, sched, reg.slave_id.value)
}

fn assert_master_update(msg: &StatusUpdateMessage, agent_id: &str) {
    assert_eq!(msg.pid.as_deref(), Some("@0.0.0.0:0"));
    let u = &msg.update;
    assert!(u.uuid.is_none() && u.status.uuid.is_none());
    assert_eq!(
        u.slave_id.as_ref().map(|s| s.value.as_str()),
        Some(agent_id)
    );
    assert_eq!(u.status.task_id.value, "t");
    assert_eq!(u.status.source(), task_status::Source::Master);
    assert_eq!(u.status.reason(), task_status::Reason::SlaveRemoved);
    assert_eq!(u.status.timestamp, Some(u.timestamp));
}

#[tokio::test]
async fn unregistered_agent_makes_tasks_lost_even_for_partition_aware_frameworks() {
    let m = master(&[]);
    let (agent, mut sched, agent_id) = running_task(&m).await;
    agent.send(
        m.upid(),
        &UnregisterSlaveMessage {
            slave_id: SlaveId {
                value: agent_id.clone(),
            },
        },
    );
    let (_, msg) = sched.expect::<StatusUpdateMessage>().await;
    assert_master_update(&msg, &agent_id);
    assert_eq!(msg.update.status.state(), TaskState::TaskLost);
    assert_eq!(
        msg.update.status.message.as_deref(),
        Some("Agent agent-host removed: the agent unregistered")
    );
    assert!(msg.update.status.unreachable_time.is_none());
    m.shutdown();
}

#[tokio::test]
async fn unreachable_agent_makes_tasks_unreachable_with_the_genuine_message() {
    let m = master(&["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2"]);
    let (_agent, mut sched, agent_id) = running_task(&m).await;
    m.runtime
        .filters()
        .drop_all(Matcher::message("mesos.internal.PongSlaveMessage"));
    for _ in 0..4 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    let (_, msg) = sched.expect::<StatusUpdateMessage>().await;
    assert_master_update(&msg, &agent_id);
    assert_eq!(msg.update.status.state(), TaskState::TaskUnreachable);
    assert_eq!(
        msg.update.status.message.as_deref(),
        Some("health check timed out")
    );
    assert!(msg.update.status.unreachable_time.is_some());
    m.shutdown();
}
