//! The agent's task lifecycle against a scripted master (another runtime in this test
//! process, clocks paused): kills of tasks the agent never received, the terminal state of
//! tasks whose executor ended, and the bounds on what the agent remembers of finished work.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{
    KillTaskMessage, MasterSlaveConnection, RunTaskMessage, SlaveRegisteredMessage,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{
    framework_info, task_status, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    SlaveId, TaskId, TaskInfo, TaskState,
};
use prost::Message;
use tokio::sync::mpsc;

const NAMES: [&str; 6] = [
    "mesos.internal.RegisterSlaveMessage",
    "mesos.internal.ReregisterSlaveMessage",
    "mesos.internal.PongSlaveMessage",
    "mesos.internal.StatusUpdateMessage",
    "mesos.internal.ExitedExecutorMessage",
    "mesos.internal.UnregisterSlaveMessage",
];

/// Records whatever the agent sends it.
struct Recorder {
    tx: mpsc::UnboundedSender<(Upid, String, Bytes)>,
}

impl Process for Recorder {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in NAMES {
            ctx.install_raw(name, move |me, _ctx, from, body| {
                let _ = me.tx.send((from, name.to_string(), body));
            });
        }
    }
}

struct FakeMaster {
    rt: Runtime,
    master: Upid,
    rx: mpsc::UnboundedReceiver<(Upid, String, Bytes)>,
}

impl FakeMaster {
    fn start() -> FakeMaster {
        let rt = Runtime::start(Config::local()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let master = rt.spawn("master", Recorder { tx }).unwrap().upid().clone();
        FakeMaster { rt, master, rx }
    }

    fn send<M: Message + prost::Name>(&self, from: &Upid, to: &Upid, msg: &M) {
        self.rt
            .send(from, to, &M::full_name(), Bytes::from(msg.encode_to_vec()));
    }

    /// The next message of this name (others are skipped), within 10 s of real time.
    async fn next(&mut self, name: &str) -> (Upid, Bytes) {
        let full = format!("mesos.internal.{name}");
        loop {
            let got = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {name} arrived"))
                .expect("recorder gone");
            if got.1 == full {
                return (got.0, got.2);
            }
        }
    }

    /// Whether a message of this name arrives within `wait` of real time.
    async fn arrives(&mut self, name: &str, wait: Duration) -> bool {
        let full = format!("mesos.internal.{name}");
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(got)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if got.1 == full {
                return true;
            }
        }
        false
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "agent-lifecycle-test-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// Starts an agent with its clock paused, once its process has initialized.
async fn start_agent(master: &Upid, work: PathBuf) -> Agent {
    start_agent_with(master, work, 150).await
}

/// `start_agent` remembering at most `max_completed_executors` exited executors per framework.
async fn start_agent_with(master: &Upid, work: PathBuf, max_completed_executors: usize) -> Agent {
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let config = SlaveConfig {
        master: master.clone(),
        resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024;ports:[31000-31010]")
            .unwrap(),
        attributes: Vec::new(),
        work_dir: work,
        hostname: "localhost".into(),
        launcher_dir,
        registration_backoff_factor: Duration::from_secs(1),
        executor_registration_timeout: Duration::from_secs(60),
        executor_shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        max_completed_executors_per_framework: max_completed_executors,
        flags: Vec::new(),
    };
    let agent = mesos_agent::start(Config::local(), config).unwrap();
    agent.slave.call("initialized", |_, _| ()).await.unwrap();
    agent
}

/// Registers the agent (the first RegisterSlaveMessage, answered with `ping_timeout`).
async fn register(m: &mut FakeMaster, agent: &Agent, ping_timeout: f64) -> SlaveId {
    let clock = agent.runtime.clock();
    clock.advance(Duration::from_secs(1));
    let (from, _) = m.next("RegisterSlaveMessage").await;
    assert_eq!(&from, agent.slave.upid());
    let id = SlaveId {
        value: "M-S0".into(),
    };
    m.send(
        &m.master,
        &from,
        &SlaveRegisteredMessage {
            slave_id: id.clone(),
            connection: Some(MasterSlaveConnection {
                total_ping_timeout_seconds: Some(ping_timeout),
            }),
        },
    );
    wait_registered(agent).await;
    id
}

async fn wait_registered(agent: &Agent) {
    for _ in 0..200 {
        let registered = agent
            .slave
            .call("registered?", |me, _| {
                me.agent_id().is_some() && me.state() == mesos_agent::slave::RegState::Registered
            })
            .await
            .unwrap();
        if registered {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("agent never registered");
}

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        id: Some(FrameworkId {
            value: "F-0000".into(),
        }),
        ..Default::default()
    }
}

fn run_task(task: TaskInfo) -> RunTaskMessage {
    RunTaskMessage {
        #[allow(deprecated)]
        framework_id: None,
        framework: framework(),
        pid: Some(String::new()),
        task,
        resource_version_uuids: Vec::new(),
        launch_executor: None,
    }
}

fn task(id: &str, command: Option<&str>, executor: Option<ExecutorInfo>) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        resources: mesos_agent::resources::parse("cpus:0.1;mem:32").unwrap(),
        command: command.map(|c| CommandInfo {
            value: Some(c.into()),
            ..Default::default()
        }),
        executor,
        ..Default::default()
    }
}

fn update(body: &Bytes) -> StatusUpdateMessage {
    StatusUpdateMessage::decode(body.as_ref()).unwrap()
}

fn ack(m: &FakeMaster, agent: &Agent, u: &StatusUpdateMessage) {
    m.send(
        &m.master,
        agent.slave.upid(),
        &StatusUpdateAcknowledgementMessage {
            slave_id: u.update.slave_id.clone().unwrap(),
            framework_id: u.update.framework_id.clone(),
            task_id: u.update.status.task_id.clone(),
            uuid: u.update.uuid.clone().unwrap(),
        },
    );
}

fn kill(task: &str) -> KillTaskMessage {
    KillTaskMessage {
        framework_id: FrameworkId {
            value: "F-0000".into(),
        },
        task_id: TaskId { value: task.into() },
        kill_policy: None,
    }
}

/// A custom executor running `command` (it never registers unless the command is one).
fn executor(id: &str, command: &str) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId { value: id.into() },
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The next status update, checked to be the agent's own for `task`.
async fn agent_update_for(m: &mut FakeMaster, task: &str) -> StatusUpdateMessage {
    let u = update(&m.next("StatusUpdateMessage").await.1);
    assert_eq!(u.update.status.task_id.value, task, "{u:?}");
    assert_eq!(u.update.status.source(), task_status::Source::Slave);
    u
}

#[tokio::test]
async fn kill_of_a_task_the_agent_never_received_is_answered_task_lost_until_acknowledged() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("kill-unknown")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, 75.0).await;
    // A kill for a framework the agent does not know is ignored, as the genuine agent does.
    m.send(&m.master, agent.slave.upid(), &kill("nobody"));
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(300))
            .await,
        "update for an unknown framework"
    );
    // The framework becomes known through another task (queued on a silent executor); the
    // RunTaskMessage of "ghost" never arrived.
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("keeper", None, Some(executor("silent", "sleep 30")))),
    );
    m.send(&m.master, agent.slave.upid(), &kill("ghost"));
    let u = agent_update_for(&mut m, "ghost").await;
    assert_eq!(u.update.status.state(), TaskState::TaskLost);
    assert_eq!(
        u.update.status.reason(),
        task_status::Reason::ExecutorTerminated
    );
    assert_eq!(
        u.update.status.message.as_deref(),
        Some("Cannot find executor")
    );
    assert_eq!(u.update.executor_id, None);
    // Sent through the status update manager: resent until acknowledged.
    clock.advance(Duration::from_secs(10));
    let again = agent_update_for(&mut m, "ghost").await;
    assert_eq!(again.update.uuid, u.update.uuid);
    ack(&m, &agent, &u);
    // The acknowledgement travels over TCP: wait until the agent has closed the stream.
    let mut open = usize::MAX;
    for _ in 0..500 {
        open = agent
            .slave
            .call("streams", |me, _| me.update_streams().0)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, 0, "the acknowledgement never closed the stream");
    clock.advance(Duration::from_secs(600));
    // The same advance times out the silent executor's registration; whether the keeper's
    // TASK_FAILED goes out depends on whether the agent handles the ping timeout first.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some((_, name, body))) = tokio::time::timeout_at(deadline, m.rx.recv()).await {
        if name.ends_with("StatusUpdateMessage") {
            let u = update(&body);
            assert_ne!(
                u.update.status.task_id.value, "ghost",
                "resent after the ack"
            );
        }
    }
    agent.slave.terminate();
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn kill_of_a_task_never_received_by_a_partition_aware_framework_is_task_dropped() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("kill-dropped")).await;
    register(&mut m, &agent, 75.0).await;
    let mut run = run_task(task("keeper", None, Some(executor("silent", "sleep 30"))));
    run.framework.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::PartitionAware as i32),
    });
    m.send(&m.master, agent.slave.upid(), &run);
    m.send(&m.master, agent.slave.upid(), &kill("ghost"));
    let u = agent_update_for(&mut m, "ghost").await;
    assert_eq!(u.update.status.state(), TaskState::TaskDropped);
    assert_eq!(
        u.update.status.reason(),
        task_status::Reason::ExecutorTerminated
    );
    assert_eq!(
        u.update.status.message.as_deref(),
        Some("Cannot find executor")
    );
    agent.slave.terminate();
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn tasks_of_an_executor_that_exits_fail_with_reason_executor_terminated() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("exec-exit")).await;
    register(&mut m, &agent, 75.0).await;
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("doomed", None, Some(executor("quitter", "exit 3")))),
    );
    let (_, body) = m.next("ExitedExecutorMessage").await;
    let exited =
        mesos_proto::mesos::internal::ExitedExecutorMessage::decode(body.as_ref()).unwrap();
    assert_eq!(exited.status, 3 << 8);
    let u = agent_update_for(&mut m, "doomed").await;
    assert_eq!(u.update.status.state(), TaskState::TaskFailed);
    assert_eq!(
        u.update.status.reason(),
        task_status::Reason::ExecutorTerminated
    );
    assert_eq!(
        u.update.status.message.as_deref(),
        Some("Executor terminated")
    );
    assert_eq!(
        u.update
            .status
            .executor_id
            .as_ref()
            .map(|e| e.value.as_str()),
        Some("quitter")
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn files_read_serves_only_the_requested_range_and_download_streams_the_whole_file() {
    let m = FakeMaster::start();
    let work = scratch("files");
    let agent = start_agent(&m.master, work.clone()).await;
    let port = agent.runtime.address().port();
    let log = work.join("big.log");
    let content: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&log, &content).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", work.join("escape")).unwrap();
    let path = log.display().to_string();
    let get = move |q: String| {
        tokio::task::spawn_blocking(move || mesos_tests::native::http_get(port, &q).unwrap())
    };
    let json = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap();

    // offset=-1 (and no offset at all) answers the size, as the web UI's pailer expects.
    for q in [
        format!("/files/read?path={path}&offset=-1"),
        format!("/files/read?path={path}"),
    ] {
        let (status, body) = get(q).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            json(&body),
            serde_json::json!({"data": "", "offset": 300_000})
        );
    }
    let (status, body) = get(format!("/files/read?path={path}&offset=27&length=5"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!({"data": "bcdef", "offset": 27})
    );
    // Past the end: no data at the asked offset.
    let (_, body) = get(format!("/files/read?path={path}&offset=999999999&length=5"))
        .await
        .unwrap();
    assert_eq!(
        json(&body),
        serde_json::json!({"data": "", "offset": 999_999_999u64})
    );
    // No length: capped at 64 KiB.
    let (_, body) = get(format!("/files/read?path={path}&offset=0"))
        .await
        .unwrap();
    assert_eq!(json(&body)["data"].as_str().unwrap().len(), 65_536);
    // Bad input: 400 with a message.
    for (q, says) in [
        ("&offset=0&length=-2", "Negative length provided: -2."),
        ("&offset=-3", "Negative offset provided: -3."),
        ("&offset=ten", "Failed to parse offset"),
        (
            "&offset=0&length=99999999999999999999999",
            "Failed to parse length",
        ),
    ] {
        let (status, body) = get(format!("/files/read?path={path}{q}")).await.unwrap();
        assert_eq!(status, 400, "{q}");
        assert!(
            String::from_utf8_lossy(&body).contains(says),
            "{q}: {body:?}"
        );
    }
    let escape = work.join("escape").display().to_string();
    let (status, body) = get(format!("/files/read?path={escape}&offset=0"))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("is inaccessible"));
    let (status, _) = get("/files/read?path=/etc/hostname&offset=0".into())
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = get(format!("/files/read?path={}&offset=0", work.display()))
        .await
        .unwrap();
    assert_eq!(status, 400);

    let (status, body) = get(format!("/files/download?path={path}")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body.len(), content.len());
    assert!(body == content, "downloaded bytes differ");
    let (status, _) = get(format!("/files/download?path={}", work.display()))
        .await
        .unwrap();
    assert_eq!(status, 400);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

/// Plays a v0 executor from the test's runtime: records what the agent sends it.
struct FakeExecutor {
    tx: mpsc::UnboundedSender<(Upid, String, Bytes)>,
}

impl Process for FakeExecutor {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in [
            "mesos.internal.ExecutorRegisteredMessage",
            "mesos.internal.RunTaskMessage",
            "mesos.internal.StatusUpdateAcknowledgementMessage",
            "mesos.internal.KillTaskMessage",
        ] {
            ctx.install_raw(name, move |me, _ctx, from, body| {
                let _ = me.tx.send((from, name.to_string(), body));
            });
        }
    }
}

async fn agent_state(agent: &Agent) -> serde_json::Value {
    let port = agent.runtime.address().port();
    let (status, body) =
        tokio::task::spawn_blocking(move || mesos_tests::native::http_get(port, "/state"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn an_executor_keeps_its_200_newest_completed_tasks_and_acked_streams_are_dropped() {
    // Also: a kill for a terminal task reaches its executor only while the terminal update
    // is unacknowledged; afterwards the task is unknown and its closed stream takes no update.
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("task-cap")).await;
    register(&mut m, &agent, 75.0).await;
    const N: usize = 205;
    for i in 0..N {
        m.send(
            &m.master,
            agent.slave.upid(),
            &run_task(task(
                &format!("t{i}"),
                None,
                Some(executor("ex", "sleep 30")),
            )),
        );
    }
    // The test registers as the executor and receives every queued task.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let exec = m.rt.spawn("executor(1)", FakeExecutor { tx }).unwrap();
    let fw = FrameworkId {
        value: "F-0000".into(),
    };
    m.send(
        exec.upid(),
        agent.slave.upid(),
        &mesos_proto::mesos::internal::RegisterExecutorMessage {
            framework_id: fw.clone(),
            executor_id: ExecutorId { value: "ex".into() },
        },
    );
    let mut tasks = 0;
    while tasks < N {
        let (_, name, _) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the agent stopped sending tasks")
            .unwrap();
        tasks += usize::from(name.ends_with("RunTaskMessage"));
    }
    for i in 0..N {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let status = mesos_proto::mesos::TaskStatus {
            task_id: TaskId {
                value: format!("t{i}"),
            },
            state: TaskState::TaskFinished as i32,
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        let msg = StatusUpdateMessage {
            update: mesos_proto::mesos::internal::StatusUpdate {
                framework_id: fw.clone(),
                executor_id: Some(ExecutorId { value: "ex".into() }),
                slave_id: Some(SlaveId {
                    value: "M-S0".into(),
                }),
                status,
                timestamp: 1.0,
                uuid: Some(uuid),
                latest_state: None,
            },
            pid: Some(exec.upid().to_string()),
        };
        m.send(exec.upid(), agent.slave.upid(), &msg);
    }
    m.send(&m.master, agent.slave.upid(), &kill("t204"));
    let killed = loop {
        let (_, name, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the kill of an unacknowledged terminal task did not reach the executor")
            .unwrap();
        if name.ends_with("KillTaskMessage") {
            break KillTaskMessage::decode(body.as_ref()).unwrap();
        }
    };
    assert_eq!(killed.task_id.value, "t204");
    for _ in 0..N {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
    }
    let state = agent_state(&agent).await;
    let ex = &state["frameworks"][0]["executors"][0];
    let completed: Vec<&str> = ex["completed_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(completed.len(), 200);
    assert_eq!((completed[0], completed[199]), ("t5", "t204"));
    // Every stream ended with an acknowledged terminal update: none stays open.
    for _ in 0..100 {
        let (open, _) = agent
            .slave
            .call("streams", |me, _| me.update_streams())
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let streams = agent
        .slave
        .call("streams", |me, _| me.update_streams())
        .await
        .unwrap();
    assert_eq!(streams, (0, N));
    m.send(&m.master, agent.slave.upid(), &kill("t203"));
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(300))
            .await,
        "an update for a task whose stream closed"
    );
    while let Ok((_, name, _)) = rx.try_recv() {
        assert!(
            !name.ends_with("KillTaskMessage"),
            "kill sent for an acknowledged task"
        );
    }
    agent.slave.terminate();
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn a_framework_keeps_only_its_newest_completed_executors_up_to_the_flag() {
    let mut m = FakeMaster::start();
    let agent = start_agent_with(&m.master, scratch("executor-cap"), 2).await;
    register(&mut m, &agent, 75.0).await;
    // Four executors that exit at once; their tasks' updates stay unacknowledged, so the
    // framework stays on the agent and collects completed executors.
    for i in 0..4 {
        m.send(
            &m.master,
            agent.slave.upid(),
            &run_task(task(
                &format!("t{i}"),
                None,
                Some(executor(&format!("e{i}"), "exit 0")),
            )),
        );
        m.next("ExitedExecutorMessage").await;
        m.next("StatusUpdateMessage").await;
    }
    let state = agent_state(&agent).await;
    let ids: Vec<&str> = state["frameworks"][0]["completed_executors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["e2", "e3"]);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn the_agent_keeps_only_the_50_newest_completed_frameworks() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("framework-cap")).await;
    register(&mut m, &agent, 75.0).await;
    // Each framework's only task is invalid (TASK_ERROR); acknowledging it ends the framework.
    for i in 0..53 {
        let mut run = run_task(task("bad", None, None));
        run.framework.id = Some(FrameworkId {
            value: format!("F-{i:04}"),
        });
        m.send(&m.master, agent.slave.upid(), &run);
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
    }
    let mut completed = Vec::new();
    for _ in 0..100 {
        let state = agent_state(&agent).await;
        completed = state["completed_frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        if completed.last().map(String::as_str) == Some("F-0052") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(completed.len(), 50);
    assert_eq!(completed[0], "F-0003");
    agent.runtime.shutdown();
    m.rt.shutdown();
}
