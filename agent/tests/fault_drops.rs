//! Deterministic fault tests in one process (our master, our agent, a v0 framework): each
//! message of the registration, subscription and status-update flows is dropped once at its
//! receiver (libprocess filters), the agent's clock is paused and advanced, and the protocol
//! must recover by its retries: the task runs, the framework learns it, nothing ends.
//!
//! A dropped `SlaveRegisteredMessage`: the master counts the agent as registered and
//! launches on it while the agent still waits for the answer to its retry; the agent holds
//! that launch and runs it once the retry is acknowledged (genuine agents drop it, leaving
//! the task STAGING).

use std::path::PathBuf;
use std::time::Duration;

use libprocess::filter::Matcher;
use libprocess::{Config, Runtime};
use mesos_agent::SlaveConfig;
use mesos_proto::mesos::TaskState;
use mesos_scheduler::framework::framework_info as info_named;
use mesos_scheduler::Driver;
use tokio::sync::mpsc;

#[path = "support/launch_one.rs"]
mod launch_one;
use launch_one::LaunchOne;

/// Where a message is dropped: at the runtime that receives it.
#[derive(Clone, Copy, Debug)]
enum At {
    Master,
    Agent,
    Scheduler,
}

/// Runs one task with the next `name` message dropped at `at`; returns every update the
/// framework got for it (until it is RUNNING) and the master's running-task count.
async fn run_with_one_drop(name: &str, at: At) -> (Vec<TaskState>, f64) {
    run_with_one_drop_then(name, at, Phase::Launch).await
}

/// When the message is dropped.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// During registration, subscription and the launch.
    Launch,
    /// Once dropped, the agent's clock stands still until the master launched the task.
    LaunchFrozen,
    /// Once the task runs: the agent misses its pings and re-registers.
    Reregistration,
}

/// Like [`run_with_one_drop`], in a given phase. `LaunchFrozen` makes the launch surely reach
/// the agent before the answer to its retry. `Reregistration` returns the updates seen
/// after the task ran, and the master's running-task count once the agent is registered
/// again.
async fn run_with_one_drop_then(name: &str, at: At, phase: Phase) -> (Vec<TaskState>, f64) {
    let launch_while_frozen = phase == Phase::LaunchFrozen;
    libprocess::logging::init("MESOS_TEST_LOG", "off");
    let work = std::env::temp_dir().join(format!(
        "agent-drop-{}-{:?}-{}",
        name.rsplit('.').next().unwrap_or(name),
        at,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
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
    let sched_rt = Runtime::start(Config::local()).unwrap();
    let mut dropped = None;
    match (phase == Phase::Reregistration, at) {
        (true, _) => {}
        (false, At::Master) => {
            dropped = Some(master.runtime.filters().drop_next(Matcher::message(name)))
        }
        (false, At::Scheduler) => {
            dropped = Some(sched_rt.filters().drop_next(Matcher::message(name)))
        }
        (false, At::Agent) => {}
    }
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
            work_dir: work.canonicalize().unwrap(),
            hostname: "localhost".into(),
            launcher_dir,
            // The first attempt waits up to 1 s of the (paused) agent clock.
            registration_backoff_factor: Duration::from_secs(1),
            executor_registration_timeout: Duration::from_secs(3600),
            executor_shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            max_completed_executors_per_framework: 150,
            flags: Vec::new(),
        },
    )
    .unwrap();
    let clock = agent.runtime.clock().clone();
    clock.pause();
    if let (At::Agent, false) = (at, phase == Phase::Reregistration) {
        dropped = Some(agent.runtime.filters().drop_next(Matcher::message(name)));
    }
    // In the re-registration phase nothing is dropped until the task runs.
    let (_never, idle) = tokio::sync::oneshot::channel();
    let mut dropped = dropped.unwrap_or(idle);

    let (tx, mut updates) = mpsc::unbounded_channel();
    let scheduler = LaunchOne {
        launched: false,
        updates: tx,
    };
    let master_upid = master.upid().clone();
    let rt2 = sched_rt.clone();
    let info = info_named("drop-one", None);
    let run = tokio::spawn(async move {
        let _ = Driver::run(&rt2, master_upid, info, Box::new(scheduler)).await;
    });

    // Drive the agent's clock (registration backoff, status update retries every 10 s) in
    // small steps until the framework knows the task is running; at most 60 virtual
    // seconds, below the agent's ping timeout.
    let mut seen = Vec::new();
    let mut was_dropped = false;
    let mut launched = false;
    let staging = || {
        master
            .runtime
            .metrics()
            .snapshot()
            .get("master/tasks_staging")
            .copied()
            .unwrap_or(0.0)
    };
    for _ in 0..600 {
        while let Ok(u) = updates.try_recv() {
            seen.push(u.state());
        }
        if seen.contains(&TaskState::TaskRunning) {
            break;
        }
        was_dropped = was_dropped || dropped.try_recv().is_ok();
        if launch_while_frozen && was_dropped && !launched {
            launched = true;
            for _ in 0..500 {
                if staging() >= 1.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(staging(), 1.0, "the master did not launch the task");
            // Let the launch reach the agent before its clock moves again.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        clock.advance(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let duplicates (retries) in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(u) = updates.try_recv() {
        seen.push(u.state());
    }
    if phase == Phase::Reregistration {
        assert!(
            seen.contains(&TaskState::TaskRunning),
            "the task never ran: {seen:?}"
        );
        seen.clear();
        dropped = match at {
            At::Master => master.runtime.filters(),
            At::Agent => agent.runtime.filters(),
            At::Scheduler => sched_rt.filters(),
        }
        .drop_next(Matcher::message(name));
        // No ping for the ping timeout (75 s of the agent's clock): it re-registers.
        clock.advance(Duration::from_secs(76));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reregistrations = || {
            master
                .runtime
                .metrics()
                .snapshot()
                .get("master/slave_reregistrations")
                .copied()
                .unwrap_or(0.0)
        };
        let mut back = false;
        for _ in 0..600 {
            was_dropped = was_dropped || dropped.try_recv().is_ok();
            let state = agent.slave.call("state", |s, _| s.state()).await.ok();
            if was_dropped
                && reregistrations() >= 1.0
                && state == Some(mesos_agent::slave::RegState::Registered)
            {
                back = true;
                break;
            }
            clock.advance(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            back,
            "{name} dropped at {at:?}: the agent did not re-register"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Ok(u) = updates.try_recv() {
            seen.push(u.state());
        }
    }
    assert!(
        was_dropped || dropped.try_recv().is_ok(),
        "no {name} was dropped at {at:?}: the test proves nothing"
    );
    let running = master
        .runtime
        .metrics()
        .snapshot()
        .get("master/tasks_running")
        .copied()
        .unwrap_or(0.0);
    run.abort();
    sched_rt.shutdown();
    agent.runtime.shutdown();
    master.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
    (seen, running)
}

async fn recovers(name: &str, at: At) {
    let (seen, running) = run_with_one_drop(name, at).await;
    assert!(
        seen.contains(&TaskState::TaskRunning),
        "{name} dropped at {at:?}: the framework never learnt the task runs: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|s| mesos_proto::task_state::is_terminal_value(*s as i32)),
        "{name} dropped at {at:?}: the task ended: {seen:?}"
    );
    assert_eq!(running, 1.0, "{name} dropped at {at:?}: master's view");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_register_slave_message_is_retried() {
    recovers("mesos.internal.RegisterSlaveMessage", At::Master).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_status_update_to_the_master_is_retried_by_the_agent() {
    recovers("mesos.internal.StatusUpdateMessage", At::Master).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_status_update_to_the_framework_is_retried_by_the_agent() {
    recovers("mesos.internal.StatusUpdateMessage", At::Scheduler).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_acknowledgement_to_the_agent_is_recovered_by_the_update_retry() {
    recovers(
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        At::Agent,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_slave_registered_message_is_answered_again_and_the_launch_sent_meanwhile_runs() {
    let (seen, running) = run_with_one_drop_then(
        "mesos.internal.SlaveRegisteredMessage",
        At::Agent,
        Phase::LaunchFrozen,
    )
    .await;
    assert!(
        seen.contains(&TaskState::TaskRunning),
        "the launch sent before the agent knew it was registered was lost: {seen:?}"
    );
    assert!(!seen
        .iter()
        .any(|s| mesos_proto::task_state::is_terminal_value(*s as i32)));
    assert_eq!(running, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_framework_registered_message_is_answered_again_on_the_drivers_retry() {
    recovers("mesos.internal.FrameworkRegisteredMessage", At::Scheduler).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscribe_call_is_retried_by_the_driver() {
    recovers("mesos.scheduler.Call", At::Master).await;
}

/// The agent re-registers (it missed its pings) with one message of that flow dropped:
/// it is registered again and its running task neither ends nor leaves the master's view.
async fn reregistration_recovers(name: &str, at: At) {
    let (seen, running) = run_with_one_drop_then(name, at, Phase::Reregistration).await;
    assert!(
        !seen
            .iter()
            .any(|s| mesos_proto::task_state::is_terminal_value(*s as i32)),
        "{name} dropped at {at:?} while re-registering: the task ended: {seen:?}"
    );
    assert_eq!(running, 1.0, "{name} dropped at {at:?}: master's view");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_reregister_slave_message_is_retried_and_the_task_keeps_running() {
    reregistration_recovers("mesos.internal.ReregisterSlaveMessage", At::Master).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_slave_reregistered_message_is_answered_again_and_the_task_keeps_running() {
    reregistration_recovers("mesos.internal.SlaveReregisteredMessage", At::Agent).await;
}
