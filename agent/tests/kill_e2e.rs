//! End to end in one process: our master, our agent (launching our `mesos-executor`) and a v0
//! framework. A `RunTaskMessage` lost on its way to the agent must not leave its task STAGING
//! forever: the framework's kill reaches an agent that never heard of the task, which answers
//! with a terminal update, as the genuine agent's `killTask` does.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::filter::Matcher;
use libprocess::{Config, Runtime};
use mesos_agent::SlaveConfig;
use mesos_proto::mesos::internal::RunTaskMessage;
use mesos_proto::mesos::{task_status, FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::framework::{command_task, framework_info};
use mesos_scheduler::{Driver, DriverHandle, Scheduler};
use prost::Message;
use tokio::sync::mpsc;

const TASKS: [&str; 2] = ["task-a", "task-b"];

/// Launches both tasks on the first offer; once one runs, kills the other; stops after
/// seeing the killed task's terminal update. Every update goes to the test.
struct KillTheOther {
    launched: bool,
    victim: Option<String>,
    updates: mpsc::UnboundedSender<TaskStatus>,
}

impl Scheduler for KillTheOther {
    fn registered(&mut self, _: &mut DriverHandle<'_>, _: &FrameworkId, _: &MasterInfo) {}

    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                driver.decline(offer.id, None);
                continue;
            }
            let mut remaining = offer.resources.clone();
            let tasks: Vec<_> = TASKS
                .iter()
                .filter_map(|id| command_task(&offer, &mut remaining, id, "sleep 30", 0.1, 32.0))
                .collect();
            assert_eq!(tasks.len(), 2, "the offer fits both tasks");
            self.launched = true;
            driver.launch(vec![offer.id], tasks, None);
        }
    }

    fn status_update(&mut self, driver: &mut DriverHandle<'_>, status: &TaskStatus) {
        let _ = self.updates.send(status.clone());
        let id = status.task_id.value.as_str();
        if status.state() == TaskState::TaskRunning && self.victim.is_none() {
            let other = TASKS.iter().find(|t| **t != id).map(|t| t.to_string());
            if let Some(other) = other {
                driver.kill(mesos_proto::mesos::TaskId {
                    value: other.clone(),
                });
                self.victim = Some(other);
            }
        }
        if self.victim.as_deref() == Some(id) && status.state() != TaskState::TaskRunning {
            driver.stop(false);
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_a_lost_run_task_message_ends_the_task_lost_instead_of_staging_forever() {
    let work = scratch("lost-run-task");
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
    // The agent loses the first RunTaskMessage the master sends it.
    let dropped = agent
        .runtime
        .filters()
        .drop_next(Matcher::message("mesos.internal.RunTaskMessage"));

    let (tx, mut updates) = mpsc::unbounded_channel();
    let rt = Runtime::start(Config::local()).unwrap();
    let scheduler = KillTheOther {
        launched: false,
        victim: None,
        updates: tx,
    };
    let master_upid = master.upid().clone();
    let run = tokio::spawn(async move {
        let outcome = Driver::run(
            &rt,
            master_upid,
            framework_info("kill-e2e", None),
            Box::new(scheduler),
        )
        .await;
        rt.shutdown();
        outcome
    });

    let lost = tokio::time::timeout(Duration::from_secs(20), dropped)
        .await
        .expect("the master never sent a RunTaskMessage")
        .unwrap();
    let lost_task = RunTaskMessage::decode(lost.body())
        .unwrap()
        .task
        .task_id
        .value;

    let terminal = loop {
        let u = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("no terminal update for the task whose RunTaskMessage was lost")
            .expect("the scheduler went away");
        if u.task_id.value == lost_task {
            break u;
        }
    };
    // The framework is not PARTITION_AWARE: TASK_LOST (TASK_DROPPED otherwise).
    assert_eq!(terminal.state(), TaskState::TaskLost, "{terminal:?}");
    assert_eq!(
        terminal.reason(),
        task_status::Reason::ExecutorTerminated,
        "{terminal:?}"
    );
    assert_eq!(terminal.message.as_deref(), Some("Cannot find executor"));
    assert_eq!(terminal.source(), task_status::Source::Slave);

    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the driver did not stop")
        .unwrap()
        .unwrap();
    assert_eq!(outcome, mesos_scheduler::driver::Outcome::Stopped);
    agent.runtime.shutdown();
    master.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
