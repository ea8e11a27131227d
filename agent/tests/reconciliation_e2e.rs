//! End to end in one process: our master, our agent and a v0 framework. A `RunTaskMessage`
//! lost on its way to the agent leaves the task STAGING in the master. When the agent
//! re-registers without it, the master asks the agent to reconcile the task
//! (`SlaveReregisteredMessage.reconciliations`), and the agent, which never heard of it,
//! answers with a terminal update (TASK_LOST, or TASK_DROPPED for a PARTITION_AWARE
//! framework, REASON_RECONCILIATION), as the genuine agent's `reregistered` does.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::filter::Matcher;
use libprocess::{Config, Runtime};
use mesos_agent::SlaveConfig;
use mesos_proto::mesos::internal::RunTaskMessage;
use mesos_proto::mesos::{framework_info, task_status, TaskState, TaskStatus};
use mesos_scheduler::framework::framework_info as info_named;
use mesos_scheduler::Driver;
use prost::Message;
use tokio::sync::mpsc;

#[path = "support/launch_one.rs"]
mod launch_one;
use launch_one::LaunchOne;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-recon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// Lets the agent register exactly once, then leaves its clock paused. A retried
/// registration could otherwise be answered after the re-registration this test provokes,
/// and that late SlaveRegisteredMessage would end the re-registration before it is sent.
async fn register_once(agent: &mesos_agent::Agent) {
    agent.slave.call("initialized", |_, _| ()).await.unwrap();
    let clock = agent.runtime.clock();
    clock.pause();
    // The first attempt waits at most the backoff factor (10 ms).
    clock.advance(Duration::from_millis(10));
    for _ in 0..1000 {
        let state = agent.slave.call("state", |me, _| me.state()).await.unwrap();
        if state == mesos_agent::slave::RegState::Registered {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the agent never registered");
}

/// Runs the scenario and returns the first update the framework gets for the task.
async fn update_after_lost_launch_and_reregistration(partition_aware: bool) -> TaskStatus {
    let name = if partition_aware { "dropped" } else { "lost" };
    let work = scratch(name);
    let master = mesos_master::start(
        mesos_master::Flags::parse_from_args([
            "mesos-master",
            "--ip=127.0.0.1",
            "--port=0",
            "--allocation_interval=50ms",
        ])
        .unwrap(),
    )
    .unwrap();
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let agent = mesos_agent::start(
        Config::local(),
        SlaveConfig {
            master: master.upid().clone(),
            resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
            attributes: Vec::new(),
            work_dir: work.clone(),
            hostname: "localhost".into(),
            launcher_dir,
            registration_backoff_factor: Duration::from_millis(10),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            max_completed_executors_per_framework: 150,
            flags: Vec::new(),
        },
    )
    .unwrap();
    let dropped = agent
        .runtime
        .filters()
        .drop_next(Matcher::message("mesos.internal.RunTaskMessage"));
    register_once(&agent).await;

    let mut info = info_named(&format!("reconcile-{name}"), None);
    if partition_aware {
        info.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        });
    }
    let (tx, mut updates) = mpsc::unbounded_channel();
    let rt = Runtime::start(Config::local()).unwrap();
    let scheduler = LaunchOne {
        launched: false,
        updates: tx,
    };
    let master_upid = master.upid().clone();
    let rt2 = rt.clone();
    let run = tokio::spawn(async move {
        let _ = Driver::run(&rt2, master_upid, info, Box::new(scheduler)).await;
    });

    let lost = tokio::time::timeout(Duration::from_secs(20), dropped)
        .await
        .expect("the master never sent a RunTaskMessage")
        .unwrap();
    let task_id = RunTaskMessage::decode(lost.body()).unwrap().task.task_id;

    // No ping for longer than the master's total ping timeout (75 s): the agent re-registers
    // (in real time again) and reports no task at all.
    agent.runtime.clock().advance(Duration::from_secs(80));
    agent.runtime.clock().resume();

    let update = loop {
        let u = tokio::time::timeout(Duration::from_secs(20), updates.recv())
            .await
            .expect("no update for the task whose RunTaskMessage was lost: still STAGING")
            .expect("the scheduler went away");
        if u.task_id == task_id {
            break u;
        }
    };
    run.abort();
    rt.shutdown();
    agent.runtime.shutdown();
    master.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
    update
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_launch_was_lost_ends_lost_by_reconciliation_when_the_agent_reregisters() {
    let u = update_after_lost_launch_and_reregistration(false).await;
    assert_eq!(u.state(), TaskState::TaskLost, "{u:?}");
    assert_eq!(u.reason(), task_status::Reason::Reconciliation, "{u:?}");
    assert_eq!(u.source(), task_status::Source::Slave, "{u:?}");
    assert_eq!(
        u.message.as_deref(),
        Some("Reconciliation: task unknown to the agent")
    );
    assert!(u.slave_id.is_some(), "{u:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_aware_frameworks_task_whose_launch_was_lost_ends_dropped_by_reconciliation() {
    let u = update_after_lost_launch_and_reregistration(true).await;
    assert_eq!(u.state(), TaskState::TaskDropped, "{u:?}");
    assert_eq!(u.reason(), task_status::Reason::Reconciliation, "{u:?}");
    assert_eq!(u.source(), task_status::Source::Slave, "{u:?}");
}

/// A command task's record carries no ExecutorID when the agent re-registers (the master
/// does not know command executors, and genuine masters reject a RUNNING task naming an
/// executor the message does not list), so the re-registration is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_a_running_command_task_is_accepted_when_it_reregisters() {
    let work = scratch("command-reregister");
    let master = mesos_master::start(
        mesos_master::Flags::parse_from_args([
            "mesos-master",
            "--ip=127.0.0.1",
            "--port=0",
            "--allocation_interval=50ms",
        ])
        .unwrap(),
    )
    .unwrap();
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let agent = mesos_agent::start(
        Config::local(),
        SlaveConfig {
            master: master.upid().clone(),
            resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
            attributes: Vec::new(),
            work_dir: work.clone(),
            hostname: "localhost".into(),
            launcher_dir,
            registration_backoff_factor: Duration::from_millis(10),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            max_completed_executors_per_framework: 150,
            flags: Vec::new(),
        },
    )
    .unwrap();
    register_once(&agent).await;
    let (tx, mut updates) = mpsc::unbounded_channel();
    let rt = Runtime::start(Config::local()).unwrap();
    let scheduler = LaunchOne {
        launched: false,
        updates: tx,
    };
    let master_upid = master.upid().clone();
    let rt2 = rt.clone();
    let info = info_named("command-reregister", None);
    let run = tokio::spawn(async move {
        let _ = Driver::run(&rt2, master_upid, info, Box::new(scheduler)).await;
    });
    loop {
        let u = tokio::time::timeout(Duration::from_secs(20), updates.recv())
            .await
            .expect("the task never ran")
            .unwrap();
        match u.state() {
            TaskState::TaskStarting => continue,
            TaskState::TaskRunning => break,
            _ => panic!("{u:?}"),
        }
    }

    let reregistrations = || {
        master
            .runtime
            .metrics()
            .snapshot()
            .get("master/slave_reregistrations")
            .copied()
    };
    assert_eq!(reregistrations(), Some(0.0));
    // No ping past the master's total ping timeout: the agent re-registers with its task.
    agent.runtime.clock().advance(Duration::from_secs(80));
    agent.runtime.clock().resume();
    let mut accepted = false;
    for _ in 0..1000 {
        if reregistrations() == Some(1.0) {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "the master refused the agent's re-registration");
    let running_in_master = master
        .runtime
        .metrics()
        .snapshot()
        .get("master/tasks_running")
        .copied();
    assert_eq!(running_in_master, Some(1.0));
    // (A RUNNING retried across the clock jump may arrive again: updates are at least once.)
    while let Ok(u) = updates.try_recv() {
        assert_eq!(
            u.state(),
            TaskState::TaskRunning,
            "the task changed state in the re-registration: {u:?}"
        );
    }
    run.abort();
    rt.shutdown();
    agent.runtime.shutdown();
    master.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
