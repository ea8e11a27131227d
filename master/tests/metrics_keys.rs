//! The master's `/metrics/snapshot` against GENUINE 1.11's key list
//! (`tests/data/genuine_1_11_master_metrics_keys.txt`, captured from the genuine master, and
//! a live genuine master when `../shared/interop/native` is there): every genuine key is
//! served except the documented exclusions, and the message counters count what the master
//! handles.

mod common;
mod semantics;

use std::collections::BTreeSet;
use std::time::Duration;

use mesos_proto::mesos::internal::{StatusUpdate, StatusUpdateMessage};
use mesos_proto::mesos::scheduler::call;
use mesos_proto::mesos::{TaskId, TaskState, TaskStatus};
use semantics::*;

/// Genuine keys this master does not serve, with why.
const NOT_SERVED: &[(&str, &str)] = &[
    (
        "master/frameworks/<name>/<id>/",
        "per-framework call, event, offer and operation counters are not kept",
    ),
    (
        "registrar/log/",
        "the replicated log's ensemble: the registry is a file or ZooKeeper here",
    ),
    (
        "scheduler/",
        "the live genuine master's harness runs a scheduler driver in the same process",
    ),
];

fn genuine_keys() -> BTreeSet<String> {
    include_str!("data/genuine_1_11_master_metrics_keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|k| served(k))
        .map(str::to_string)
        .collect()
}

fn served(key: &str) -> bool {
    !NOT_SERVED.iter().any(|(prefix, _)| {
        let prefix = prefix.trim_end_matches("<name>/<id>/");
        key.starts_with(prefix)
    })
}

/// Our master's keys with a registry, an agent and a launched task.
async fn our_keys() -> BTreeSet<String> {
    let work = std::env::temp_dir().join(format!(
        "master-metrics-keys-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let work_flag = format!("--work_dir={}", work.display());
    // With a registry (as genuine always has one) and a task launched, so the registrar's
    // timers have samples.
    let l = launched(&["--registry=local", work_flag.as_str()], framework_info()).await;
    let ours = l.m.runtime.metrics().snapshot().into_keys().collect();
    l.m.shutdown();
    let _ = std::fs::remove_dir_all(&work);
    ours
}

#[tokio::test]
async fn every_metric_key_of_a_genuine_1_11_master_is_served_but_the_documented_ones() {
    let ours = our_keys().await;
    let missing: Vec<String> = genuine_keys()
        .into_iter()
        .filter(|k| !ours.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "genuine keys we do not serve: {missing:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_key_a_live_genuine_1_11_master_serves_is_served_but_the_documented_ones() {
    let test =
        "every_metric_key_a_live_genuine_1_11_master_serves_is_served_but_the_documented_ones";
    let Some(native) = mesos_tests::native::genuine(test) else {
        return;
    };
    let port = mesos_tests::native::free_port();
    let _genuine = mesos_tests::native::start_genuine_master(&native, port, 120);
    let live = tokio::task::spawn_blocking(move || {
        mesos_tests::native::wait_http_ok(port, "/master/health", Duration::from_secs(60))
            .expect("genuine master");
        // Some genuine gauges answer slowly; `timeout` returns what answered in time.
        let (status, body) =
            mesos_tests::native::http_get(port, "/metrics/snapshot?timeout=5secs").unwrap();
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v.as_object()
            .map(|o| o.keys().cloned().collect::<BTreeSet<String>>())
            .unwrap_or_default()
    })
    .await
    .unwrap();
    assert!(live.contains("master/uptime_secs"), "{live:?}");
    let ours = our_keys().await;
    let missing: Vec<&String> = live
        .iter()
        .filter(|k| served(k) && !ours.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys a live genuine master serves that we do not: {missing:#?}"
    );
}

#[tokio::test]
async fn message_counters_count_agent_messages_and_scheduler_calls_as_genuine_names_them() {
    let l = launched(&[], framework_info()).await;
    let m = l.m.clone();
    let metric = |name: &str| common::metric(&m.runtime, name);
    assert_eq!(metric("master/messages_register_slave"), 1.0);
    assert_eq!(metric("master/messages_register_framework"), 1.0);
    assert_eq!(metric("master/messages_reregister_framework"), 0.0);
    assert_eq!(metric("master/messages_kill_task"), 0.0);

    // A status update from the agent, a kill and a reconcile from the framework.
    let status = TaskStatus {
        task_id: TaskId { value: "t1".into() },
        state: TaskState::TaskRunning as i32,
        slave_id: Some(mesos_proto::mesos::SlaveId {
            value: l.agent_id.clone(),
        }),
        uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
        ..Default::default()
    };
    l.agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update: StatusUpdate {
                framework_id: mesos_proto::mesos::FrameworkId {
                    value: l.fid.clone(),
                },
                slave_id: Some(mesos_proto::mesos::SlaveId {
                    value: l.agent_id.clone(),
                }),
                uuid: status.uuid.clone(),
                status,
                timestamp: 1.0,
                ..Default::default()
            },
            pid: Some(l.agent.upid().to_string()),
        },
    );
    let mut kill = call_of(&l.fid, call::Type::Kill);
    kill.kill = Some(call::Kill {
        task_id: TaskId { value: "t1".into() },
        slave_id: None,
        kill_policy: None,
    });
    l.sched.send(m.upid(), &kill);
    let mut reconcile = call_of(&l.fid, call::Type::Reconcile);
    reconcile.reconcile = Some(call::Reconcile { tasks: Vec::new() });
    l.sched.send(m.upid(), &reconcile);
    m.runtime.clock().settle().await;
    let counted = mesos_tests::poll_until(std::time::Duration::from_secs(10), || {
        metric("master/messages_status_update") == 1.0
            && metric("master/messages_kill_task") == 1.0
            && metric("master/messages_reconcile_tasks") == 1.0
    });
    assert!(
        counted,
        "status update {}, kill {}, reconcile {}",
        metric("master/messages_status_update"),
        metric("master/messages_kill_task"),
        metric("master/messages_reconcile_tasks")
    );

    // The Prometheus text carries them too.
    let addr = m.address();
    let prometheus = tokio::task::spawn_blocking(move || {
        common::http(addr, "GET", "/metrics/prometheus", &[], b"")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&prometheus.body).to_string();
    for line in [
        "master_messages_register_slave 1\n",
        "master_messages_kill_task 1\n",
        "master_event_queue_messages ",
        "master_slave_removals_reason_unhealthy 0\n",
        "system_cpus_total ",
    ] {
        assert!(text.contains(line), "{line:?} not in the Prometheus text");
    }
    m.shutdown();
}
