//! Our agent against a GENUINE Mesos 1.11 master (from `../shared/interop/native`; SKIPPED
//! when absent): a `RunTaskMessage` the agent loses leaves the task STAGING in the master;
//! when the agent re-registers without it, the genuine master's reconciliation request in
//! `SlaveReregisteredMessage` makes our agent report the task TASK_LOST
//! (REASON_RECONCILIATION), and the framework hears it.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::filter::Matcher;
use libprocess::{Config, Runtime, Upid};
use mesos_agent::SlaveConfig;
use mesos_proto::mesos::internal::RunTaskMessage;
use mesos_proto::mesos::{task_status, TaskState};
use mesos_scheduler::framework::framework_info;
use mesos_scheduler::Driver;
use mesos_tests::native::{self, ChildGuard};
use prost::Message;
use tokio::sync::mpsc;

#[path = "support/launch_one.rs"]
mod launch_one;
use launch_one::LaunchOne;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_agent_answers_a_genuine_masters_reconciliation_of_a_lost_launch_with_task_lost() {
    let Some(native_dir) = native::genuine(
        "our_agent_answers_a_genuine_masters_reconciliation_of_a_lost_launch_with_task_lost",
    ) else {
        return;
    };
    let mport = native::free_port();
    let mut master = native::start_genuine_master(&native_dir, mport, 120);
    let started = tokio::task::spawn_blocking(move || {
        let line =
            master.wait_for_line("native-local-cluster: serving for", Duration::from_secs(60));
        (master, line)
    })
    .await
    .unwrap();
    let master = started.0;
    assert!(
        started.1.is_some(),
        "genuine master did not start:\n{}",
        master.stderr_tail(30)
    );
    let master_upid: Upid = format!("master@127.0.0.1:{mport}").parse().unwrap();

    let dir = ChildGuard::new_dir("our-agent-reconcile");
    let work: PathBuf = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let agent = mesos_agent::start(
        Config::local(),
        SlaveConfig {
            master: master_upid.clone(),
            resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
            attributes: Vec::new(),
            work_dir: work.canonicalize().unwrap(),
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
    let rereg_reply = agent
        .runtime
        .filters()
        .expect(Matcher::message("mesos.internal.SlaveReregisteredMessage"));

    let (tx, mut updates) = mpsc::unbounded_channel();
    let rt = Runtime::start(Config::local()).unwrap();
    let scheduler = LaunchOne {
        launched: false,
        updates: tx,
    };
    let rt2 = rt.clone();
    let run = tokio::spawn(async move {
        let _ = Driver::run(
            &rt2,
            master_upid,
            framework_info("genuine-reconcile", None),
            Box::new(scheduler),
        )
        .await;
    });

    let lost = tokio::time::timeout(Duration::from_secs(30), dropped)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the genuine master never sent a RunTaskMessage:\n{}",
                master.stderr_tail(30)
            )
        })
        .unwrap();
    let task_id = RunTaskMessage::decode(lost.body()).unwrap().task.task_id;

    // Silence longer than the master's total ping timeout (75 s): the agent re-registers.
    agent.runtime.clock().advance(Duration::from_secs(80));
    agent.runtime.clock().resume();
    let reply = tokio::time::timeout(Duration::from_secs(30), rereg_reply)
        .await
        .expect("the genuine master did not answer the re-registration")
        .unwrap();
    let reply =
        mesos_proto::mesos::internal::SlaveReregisteredMessage::decode(reply.body()).unwrap();
    assert_eq!(reply.reconciliations.len(), 1, "{reply:?}");
    assert_eq!(reply.reconciliations[0].statuses[0].task_id, task_id);

    let update = loop {
        let u = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("no update for the task whose RunTaskMessage was lost: still STAGING")
            .expect("the scheduler went away");
        if u.task_id == task_id {
            break u;
        }
    };
    assert_eq!(update.state(), TaskState::TaskLost, "{update:?}");
    assert_eq!(
        update.reason(),
        task_status::Reason::Reconciliation,
        "{update:?}"
    );
    assert_eq!(update.source(), task_status::Source::Slave, "{update:?}");
    assert_eq!(
        update.message.as_deref(),
        Some("Reconciliation: task unknown to the agent")
    );
    run.abort();
    rt.shutdown();
    agent.runtime.shutdown();
    drop(master);
}
