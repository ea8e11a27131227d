//! An agent whose link breaks (not removed), as Mesos handles it, in one process on a
//! paused clock: tasks of frameworks that do not checkpoint are lost at once (and their
//! resources offered again); the agent has `--agent_reregister_timeout` to come back before
//! it is marked unreachable.

mod common;
mod semantics;

use std::time::Duration;

use common::{advance, metric, peer, AGENT_MESSAGES};
use mesos_proto::mesos::internal::{
    ReregisterSlaveMessage, SlaveReregisteredMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{task_status, FrameworkInfo, SlaveId, TaskState};
use semantics::*;

async fn until_metric(m: &mesos_master::MasterHandle, name: &str, want: f64) {
    for _ in 0..200 {
        if metric(&m.runtime, name) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} is {}, not {want}", metric(&m.runtime, name));
}

#[tokio::test]
async fn a_non_checkpointing_frameworks_tasks_are_lost_when_the_agents_link_breaks() {
    let Launched {
        m,
        agent,
        agent_id,
        mut sched,
        ..
    } = launched(&[], framework_info()).await;
    agent.pid.terminate();
    let (_, lost) = sched.expect::<StatusUpdateMessage>().await;
    let status = &lost.update.status;
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state(), TaskState::TaskLost);
    assert_eq!(status.reason(), task_status::Reason::SlaveDisconnected);
    assert_eq!(status.source(), task_status::Source::Master);
    assert_eq!(status.message(), "Agent localhost disconnected");
    assert_eq!(
        lost.update.slave_id.as_ref().map(|s| s.value.as_str()),
        Some(agent_id.as_str())
    );
    assert_eq!(metric(&m.runtime, "master/tasks_lost"), 1.0);
    // The agent stays registered (disconnected), without the task.
    assert_eq!(metric(&m.runtime, "master/slaves_disconnected"), 1.0);
    assert_eq!(metric(&m.runtime, "master/tasks_staging"), 0.0);
}

#[tokio::test]
async fn a_checkpointing_frameworks_tasks_survive_the_agents_disconnection() {
    let info = FrameworkInfo {
        checkpoint: Some(true),
        ..framework_info()
    };
    let Launched {
        m,
        agent,
        mut sched,
        ..
    } = launched(&[], info).await;
    agent.pid.terminate();
    until_metric(&m, "master/slaves_disconnected", 1.0).await;
    assert!(sched
        .maybe::<StatusUpdateMessage>(Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(metric(&m.runtime, "master/tasks_staging"), 1.0);
}

#[tokio::test]
async fn a_disconnected_agent_that_does_not_reregister_within_the_timeout_is_marked_unreachable() {
    let info = FrameworkInfo {
        checkpoint: Some(true),
        ..framework_info()
    };
    // The health checks alone would take 75 s (5 × 15 s).
    let Launched { m, agent, .. } = launched(&["--agent_reregister_timeout=30secs"], info).await;
    agent.pid.terminate();
    until_metric(&m, "master/slaves_disconnected", 1.0).await;
    advance(&m.runtime, Duration::from_secs(29)).await;
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 0.0);
    advance(&m.runtime, Duration::from_secs(2)).await;
    until_metric(&m, "master/slaves_unreachable", 1.0).await;
    assert_eq!(metric(&m.runtime, "master/slave_removals"), 1.0);
    assert_eq!(
        metric(&m.runtime, "master/slave_unreachable_scheduled"),
        1.0
    );
}

#[tokio::test]
async fn a_disconnected_agent_that_reregisters_in_time_stays() {
    let info = FrameworkInfo {
        checkpoint: Some(true),
        ..framework_info()
    };
    let Launched {
        m, agent, agent_id, ..
    } = launched(&["--agent_reregister_timeout=30secs"], info).await;
    agent.pid.terminate();
    until_metric(&m, "master/slaves_disconnected", 1.0).await;
    advance(&m.runtime, Duration::from_secs(20)).await;
    // The agent restarts (same id, new process) and re-registers.
    let mut again = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    let mut info = slave_info();
    info.id = Some(SlaveId { value: agent_id });
    again.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info,
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    again.expect::<SlaveReregisteredMessage>().await;
    advance(&m.runtime, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 0.0);
    assert_eq!(metric(&m.runtime, "master/slaves_connected"), 1.0);
}
