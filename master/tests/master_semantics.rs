//! Mesos semantics of the master, in one process on a paused clock: reconciliation answers,
//! role changes and failovers, agent re-registration, relays and unsupported operations.

mod common;

use std::time::Duration;

use common::{advance, master, metric, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, RegisterSlaveMessage, ResourceOffersMessage, RunTaskMessage,
    SlaveRegisteredMessage, StatusUpdate, StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, task_status, CommandInfo, FrameworkId, FrameworkInfo, Offer, OfferId, SlaveId,
    SlaveInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

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

async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, String) {
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

fn subscribe_call(info: FrameworkInfo) -> Call {
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

async fn subscribe(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, String) {
    let mut sched = peer(&m.runtime, id, SCHEDULER_MESSAGES);
    sched.send(m.upid(), &subscribe_call(info));
    let (_, reg) = sched.expect::<FrameworkRegisteredMessage>().await;
    (sched, reg.framework_id.value)
}

fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "test-framework".into(),
        ..Default::default()
    }
}

/// Advances the clock an allocation interval at a time until offers arrive.
async fn next_offers(m: &MasterHandle, sched: &mut PeerHandle) -> ResourceOffersMessage {
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

fn call_of(framework_id: &str, t: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn accept_ops(framework_id: &str, offer_ids: Vec<OfferId>, ops: Vec<offer::Operation>) -> Call {
    let mut c = call_of(framework_id, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids,
        operations: ops,
        filters: None,
    });
    c
}

fn launch(tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

fn task(id: &str, offer: &Offer, resources: &str) -> TaskInfo {
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
fn agent_update(
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
struct Launched {
    m: MasterHandle,
    agent: PeerHandle,
    agent_id: String,
    sched: PeerHandle,
    fid: String,
}

async fn launched(flags: &[&str], info: FrameworkInfo) -> Launched {
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

#[tokio::test]
async fn reconciliation_answers_with_the_status_update_state_not_the_latest_state() {
    let Launched {
        m,
        agent,
        agent_id,
        mut sched,
        fid,
    } = launched(&[], framework_info()).await;
    // The agent forwards TASK_RUNNING while the task already finished (latest_state).
    let update = agent_update(
        &fid,
        &agent_id,
        "t1",
        TaskState::TaskRunning,
        Some(TaskState::TaskFinished),
    );
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update,
            pid: Some(agent.upid().to_string()),
        },
    );
    let (_, forwarded) = sched.expect::<StatusUpdateMessage>().await;
    assert_eq!(forwarded.update.status.state(), TaskState::TaskRunning);

    // Implicit (v0 call) and explicit (v0 ReconcileTasksMessage) reconciliation.
    let mut implicit = call_of(&fid, call::Type::Reconcile);
    implicit.reconcile = Some(call::Reconcile { tasks: vec![] });
    sched.send(m.upid(), &implicit);
    sched.send(
        m.upid(),
        &mesos_proto::mesos::internal::ReconcileTasksMessage {
            framework_id: FrameworkId { value: fid.clone() },
            framework: None,
            statuses: vec![TaskStatus {
                task_id: TaskId { value: "t1".into() },
                state: TaskState::TaskStaging as i32,
                ..Default::default()
            }],
        },
    );
    for kind in ["implicit", "explicit"] {
        let (_, u) = sched.expect::<StatusUpdateMessage>().await;
        let s = &u.update.status;
        assert_eq!(s.state(), TaskState::TaskRunning, "{kind}");
        assert_eq!(s.reason(), task_status::Reason::Reconciliation, "{kind}");
        assert_eq!(s.source(), task_status::Source::Master, "{kind}");
        assert_eq!(
            s.message.as_deref(),
            Some("Reconciliation: Latest task state"),
            "{kind}"
        );
        assert!(s.uuid.is_none() && u.update.uuid.is_none(), "{kind}");
    }
    m.shutdown();
}

/// Opens a v1 SUBSCRIBE stream over real TCP and reads it until the first OFFERS event,
/// advancing the paused clock meanwhile. Returns the open stream and that event.
async fn v1_subscriber_with_offers(
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

#[tokio::test]
async fn a_v1_scheduler_closing_its_socket_is_disconnected_at_once_and_its_offers_go_to_others() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (stream, offers) = v1_subscriber_with_offers(
        &m,
        serde_json::json!({"user": "test", "name": "v1-crasher", "failover_timeout": 3600.0}),
    )
    .await;
    assert_eq!(offers["offers"]["offers"].as_array().map(Vec::len), Some(1));

    // A second framework gets nothing: the first holds the whole agent.
    let (mut other, _) = subscribe(&m, "scheduler-2", framework_info()).await;
    for _ in 0..2 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert!(other
        .maybe::<ResourceOffersMessage>(Duration::from_millis(100))
        .await
        .is_none());

    // The first scheduler's socket closes (a crash). Well before the 15 s heartbeat the
    // master has noticed, and the other framework is offered the agent.
    drop(stream);
    let mut got = None;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        advance(&m.runtime, Duration::from_secs(1)).await;
        got = other
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await;
        if got.is_some() {
            break;
        }
    }
    assert!(got.is_some(), "no offer to the other framework within 4 s");
    assert_eq!(metric(&m.runtime, "master/frameworks_disconnected"), 1.0);
    assert_eq!(metric(&m.runtime, "master/frameworks_inactive"), 1.0);
    assert_eq!(metric(&m.runtime, "master/offers_rescinded"), 1.0);
    m.shutdown();
}

fn multi_role(roles: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        capabilities: vec![mesos_proto::mesos::framework_info::Capability {
            r#type: Some(mesos_proto::mesos::framework_info::capability::Type::MultiRole as i32),
        }],
        ..framework_info()
    }
}

fn offer_role(offer: &Offer) -> Option<&str> {
    offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
}

#[tokio::test]
async fn update_framework_with_other_roles_rescinds_offers_of_dropped_roles_and_reoffers_to_new_ones(
) {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", multi_role(&["a"])).await;
    let first = next_offers(&m, &mut sched).await.offers[0].clone();
    assert_eq!(offer_role(&first), Some("a"));

    let mut info = multi_role(&["b"]);
    info.id = Some(FrameworkId { value: fid.clone() });
    let mut update = call_of(&fid, call::Type::UpdateFramework);
    update.update_framework = Some(call::UpdateFramework {
        framework_info: info,
        suppressed_roles: vec![],
        offer_constraints: None,
    });
    sched.send(m.upid(), &update);
    let (_, rescind) = sched
        .expect::<mesos_proto::mesos::internal::RescindResourceOfferMessage>()
        .await;
    assert_eq!(rescind.offer_id, first.id);
    let again = next_offers(&m, &mut sched).await.offers[0].clone();
    assert_eq!(
        offer_role(&again),
        Some("b"),
        "the allocator knows the new role"
    );
    m.shutdown();
}

#[tokio::test]
async fn a_v0_scheduler_failing_over_to_a_new_pid_with_a_changed_role_gets_fresh_offers_for_it() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let mut info = multi_role(&["a"]);
    info.failover_timeout = Some(3600.0);
    let (mut old, fid) = subscribe(&m, "scheduler-1", info.clone()).await;
    let first = next_offers(&m, &mut old).await.offers[0].clone();

    // A new scheduler process re-registers the framework with another role.
    let mut new = peer(&m.runtime, "scheduler-2", SCHEDULER_MESSAGES);
    let mut changed = multi_role(&["b"]);
    changed.failover_timeout = Some(3600.0);
    changed.id = Some(FrameworkId { value: fid.clone() });
    let mut resubscribe = subscribe_call(changed);
    if let Some(s) = resubscribe.subscribe.as_mut() {
        s.force = Some(true);
    }
    new.send(m.upid(), &resubscribe);
    let (_, error) = old
        .expect::<mesos_proto::mesos::internal::FrameworkErrorMessage>()
        .await;
    assert_eq!(error.message, "Framework failed over");
    new.expect::<mesos_proto::mesos::internal::FrameworkReregisteredMessage>()
        .await;
    // The old scheduler's offer is discarded (the new one never saw it) and its
    // resources are offered to the new scheduler, for the new role.
    let again = next_offers(&m, &mut new).await.offers[0].clone();
    assert_ne!(again.id, first.id);
    assert_eq!(offer_role(&again), Some("b"));
    assert!(new
        .maybe::<mesos_proto::mesos::internal::RescindResourceOfferMessage>(Duration::from_millis(
            50
        ))
        .await
        .is_none());
    assert_eq!(metric(&m.runtime, "master/outstanding_offers"), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn a_v1_scheduler_failing_over_to_a_new_stream_gets_the_offers_of_the_old_one() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (old, first) = v1_subscriber_with_offers(
        &m,
        serde_json::json!({"user": "test", "name": "v1", "failover_timeout": 3600.0}),
    )
    .await;
    let fid = first["offers"]["offers"][0]["framework_id"]["value"]
        .as_str()
        .expect("framework id")
        .to_string();
    let first_id = first["offers"]["offers"][0]["id"]["value"].clone();
    let (_new, again) = v1_subscriber_with_offers(
        &m,
        serde_json::json!({"user": "test", "name": "v1", "failover_timeout": 3600.0,
                           "id": {"value": fid}}),
    )
    .await;
    assert_ne!(again["offers"]["offers"][0]["id"]["value"], first_id);
    assert_eq!(metric(&m.runtime, "master/outstanding_offers"), 1.0);
    drop(old);
    m.shutdown();
}

fn cpus(offers: &[Offer]) -> f64 {
    offers
        .iter()
        .flat_map(|o| o.resources.iter())
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// Offers arriving over `seconds` allocation intervals, all together.
async fn offers_within(m: &MasterHandle, sched: &mut PeerHandle, seconds: u32) -> Vec<Offer> {
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

fn reserve(id: Option<&str>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Reserve as i32),
        id: id.map(|v| mesos_proto::mesos::OperationId { value: v.into() }),
        reserve: Some(offer::operation::Reserve {
            resources: Resources::parse("cpus:1", "*").unwrap().to_protos_pre(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn unsupported_offer_operations_are_dropped_as_operation_errors_not_ignored() {
    let m = master(&[]);
    let (mut agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    // RESERVE is dropped; the LAUNCH beside it still runs on the unreserved resources.
    sched.send(
        m.upid(),
        &accept_ops(
            &fid,
            vec![offer.id.clone()],
            vec![
                reserve(None),
                launch(vec![task("t1", &offer, "cpus:1;mem:128")]),
            ],
        ),
    );
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(run.task.task_id.value, "t1");
    assert_eq!(metric(&m.runtime, "master/operations/reserve/error"), 1.0);
    assert_eq!(metric(&m.runtime, "master/operations/error"), 1.0);

    // A v0 driver asking for operation feedback is told it cannot have it.
    let again = next_offers(&m, &mut sched).await.offers[0].clone();
    sched.send(
        m.upid(),
        &accept_ops(&fid, vec![again.id.clone()], vec![reserve(Some("op-1"))]),
    );
    let (_, error) = sched
        .expect::<mesos_proto::mesos::internal::FrameworkErrorMessage>()
        .await;
    assert!(
        error.message.contains("operation feedback"),
        "{}",
        error.message
    );
    assert_eq!(metric(&m.runtime, "master/operations/reserve/error"), 2.0);
    m.shutdown();
}

#[tokio::test]
async fn a_v1_framework_asking_for_feedback_on_an_unsupported_operation_gets_operation_error() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (stream, offers) =
        v1_subscriber_with_offers(&m, serde_json::json!({"user": "test", "name": "v1-ops"})).await;
    let offer = &offers["offers"]["offers"][0];
    let fid = offer["framework_id"]["value"].as_str().unwrap().to_string();
    let stream_id = stream.header("Mesos-Stream-Id").unwrap().to_string();
    let accept = serde_json::json!({
        "type": "ACCEPT",
        "framework_id": {"value": fid},
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{
                "type": "CREATE",
                "id": {"value": "op-1"},
                "create": {"volumes": []}
            }]
        }
    })
    .to_string();
    let addr = m.address();
    let (status, event) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        let response = common::http(
            addr,
            "POST",
            "/api/v1/scheduler",
            &[
                ("Content-Type", "application/json"),
                ("Mesos-Stream-Id", &stream_id),
            ],
            accept.as_bytes(),
        );
        loop {
            let event = stream.json();
            if event["type"] == "UPDATE_OPERATION_STATUS" {
                return (response.status, event);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    let s = &event["update_operation_status"]["status"];
    assert_eq!(s["state"], "OPERATION_ERROR");
    assert_eq!(s["operation_id"]["value"], "op-1");
    assert!(
        s["message"].as_str().is_some_and(|m| m.contains("CREATE")),
        "{s}"
    );
    assert_eq!(metric(&m.runtime, "master/operations/create/error"), 1.0);
    m.shutdown();
}

/// POSTs a v1 call for the framework of `stream` and returns the HTTP status.
fn v1_call(addr: std::net::SocketAddrV4, stream: &common::Stream, call: serde_json::Value) -> u16 {
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
fn next_event(stream: &mut common::Stream, kind: &str) -> serde_json::Value {
    loop {
        let event = stream.json();
        if event["type"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn v1_implicit_reconciliation_answers_with_the_status_update_state() {
    let m = master(&[]);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (stream, offers) =
        v1_subscriber_with_offers(&m, serde_json::json!({"user": "test", "name": "v1-rec"})).await;
    let offer = offers["offers"]["offers"][0].clone();
    let fid = offer["framework_id"]["value"].as_str().unwrap().to_string();
    let addr = m.address();
    let accept = serde_json::json!({
        "type": "ACCEPT",
        "framework_id": {"value": fid},
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t1", "task_id": {"value": "t1"}, "agent_id": offer["agent_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
                "command": {"value": "sleep 100"}
            }]}}]
        }
    });
    let (status, stream) = tokio::task::spawn_blocking(move || {
        let status = v1_call(addr, &stream, accept);
        (status, stream)
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    agent.expect::<RunTaskMessage>().await;
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update: agent_update(
                &fid,
                &agent_id,
                "t1",
                TaskState::TaskRunning,
                Some(TaskState::TaskFailed),
            ),
            pid: Some(agent.upid().to_string()),
        },
    );
    let reconcile = serde_json::json!({
        "type": "RECONCILE",
        "framework_id": {"value": fid},
        "reconcile": {"tasks": []}
    });
    let (forwarded, reconciled) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        let forwarded = next_event(&mut stream, "UPDATE");
        assert_eq!(v1_call(addr, &stream, reconcile), 202);
        (forwarded, next_event(&mut stream, "UPDATE"))
    })
    .await
    .unwrap();
    assert_eq!(forwarded["update"]["status"]["state"], "TASK_RUNNING");
    let s = &reconciled["update"]["status"];
    assert_eq!(s["state"], "TASK_RUNNING", "{s}");
    assert_eq!(s["reason"], "REASON_RECONCILIATION");
    assert_eq!(s["source"], "SOURCE_MASTER");
    assert!(s.get("uuid").is_none(), "nothing to acknowledge: {s}");
    m.shutdown();
}
