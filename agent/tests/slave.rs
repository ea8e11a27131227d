//! The agent against a scripted master (another runtime in this test process): registration
//! backoff, pings, status update retries and acknowledgements (paused clock), invalid tasks,
//! command tasks run by our `mesos-executor`, and the v1 HTTP executor API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{
    KillTaskMessage, MasterSlaveConnection, PingSlaveMessage, RunTaskMessage,
    SlaveRegisteredMessage, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{
    CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy,
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
    observer: Upid,
    rx: mpsc::UnboundedReceiver<(Upid, String, Bytes)>,
}

impl FakeMaster {
    fn start() -> FakeMaster {
        let rt = Runtime::start(Config::local()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let master = rt
            .spawn("master", Recorder { tx: tx.clone() })
            .unwrap()
            .upid()
            .clone();
        let observer = rt
            .spawn("slave-observer(1)", Recorder { tx })
            .unwrap()
            .upid()
            .clone();
        FakeMaster {
            rt,
            master,
            observer,
            rx,
        }
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
    let d = std::env::temp_dir().join(format!("agent-slave-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// Starts an agent with its clock paused, once its process has initialized.
async fn start_agent(master: &Upid, work: PathBuf) -> Agent {
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
        max_completed_executors_per_framework: 150,
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

/// Waits (10 s of real time at most) until the agent runs no executor process.
async fn wait_no_executors(agent: &Agent) {
    for _ in 0..1000 {
        let pids = agent.slave.call("pids", |me, _| me.executor_pids()).await;
        if pids.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("executors still running");
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

#[tokio::test]
async fn registration_retries_with_doubling_backoff_until_registered() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("backoff")).await;
    let clock = agent.runtime.clock().clone();
    clock.advance(Duration::from_secs(1));
    let (_, body) = m.next("RegisterSlaveMessage").await;
    let reg = mesos_proto::mesos::internal::RegisterSlaveMessage::decode(body.as_ref()).unwrap();
    assert_eq!(reg.version.as_deref(), Some("1.11.0"));
    assert_eq!(reg.agent_capabilities.len(), 8);
    assert_eq!(reg.resource_version_uuid.unwrap().value.len(), 16);
    #[allow(deprecated)]
    let roles: Vec<_> = reg
        .slave
        .resources
        .iter()
        .map(|r| r.role.clone().unwrap_or_default())
        .collect();
    assert!(roles.iter().all(|r| r == "*"));
    // Retries wait at most 2 s, then 4 s, then 8 s.
    for bound in [2, 4, 8] {
        clock.advance(Duration::from_secs(bound));
        m.next("RegisterSlaveMessage").await;
    }
    m.send(
        &m.master,
        agent.slave.upid(),
        &SlaveRegisteredMessage {
            slave_id: SlaveId {
                value: "M-S0".into(),
            },
            connection: None,
        },
    );
    wait_registered(&agent).await;
    clock.advance(Duration::from_secs(60));
    assert!(
        !m.arrives("RegisterSlaveMessage", Duration::from_millis(300))
            .await,
        "retried after registering"
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn registration_reply_from_another_process_is_ignored() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("impostor")).await;
    let clock = agent.runtime.clock().clone();
    clock.advance(Duration::from_secs(1));
    m.next("RegisterSlaveMessage").await;
    let impostor = m.observer.clone();
    m.send(
        &impostor,
        agent.slave.upid(),
        &SlaveRegisteredMessage {
            slave_id: SlaveId { value: "X".into() },
            connection: None,
        },
    );
    clock.advance(Duration::from_secs(2));
    m.next("RegisterSlaveMessage").await;
    let id = agent
        .slave
        .call("id", |me, _| me.agent_id().map(String::from))
        .await
        .unwrap();
    assert_eq!(id, None);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn pings_get_pongs_and_silence_makes_the_agent_reregister() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("ping")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, 5.0).await;
    let observer = m.observer.clone();
    m.send(
        &observer,
        agent.slave.upid(),
        &PingSlaveMessage { connected: true },
    );
    let (from, _) = m.next("PongSlaveMessage").await;
    assert_eq!(&from, agent.slave.upid());
    // No ping for longer than total_ping_timeout_seconds: the agent re-registers with its id.
    clock.advance(Duration::from_secs(6));
    clock.advance(Duration::from_secs(1));
    let (_, body) = m.next("ReregisterSlaveMessage").await;
    let rereg =
        mesos_proto::mesos::internal::ReregisterSlaveMessage::decode(body.as_ref()).unwrap();
    assert_eq!(rereg.slave.id.unwrap().value, "M-S0");
    agent.runtime.shutdown();
    m.rt.shutdown();
}

/// The master's reconciliation requests in SlaveReregisteredMessage: tasks the agent does
/// not know end TASK_LOST (TASK_DROPPED for a PARTITION_AWARE framework), REASON_RECONCILIATION;
/// a task it knows (queued on its executor) gets nothing; a repeated reply is answered too.
#[tokio::test]
async fn reregistered_agent_reports_tasks_unknown_to_it_lost_or_dropped_and_ignores_known_ones() {
    use mesos_proto::mesos::internal::{ReconcileTasksMessage, SlaveReregisteredMessage};
    use mesos_proto::mesos::{framework_info, task_status, TaskStatus};
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("reconcile")).await;
    let clock = agent.runtime.clock().clone();
    let agent_id = register(&mut m, &agent, 5.0).await;
    // An executor that never registers: its task stays queued, known to the agent.
    let mut queued = task("queued", None, None);
    queued.executor = Some(ExecutorInfo {
        executor_id: ExecutorId {
            value: "silent".into(),
        },
        command: Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    m.send(&m.master, agent.slave.upid(), &run_task(queued));
    // Once the agent has the task (its executor is up), silence past the ping timeout: the
    // agent re-registers.
    for _ in 0..100 {
        let pids = agent.slave.call("pids", |me, _| me.executor_pids());
        if !pids.await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance(Duration::from_secs(6));
    let (_, body) = m.next("ReregisterSlaveMessage").await;
    let rereg = mesos_proto::mesos::internal::ReregisterSlaveMessage::decode(body.as_ref());
    assert_eq!(rereg.unwrap().tasks.len(), 1);
    let status = |id: &str| TaskStatus {
        task_id: TaskId { value: id.into() },
        state: TaskState::TaskStaging as i32,
        ..Default::default()
    };
    let partition_aware = FrameworkInfo {
        id: Some(FrameworkId {
            value: "F-0001".into(),
        }),
        capabilities: vec![framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        }],
        ..framework()
    };
    let reply = |reconciliations| SlaveReregisteredMessage {
        slave_id: agent_id.clone(),
        reconciliations,
        connection: None,
    };
    m.send(
        &m.master,
        agent.slave.upid(),
        &reply(vec![
            ReconcileTasksMessage {
                framework_id: framework().id.unwrap(),
                statuses: vec![status("queued"), status("ghost")],
                framework: None,
            },
            ReconcileTasksMessage {
                framework_id: partition_aware.id.clone().unwrap(),
                statuses: vec![status("ghost-pa")],
                framework: Some(partition_aware),
            },
        ]),
    );
    let check = |u: StatusUpdateMessage, task: &str, fw: &str, state: TaskState| {
        let (s, reason) = (&u.update.status, task_status::Reason::Reconciliation);
        let ids = (&*s.task_id.value, &*u.update.framework_id.value);
        assert_eq!(
            (ids, s.state(), s.reason(), s.source()),
            ((task, fw), state, reason, task_status::Source::Slave)
        );
        assert_eq!(
            s.message.as_deref(),
            Some("Reconciliation: task unknown to the agent")
        );
        assert_eq!(
            (s.slave_id.as_ref(), u.update.executor_id.as_ref()),
            (Some(&agent_id), None)
        );
    };
    for (task, fw, state) in [
        ("ghost", "F-0000", TaskState::TaskLost),
        ("ghost-pa", "F-0001", TaskState::TaskDropped),
    ] {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        check(u, task, fw, state);
    }
    // The queued task is known: no update for it.
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(200))
            .await
    );
    // A repeated reply while registered is answered as well.
    m.send(
        &m.master,
        agent.slave.upid(),
        &reply(vec![ReconcileTasksMessage {
            framework_id: framework().id.unwrap(),
            statuses: vec![status("ghost-2")],
            framework: Some(framework()),
        }]),
    );
    let u = update(&m.next("StatusUpdateMessage").await.1);
    check(u, "ghost-2", "F-0000", TaskState::TaskLost);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn huge_ping_timeout_from_the_master_is_capped_not_a_panic() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("huge-ping")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, 1e300).await;
    // The agent survived the number and still answers pings.
    let observer = m.observer.clone();
    m.send(
        &observer,
        agent.slave.upid(),
        &PingSlaveMessage { connected: true },
    );
    let (from, _) = m.next("PongSlaveMessage").await;
    assert_eq!(&from, agent.slave.upid());
    // Capped, not zero: a long silence is still within the timeout.
    clock.advance(Duration::from_secs(3600));
    assert!(
        !m.arrives("ReregisterSlaveMessage", Duration::from_millis(200))
            .await
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn nan_ping_timeout_from_the_master_keeps_the_default() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("nan-ping")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, f64::NAN).await;
    // The default total ping timeout (75 s) applies: silence past it re-registers.
    clock.advance(Duration::from_secs(76));
    clock.advance(Duration::from_secs(1));
    let (_, body) = m.next("ReregisterSlaveMessage").await;
    let rereg =
        mesos_proto::mesos::internal::ReregisterSlaveMessage::decode(body.as_ref()).unwrap();
    assert_eq!(rereg.slave.id.unwrap().value, "M-S0");
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn state_jsonp_wraps_valid_callbacks_and_answers_400_to_others() {
    let m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("jsonp")).await;
    let port = agent.runtime.address().port();
    let get = move |path: &'static str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        (get("/state?jsonp=cb.x_1"), get("/state?jsonp=alert(1)//"))
    })
    .await
    .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("Content-Type: text/javascript"), "{ok}");
    assert!(
        ok.contains("\r\n\r\ncb.x_1({") && ok.ends_with("});"),
        "{ok}"
    );
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(!bad.contains("alert(1)//({"), "{bad}");
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn status_updates_are_retried_until_acknowledged() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("retry")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, 75.0).await;
    // An invalid task (neither command nor executor) fails with TASK_ERROR; no crash.
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("bad", None, None)),
    );
    let (_, body) = m.next("StatusUpdateMessage").await;
    let first = update(&body);
    assert_eq!(first.update.status.state(), TaskState::TaskError);
    assert_eq!(
        first.pid.as_deref(),
        Some(agent.slave.upid().to_string().as_str())
    );
    assert_eq!(first.update.uuid.as_ref().unwrap().len(), 16);
    // Not acknowledged: resent after 10 s, then after 20 more.
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        update(&m.next("StatusUpdateMessage").await.1).update.uuid,
        first.update.uuid
    );
    clock.advance(Duration::from_secs(19));
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(300))
            .await,
        "resent before 20 s"
    );
    clock.advance(Duration::from_secs(1));
    m.next("StatusUpdateMessage").await;
    ack(&m, &agent, &first);
    clock.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    clock.advance(Duration::from_secs(600));
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(300))
            .await,
        "resent after the ack"
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn command_task_runs_to_finished_and_its_executor_exit_is_not_reported() {
    let mut m = FakeMaster::start();
    let work = scratch("command");
    let agent = start_agent(&m.master, work.clone()).await;
    register(&mut m, &agent, 75.0).await;
    agent.runtime.clock().resume();
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("t1", Some("echo hello-from-task"), None)),
    );
    let mut states = Vec::new();
    while !states.contains(&TaskState::TaskFinished) {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        states.push(u.update.status.state());
        ack(&m, &agent, &u);
    }
    assert_eq!(
        states,
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    // The executor exits after its terminal update is acknowledged; like a genuine agent,
    // this one does not report the exit of a command task's executor to the master.
    wait_no_executors(&agent).await;
    assert!(
        !m.arrives("ExitedExecutorMessage", Duration::from_millis(300))
            .await
    );
    let latest = work.join("slaves/M-S0/frameworks/F-0000/executors/t1/runs/latest/stdout");
    assert!(std::fs::read_to_string(&latest)
        .unwrap()
        .contains("hello-from-task"));
    // The sandbox is readable over /files; paths outside the work dir are not.
    let port = agent.runtime.address().port();
    let (status, body) = mesos_tests::native::http_get(
        port,
        &format!("/files/read?path={}&offset=0", latest.display()),
    )
    .unwrap();
    assert_eq!(status, 200);
    let read: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        read["data"].as_str().unwrap().contains("hello-from-task"),
        "{read}"
    );
    let (status, _) =
        mesos_tests::native::http_get(port, "/files/read?path=/etc/hostname").unwrap();
    assert_eq!(status, 404);
    let (status, _) =
        mesos_tests::native::http_get(port, &format!("/files/browse?path={}/..", work.display()))
            .unwrap();
    assert_eq!(status, 400);
    let (status, body) = mesos_tests::native::http_get(port, "/slave(1)/state").unwrap();
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(state["id"], "M-S0");
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn killed_command_task_reports_killed() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("kill")).await;
    register(&mut m, &agent, 75.0).await;
    agent.runtime.clock().resume();
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("sleepy", Some("sleep 30"), None)),
    );
    loop {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
        if u.update.status.state() == TaskState::TaskRunning {
            break;
        }
    }
    m.send(
        &m.master,
        agent.slave.upid(),
        &KillTaskMessage {
            framework_id: FrameworkId {
                value: "F-0000".into(),
            },
            task_id: TaskId {
                value: "sleepy".into(),
            },
            kill_policy: None,
        },
    );
    let u = update(&m.next("StatusUpdateMessage").await.1);
    assert_eq!(u.update.status.state(), TaskState::TaskKilled);
    assert_eq!(
        u.update.status.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    ack(&m, &agent, &u);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn extreme_kill_grace_periods_from_peers_do_not_crash_the_command_executor() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("kill-extreme")).await;
    register(&mut m, &agent, 75.0).await;
    agent.runtime.clock().resume();
    let grace = |nanoseconds| KillPolicy {
        grace_period: Some(DurationInfo { nanoseconds }),
    };
    // "long": its TaskInfo asks for i64::MAX ns (~292 years), which the kill then uses;
    // "short": killed with i64::MIN ns (treated as no grace).
    for id in ["long", "short"] {
        let mut t = task(id, Some("sleep 30"), None);
        t.kill_policy = Some(grace(i64::MAX));
        m.send(&m.master, agent.slave.upid(), &run_task(t));
    }
    let mut running = 0;
    while running < 2 {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
        running += usize::from(u.update.status.state() == TaskState::TaskRunning);
    }
    for (id, policy) in [("long", None), ("short", Some(grace(i64::MIN)))] {
        m.send(
            &m.master,
            agent.slave.upid(),
            &KillTaskMessage {
                framework_id: FrameworkId {
                    value: "F-0000".into(),
                },
                task_id: TaskId { value: id.into() },
                kill_policy: policy,
            },
        );
    }
    let mut killed = std::collections::BTreeSet::new();
    while killed.len() < 2 {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
        assert_eq!(u.update.status.state(), TaskState::TaskKilled, "{u:?}");
        killed.insert(u.update.status.task_id.value.clone());
    }
    agent.runtime.shutdown();
    m.rt.shutdown();
}

/// POSTs and returns the raw response bytes read until `until` appears (or 5 s pass).
fn post(port: u16, path: &str, body: &str, until: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&got);
        if until.iter().all(|u| text.contains(u)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn http_executor_subscribes_gets_its_task_and_updates_are_acknowledged() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("v1")).await;
    register(&mut m, &agent, 75.0).await;
    agent.runtime.clock().resume();
    // A custom executor that never speaks; the test plays the HTTP executor instead.
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "ex1".into(),
        },
        command: Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("v1task", None, Some(executor))),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let port = agent.runtime.address().port();
    let subscribe = r#"{"type":"SUBSCRIBE","framework_id":{"value":"F-0000"},"executor_id":{"value":"ex1"},"subscribe":{}}"#;
    let stream = tokio::task::spawn_blocking(move || {
        post(
            port,
            "/api/v1/executor",
            subscribe,
            &["\"SUBSCRIBED\"", "\"LAUNCH\""],
        )
    })
    .await
    .unwrap();
    assert!(stream.starts_with("HTTP/1.1 200"), "{stream}");
    assert!(
        stream.contains("\"SUBSCRIBED\"")
            && stream.contains("\"LAUNCH\"")
            && stream.contains("v1task"),
        "{stream}"
    );
    // The uuid is base64 of 16 bytes.
    let update_call = r#"{"type":"UPDATE","framework_id":{"value":"F-0000"},"executor_id":{"value":"ex1"},"update":{"status":{"task_id":{"value":"v1task"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAECAwQFBgcICQoLDA0ODw=="}}}"#;
    let reply = tokio::task::spawn_blocking(move || {
        post(
            port,
            "/slave(1)/api/v1/executor",
            update_call,
            &["\r\n\r\n"],
        )
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
    let u = update(&m.next("StatusUpdateMessage").await.1);
    assert_eq!(u.update.status.state(), TaskState::TaskRunning);
    assert_eq!(
        u.update.uuid.as_deref(),
        Some(&[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15][..])
    );
    // Stopping the agent kills the executor it launched.
    let pids = agent
        .slave
        .call("pids", |me, _| me.executor_pids())
        .await
        .unwrap();
    assert_eq!(pids.len(), 1);
    agent.slave.terminate();
    let gone = mesos_tests::poll_until(Duration::from_secs(2), || {
        !std::path::Path::new(&format!("/proc/{}", pids[0])).exists()
    });
    assert!(gone, "executor {} survived the agent", pids[0]);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn executor_that_never_registers_is_killed_and_its_task_failed() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("regtimeout")).await;
    let clock = agent.runtime.clock().clone();
    register(&mut m, &agent, 75.0).await;
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "silent".into(),
        },
        command: Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("quiet", None, Some(executor))),
    );
    // Wait until the executor is up, then let the 1 min registration timeout pass.
    for _ in 0..100 {
        if !agent
            .slave
            .call("pids", |me, _| me.executor_pids())
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance(Duration::from_secs(61));
    let (_, body) = m.next("ExitedExecutorMessage").await;
    let exited =
        mesos_proto::mesos::internal::ExitedExecutorMessage::decode(body.as_ref()).unwrap();
    assert_eq!(exited.executor_id.value, "silent");
    let u = update(&m.next("StatusUpdateMessage").await.1);
    assert_eq!(u.update.status.state(), TaskState::TaskFailed);
    assert_eq!(
        u.update.status.reason(),
        mesos_proto::mesos::task_status::Reason::ExecutorRegistrationTimeout
    );
    assert_eq!(
        u.update.status.message.as_deref(),
        Some("Executor did not register within 1mins")
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn framework_shutdown_stops_its_executors_and_forwards_none_of_its_updates() {
    let mut m = FakeMaster::start();
    let agent = start_agent(&m.master, scratch("fwshutdown")).await;
    register(&mut m, &agent, 75.0).await;
    agent.runtime.clock().resume();
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("long", Some("sleep 30"), None)),
    );
    loop {
        let u = update(&m.next("StatusUpdateMessage").await.1);
        ack(&m, &agent, &u);
        if u.update.status.state() == TaskState::TaskRunning {
            break;
        }
    }
    m.send(
        &m.master,
        agent.slave.upid(),
        &mesos_proto::mesos::internal::ShutdownFrameworkMessage {
            framework_id: FrameworkId {
                value: "F-0000".into(),
            },
        },
    );
    // A task for it still on its way while it shuts down is ignored, without an update.
    m.send(
        &m.master,
        agent.slave.upid(),
        &run_task(task("late", Some("sleep 30"), None)),
    );
    // Our executor kills its task and exits; like a genuine agent, this one forwards no
    // update of a framework being shut down (TASK_KILLED included: nobody could ack it).
    wait_no_executors(&agent).await;
    assert!(
        !m.arrives("StatusUpdateMessage", Duration::from_millis(300))
            .await
    );
    let (_, body) =
        mesos_tests::native::http_get(agent.runtime.address().port(), "/slave(1)/state").unwrap();
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        state["frameworks"].as_array().map(Vec::len),
        Some(0),
        "{state}"
    );
    assert_eq!(state["completed_frameworks"][0]["id"], "F-0000", "{state}");
    agent.runtime.shutdown();
    m.rt.shutdown();
}
