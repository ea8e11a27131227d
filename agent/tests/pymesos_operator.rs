//! `pymesos.operator_v1`'s agent driver, unmodified, against our agent: every call it
//! offers, with a real task running (GET_CONTAINERS lists its container, LIST_FILES and
//! READ_FILE read its sandbox). Our master, our agent and a v0 framework run in this test
//! process; pymesos runs in the interop virtual environment (skipped when it is absent).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use libprocess::{Config, Runtime};
use mesos_agent::SlaveConfig;
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::framework::{command_task, framework_info};
use mesos_scheduler::{Driver, DriverHandle, Scheduler};
use mesos_tests::native::ChildGuard;
use tokio::sync::mpsc;

const TEXT: &str = "hello-from-the-sandbox";

/// Launches one long task on the first offer and reports its updates.
struct OneTask {
    launched: bool,
    updates: mpsc::UnboundedSender<TaskStatus>,
}

impl Scheduler for OneTask {
    fn registered(&mut self, _: &mut DriverHandle<'_>, _: &FrameworkId, _: &MasterInfo) {}

    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                driver.decline(offer.id, None);
                continue;
            }
            let mut remaining = offer.resources.clone();
            let command = format!("echo {TEXT}; sleep 60");
            let task = command_task(&offer, &mut remaining, "pymesos-task", &command, 0.1, 32.0);
            self.launched = true;
            driver.launch(vec![offer.id], task.into_iter().collect(), None);
        }
    }

    fn status_update(&mut self, _: &mut DriverHandle<'_>, status: &TaskStatus) {
        let _ = self.updates.send(status.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_operator_v1_agent_driver_reads_state_containers_and_the_sandbox() {
    let test = "pymesos_operator_v1_agent_driver_reads_state_containers_and_the_sandbox";
    let python =
        PathBuf::from(std::env::var("INTEROP_VENV").unwrap_or_else(|_| "/tmp/interop-venv".into()))
            .join("bin/python");
    if !python.is_file() {
        println!(
            "SKIPPED {test}: no pymesos virtual environment at {} (run shared/interop/pymesos-venv.sh)",
            python.display()
        );
        return;
    }
    let work = std::env::temp_dir().join(format!("agent-pymesos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let work = work.canonicalize().unwrap();
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
    let mut rt_config = Config::local();
    rt_config.ip = std::net::Ipv4Addr::LOCALHOST;
    let agent = mesos_agent::start(
        rt_config,
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
            flags: vec![("work_dir".into(), work.display().to_string())],
        },
    )
    .unwrap();

    let (tx, mut updates) = mpsc::unbounded_channel();
    let rt = Runtime::start(Config::local()).unwrap();
    let master_upid = master.upid().clone();
    let sched_rt = rt.clone();
    let _run = tokio::spawn(async move {
        Driver::run(
            &sched_rt,
            master_upid,
            framework_info("pymesos-agent-operator", None),
            Box::new(OneTask {
                launched: false,
                updates: tx,
            }),
        )
        .await
    });
    loop {
        let u = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("the task never ran")
            .expect("the scheduler went away");
        assert!(
            !mesos_proto::task_state::is_terminal(u.state()),
            "the task ended: {u:?}"
        );
        if u.state() == TaskState::TaskRunning {
            break;
        }
    }

    // The sandbox, from the agent's /state; wait for the task's output to land.
    let port = agent.runtime.address().port();
    let sandbox = tokio::task::spawn_blocking(move || {
        let state = mesos_tests::native::http_get(port, "/state").unwrap().1;
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
        state["frameworks"][0]["executors"][0]["directory"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
    .await
    .unwrap();
    let stdout = PathBuf::from(&sandbox).join("stdout");
    assert!(
        mesos_tests::poll_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&stdout).is_ok_and(|s| s.contains(TEXT))
        }),
        "the task's stdout never held its text"
    );

    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pymesos_operator_agent.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(format!("127.0.0.1:{port}"))
        .arg(&sandbox)
        .arg(TEXT);
    let mut operator = ChildGuard::spawn("pymesos-agent-operator", cmd);
    let (status, lines) = tokio::task::spawn_blocking(move || {
        let r = operator.wait(Duration::from_secs(60));
        let tail = operator.stderr_tail(30);
        (r, tail)
    })
    .await
    .unwrap();
    let (status, lines) = (status.expect("pymesos did not exit").clone(), lines);
    assert!(
        status.0.success() && status.1.iter().any(|l| l == "DONE"),
        "{}\n{lines}",
        status.1.join("\n")
    );
    assert!(status.1.iter().any(|l| l.starts_with("CONTAINER ")));
    println!("{}", status.1.join("\n"));
    rt.shutdown();
    agent.runtime.shutdown();
    master.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
