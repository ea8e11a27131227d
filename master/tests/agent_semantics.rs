//! Mesos semantics of the master towards agents, in one process on a paused clock: a known
//! agent re-registering, executor messages and acknowledgements relayed only when valid.

mod common;
mod semantics;

use std::time::Duration;

use common::{master, metric, peer, AGENT_MESSAGES};
use mesos_allocator::Resources;
use mesos_proto::mesos::internal::{RunTaskMessage, StatusUpdateMessage};
use mesos_proto::mesos::scheduler::call;
use mesos_proto::mesos::{task_status, CommandInfo, FrameworkId, SlaveId, TaskId, TaskState};
use semantics::*;

fn reregistration(
    agent_id: &str,
    resources: &str,
) -> mesos_proto::mesos::internal::ReregisterSlaveMessage {
    let mut info = slave_info();
    info.id = Some(SlaveId {
        value: agent_id.into(),
    });
    info.resources = Resources::parse(resources, "*").unwrap().to_protos_pre();
    mesos_proto::mesos::internal::ReregisterSlaveMessage {
        slave: info,
        version: Some("1.11.0".into()),
        ..Default::default()
    }
}

const AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]";

#[tokio::test]
async fn a_known_agent_reregistering_without_a_task_is_asked_to_reconcile_it_and_its_lost_executor_is_removed(
) {
    let m = master(&[]);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let mut t1 = task("t1", &offer, "cpus:1;mem:128");
    t1.command = None;
    t1.executor = Some(mesos_proto::mesos::ExecutorInfo {
        executor_id: mesos_proto::mesos::ExecutorId { value: "e1".into() },
        command: Some(CommandInfo {
            value: Some("run-executor".into()),
            ..Default::default()
        }),
        resources: Resources::parse("cpus:0.5;mem:32", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    });
    let mut accept = accept_ops(&fid, vec![offer.id.clone()], vec![launch(vec![t1])]);
    if let Some(a) = accept.accept.as_mut() {
        a.filters = Some(mesos_proto::mesos::Filters {
            refuse_seconds: Some(0.0),
        });
    }
    sched.send(m.upid(), &accept);
    agent.expect::<RunTaskMessage>().await;
    // The rest of the agent comes back at once; the framework keeps that offer.
    let rest = next_offers(&m, &mut sched).await;
    assert_eq!(cpus(&rest.offers), 2.5);

    // The agent restarts, knowing neither the task nor its executor.
    agent.send(m.upid(), &reregistration(&agent_id, AGENT_RESOURCES));
    let (_, reregistered) = agent
        .expect::<mesos_proto::mesos::internal::SlaveReregisteredMessage>()
        .await;
    assert_eq!(reregistered.reconciliations.len(), 1);
    let reconcile = &reregistered.reconciliations[0];
    assert_eq!(reconcile.framework_id.value, fid);
    assert!(
        reconcile.framework.is_some(),
        "the agent needs the FrameworkInfo"
    );
    assert_eq!(reconcile.statuses.len(), 1);
    let status = &reconcile.statuses[0];
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state(), TaskState::TaskStaging);
    assert_eq!(status.reason(), task_status::Reason::Reconciliation);
    assert_eq!(status.source(), task_status::Source::Master);

    // The executor the agent no longer runs is forgotten: its 0.5 cpus are offered again.
    let executor_back = offers_within(&m, &mut sched, 2).await;
    assert_eq!(cpus(&executor_back), 0.5);

    // The agent answers as a genuine one does: TASK_LOST for the unknown task.
    let mut lost = agent_update(&fid, &agent_id, "t1", TaskState::TaskLost, None);
    lost.status.source = Some(task_status::Source::Slave as i32);
    lost.status.reason = Some(task_status::Reason::Reconciliation as i32);
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update: lost,
            pid: Some(agent.upid().to_string()),
        },
    );
    let (_, forwarded) = sched.expect::<StatusUpdateMessage>().await;
    assert_eq!(forwarded.update.status.state(), TaskState::TaskLost);
    let task_back = offers_within(&m, &mut sched, 2).await;
    assert_eq!(cpus(&task_back), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn a_known_agent_reregistering_with_more_resources_has_them_offered() {
    let m = master(&[]);
    let (agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, _fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let first = next_offers(&m, &mut sched).await;
    assert_eq!(cpus(&first.offers), 4.0);
    agent.send(
        m.upid(),
        &reregistration(&agent_id, "cpus:8;mem:4096;disk:10000;ports:[31000-32000]"),
    );
    let more = offers_within(&m, &mut sched, 3).await;
    assert_eq!(
        cpus(&more),
        4.0,
        "the 4 new cpus, the rest is still offered"
    );
    m.shutdown();
}

fn executor_message(
    fid: &str,
    agent_id: &str,
) -> mesos_proto::mesos::internal::ExecutorToFrameworkMessage {
    mesos_proto::mesos::internal::ExecutorToFrameworkMessage {
        slave_id: SlaveId {
            value: agent_id.into(),
        },
        framework_id: FrameworkId { value: fid.into() },
        executor_id: mesos_proto::mesos::ExecutorId { value: "e1".into() },
        data: b"hello".to_vec(),
    }
}

#[tokio::test]
async fn executor_messages_are_relayed_only_from_the_agent_they_name_and_to_connected_frameworks() {
    use mesos_proto::mesos::internal::ExecutorToFrameworkMessage;
    let m = master(&[]);
    let (agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;

    // Someone who is not the agent claims to relay for it.
    let intruder = peer(&m.runtime, "slave(9)", AGENT_MESSAGES);
    intruder.send(m.upid(), &executor_message(&fid, &agent_id));
    // A message naming an agent that does not exist.
    agent.send(m.upid(), &executor_message(&fid, "no-such-agent"));
    // A message for a framework that does not exist.
    agent.send(m.upid(), &executor_message("no-such-framework", &agent_id));
    // The real agent.
    agent.send(m.upid(), &executor_message(&fid, &agent_id));
    let (_, relayed) = sched.expect::<ExecutorToFrameworkMessage>().await;
    assert_eq!(relayed.data, b"hello");
    assert!(sched
        .maybe::<ExecutorToFrameworkMessage>(Duration::from_millis(100))
        .await
        .is_none());
    assert_eq!(
        metric(&m.runtime, "master/invalid_executor_to_framework_messages"),
        3.0
    );
    assert_eq!(
        metric(&m.runtime, "master/valid_executor_to_framework_messages"),
        1.0
    );

    // A disconnected framework gets nothing relayed.
    let mut info = framework_info();
    info.failover_timeout = Some(3600.0);
    let (mut other, other_id) = subscribe(&m, "scheduler-2", info).await;
    other.pid.terminate();
    for _ in 0..20 {
        if metric(&m.runtime, "master/frameworks_disconnected") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    agent.send(m.upid(), &executor_message(&other_id, &agent_id));
    for _ in 0..20 {
        if metric(&m.runtime, "master/invalid_executor_to_framework_messages") == 4.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        metric(&m.runtime, "master/invalid_executor_to_framework_messages"),
        4.0
    );
    other.drain();
    m.shutdown();
}

#[tokio::test]
async fn acknowledgements_are_not_relayed_to_a_disconnected_agent() {
    let Launched {
        m,
        agent,
        agent_id,
        mut sched,
        fid,
    } = launched(&[], framework_info()).await;
    let update = agent_update(&fid, &agent_id, "t1", TaskState::TaskRunning, None);
    let uuid = update.uuid.clone().unwrap_or_default();
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update,
            pid: Some(agent.upid().to_string()),
        },
    );
    sched.expect::<StatusUpdateMessage>().await;
    let acks = m.runtime.filters().count(libprocess::Matcher::message(
        "mesos.internal.StatusUpdateAcknowledgementMessage",
    ));
    let mut ack = call_of(&fid, call::Type::Acknowledge);
    ack.acknowledge = Some(call::Acknowledge {
        slave_id: SlaveId {
            value: agent_id.clone(),
        },
        task_id: TaskId { value: "t1".into() },
        uuid,
    });
    // While the agent is connected the acknowledgement is relayed.
    sched.send(m.upid(), &ack);
    for _ in 0..50 {
        if acks.load(std::sync::atomic::Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(acks.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The agent's link breaks.
    agent.pid.terminate();
    for _ in 0..50 {
        if metric(&m.runtime, "master/slaves_disconnected") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metric(&m.runtime, "master/slaves_disconnected"), 1.0);
    sched.send(m.upid(), &ack);
    for _ in 0..50 {
        if metric(&m.runtime, "master/invalid_status_update_acknowledgements") == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        metric(&m.runtime, "master/invalid_status_update_acknowledgements"),
        1.0
    );
    assert_eq!(acks.load(std::sync::atomic::Ordering::SeqCst), 1);
    m.shutdown();
}
