//! Frameworks a new master learns of only from its agents (after a master failover), in
//! one process on a paused clock: the framework's `failover_timeout` runs after
//! `--agent_reregister_timeout`; a scheduler that subscribes again in time takes its tasks
//! over, one that never does is removed and its tasks killed on the agents.

mod common;
mod semantics;

use std::time::Duration;

use common::{advance, http, master, metric, peer, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkReregisteredMessage, ReregisterSlaveMessage, ShutdownFrameworkMessage,
    SlaveReregisteredMessage,
};
use mesos_proto::mesos::{FrameworkId, FrameworkInfo, SlaveId, Task, TaskId, TaskState};
use semantics::{slave_info, subscribe_call};
use serde_json::Value;

const FRAMEWORK: &str = "old-leader-0000";
const AGENT: &str = "old-leader-S0";

fn framework(failover_timeout: f64) -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "orphan".into(),
        id: Some(FrameworkId {
            value: FRAMEWORK.into(),
        }),
        failover_timeout: Some(failover_timeout),
        ..Default::default()
    }
}

/// An agent that ran under the old leader re-registers with one running task.
fn reregistration(failover_timeout: f64) -> ReregisterSlaveMessage {
    let mut info = slave_info();
    info.id = Some(SlaveId {
        value: AGENT.into(),
    });
    ReregisterSlaveMessage {
        slave: info,
        version: Some("1.11.0".into()),
        frameworks: vec![framework(failover_timeout)],
        tasks: vec![Task {
            name: "long".into(),
            task_id: TaskId { value: "t1".into() },
            framework_id: FrameworkId {
                value: FRAMEWORK.into(),
            },
            slave_id: SlaveId {
                value: AGENT.into(),
            },
            state: TaskState::TaskRunning as i32,
            resources: Resources::parse("cpus:1;mem:128", "*")
                .unwrap()
                .to_protos_pre(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn state(m: &MasterHandle) -> Value {
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || http(addr, "GET", "/master/state", &[], b""))
        .await
        .unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn a_framework_known_only_from_an_agent_is_torn_down_after_reregister_timeout_plus_its_failover_timeout(
) {
    let m = master(&["--agent_reregister_timeout=10secs"]);
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(m.upid(), &reregistration(60.0));
    agent.expect::<SlaveReregisteredMessage>().await;
    let s = state(&m).await;
    assert_eq!(s["frameworks"][0]["id"], FRAMEWORK);
    assert_eq!(s["frameworks"][0]["active"], false);

    // 10 s for the agents, then the framework's own 60 s: not a moment earlier.
    advance(&m.runtime, Duration::from_secs(69)).await;
    assert!(agent
        .maybe::<ShutdownFrameworkMessage>(Duration::from_millis(200))
        .await
        .is_none());
    advance(&m.runtime, Duration::from_secs(2)).await;
    let (_, shutdown) = agent.expect::<ShutdownFrameworkMessage>().await;
    assert_eq!(shutdown.framework_id.value, FRAMEWORK);
    let s = state(&m).await;
    assert_eq!(s["frameworks"], serde_json::json!([]));
    let done = &s["completed_frameworks"][0];
    assert_eq!(done["id"], FRAMEWORK);
    assert_eq!(done["completed_tasks"][0]["state"], "TASK_KILLED");
    assert_eq!(metric(&m.runtime, "master/tasks_killed"), 1.0);
}

#[tokio::test]
async fn a_recovered_framework_whose_scheduler_subscribes_in_time_keeps_its_tasks() {
    let m = master(&["--agent_reregister_timeout=10secs"]);
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    agent.send(m.upid(), &reregistration(60.0));
    agent.expect::<SlaveReregisteredMessage>().await;

    advance(&m.runtime, Duration::from_secs(30)).await;
    // A new scheduler process takes the framework over.
    let mut scheduler = peer(&m.runtime, "scheduler-new", SCHEDULER_MESSAGES);
    scheduler.send(m.upid(), &subscribe_call(framework(60.0)));
    let (_, reregistered) = scheduler.expect::<FrameworkReregisteredMessage>().await;
    assert_eq!(reregistered.framework_id.value, FRAMEWORK);

    advance(&m.runtime, Duration::from_secs(120)).await;
    assert!(agent
        .maybe::<ShutdownFrameworkMessage>(Duration::from_millis(200))
        .await
        .is_none());
    let s = state(&m).await;
    assert_eq!(s["frameworks"][0]["active"], true);
    assert_eq!(s["frameworks"][0]["tasks"][0]["state"], "TASK_RUNNING");
}
