//! Mesos semantics of the master towards frameworks, in one process on a paused clock:
//! reconciliation answers, role changes and failovers, a v1 scheduler's socket closing,
//! unsupported offer operations.

mod common;
mod semantics;

use std::time::Duration;

use common::{advance, master, metric, peer, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_proto::mesos::internal::{ResourceOffersMessage, RunTaskMessage, StatusUpdateMessage};
use mesos_proto::mesos::scheduler::call;
use mesos_proto::mesos::{offer, task_status, FrameworkId, TaskId, TaskState, TaskStatus};
use semantics::*;

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
    // Its failover timeout started when the socket closed: an hour later it is removed.
    advance(&m.runtime, Duration::from_secs(3600)).await;
    assert_eq!(metric(&m.runtime, "master/frameworks_inactive"), 0.0);
    assert_eq!(metric(&m.runtime, "master/frameworks_active"), 1.0);
    m.shutdown();
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
