//! Task groups on the agent against a scripted master: RunTaskGroupMessage launches our
//! `mesos-default-executor` (a real process speaking the v1 HTTP executor API), which gets
//! the group as a LAUNCH_GROUP event and runs every task; a failing task takes its group
//! down; kills; groups for an executor already subscribed; invalid groups.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{
    KillTaskMessage, MasterSlaveConnection, RunTaskGroupMessage, SlaveRegisteredMessage,
    StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{
    executor_info, task_status, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    SlaveId, TaskGroupInfo, TaskId, TaskInfo, TaskState,
};
use prost::Message;
use tokio::sync::mpsc;

const NAMES: [&str; 3] = [
    "mesos.internal.RegisterSlaveMessage",
    "mesos.internal.StatusUpdateMessage",
    "mesos.internal.ExitedExecutorMessage",
];

struct Recorder {
    tx: mpsc::UnboundedSender<(String, Bytes)>,
}

impl Process for Recorder {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in NAMES {
            ctx.install_raw(name, move |me, _ctx, _from, body| {
                let _ = me.tx.send((name.to_string(), body));
            });
        }
    }
}

/// A scripted master: records what the agent sends, sends what the test says.
struct FakeMaster {
    rt: Runtime,
    master: Upid,
    rx: mpsc::UnboundedReceiver<(String, Bytes)>,
    /// Messages passed over while waiting for another kind: an executor's exit may arrive
    /// before the last update of its tasks, which waits for the previous acknowledgement.
    skipped: Vec<(String, Bytes)>,
}

impl FakeMaster {
    fn start() -> FakeMaster {
        let rt = Runtime::start(Config::local()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let master = rt.spawn("master", Recorder { tx }).unwrap().upid().clone();
        FakeMaster {
            rt,
            master,
            rx,
            skipped: Vec::new(),
        }
    }

    fn send<M: Message + prost::Name>(&self, to: &Upid, msg: &M) {
        self.rt.send(
            &self.master,
            to,
            &M::full_name(),
            Bytes::from(msg.encode_to_vec()),
        );
    }

    async fn next(&mut self, name: &str) -> Bytes {
        let full = format!("mesos.internal.{name}");
        if let Some(i) = self.skipped.iter().position(|(n, _)| *n == full) {
            return self.skipped.remove(i).1;
        }
        loop {
            let got = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {name} arrived"))
                .expect("recorder gone");
            if got.0 == full {
                return got.1;
            }
            self.skipped.push(got);
        }
    }

    /// The next status update; acknowledged at once.
    async fn update(&mut self, agent: &Agent) -> StatusUpdateMessage {
        let u =
            StatusUpdateMessage::decode(self.next("StatusUpdateMessage").await.as_ref()).unwrap();
        self.send(
            agent.slave.upid(),
            &StatusUpdateAcknowledgementMessage {
                slave_id: u.update.slave_id.clone().unwrap(),
                framework_id: u.update.framework_id.clone(),
                task_id: u.update.status.task_id.clone(),
                uuid: u.update.uuid.clone().unwrap(),
            },
        );
        u
    }

    /// Collects (and acknowledges) updates until every task in `tasks` is terminal.
    async fn until_terminal(
        &mut self,
        agent: &Agent,
        tasks: &[&str],
    ) -> BTreeMap<String, Vec<StatusUpdateMessage>> {
        let mut seen: BTreeMap<String, Vec<StatusUpdateMessage>> = BTreeMap::new();
        let done = |seen: &BTreeMap<String, Vec<StatusUpdateMessage>>| {
            tasks.iter().all(|t| {
                seen.get(*t).is_some_and(|us| {
                    us.iter()
                        .any(|u| mesos_proto::task_state::is_terminal(u.update.status.state()))
                })
            })
        };
        while !done(&seen) {
            let u = self.update(agent).await;
            seen.entry(u.update.status.task_id.value.clone())
                .or_default()
                .push(u);
        }
        seen
    }
}

fn states(us: &[StatusUpdateMessage]) -> Vec<TaskState> {
    us.iter().map(|u| u.update.status.state()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-group-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// An agent whose launcher dir holds the freshly built `mesos-default-executor`,
/// registered with the fake master, clock running.
async fn registered_agent(m: &mut FakeMaster, work: PathBuf) -> Agent {
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-default-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let config = SlaveConfig {
        master: m.master.clone(),
        resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
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
    agent.runtime.clock().advance(Duration::from_secs(1));
    m.next("RegisterSlaveMessage").await;
    m.send(
        agent.slave.upid(),
        &SlaveRegisteredMessage {
            slave_id: SlaveId {
                value: "M-S0".into(),
            },
            connection: Some(MasterSlaveConnection {
                total_ping_timeout_seconds: Some(75.0),
            }),
        },
    );
    for _ in 0..200 {
        if agent
            .slave
            .call("registered?", |me, _| me.agent_id().is_some())
            .await
            .unwrap()
        {
            agent.runtime.clock().resume();
            return agent;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("agent never registered");
}

fn framework_id() -> FrameworkId {
    FrameworkId {
        value: "F-0000".into(),
    }
}

fn task(id: &str, command: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        resources: mesos_agent::resources::parse("cpus:0.1;mem:32").unwrap(),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn default_executor(id: &str) -> ExecutorInfo {
    let mut e = ExecutorInfo {
        executor_id: ExecutorId { value: id.into() },
        framework_id: Some(framework_id()),
        resources: mesos_agent::resources::parse("cpus:0.1;mem:32").unwrap(),
        ..Default::default()
    };
    e.set_type(executor_info::Type::Default);
    e
}

fn group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> RunTaskGroupMessage {
    RunTaskGroupMessage {
        framework: FrameworkInfo {
            user: "root".into(),
            name: "groups".into(),
            id: Some(framework_id()),
            ..Default::default()
        },
        executor,
        task_group: TaskGroupInfo { tasks },
        resource_version_uuids: Vec::new(),
        launch_executor: None,
    }
}

#[tokio::test]
async fn task_group_runs_to_finished_with_the_default_executor() {
    let mut m = FakeMaster::start();
    let work = scratch("finish");
    let agent = registered_agent(&mut m, work.clone()).await;
    m.send(
        agent.slave.upid(),
        &group(
            default_executor("default"),
            vec![task("a", "echo from-a"), task("b", "echo from-b")],
        ),
    );
    let seen = m.until_terminal(&agent, &["a", "b"]).await;
    for t in ["a", "b"] {
        assert_eq!(
            states(&seen[t]),
            vec![
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskFinished
            ],
            "task {t}"
        );
        let last = &seen[t].last().unwrap().update;
        assert_eq!(
            last.status.source(),
            task_status::Source::Executor,
            "task {t}"
        );
        assert_eq!(last.executor_id.as_ref().unwrap().value, "default");
        assert_eq!(last.status.uuid.as_ref().map(Vec::len), Some(16));
    }
    // All acknowledged: the executor exits by itself.
    let exited = mesos_proto::mesos::internal::ExitedExecutorMessage::decode(
        m.next("ExitedExecutorMessage").await.as_ref(),
    )
    .unwrap();
    assert_eq!(exited.executor_id.value, "default");
    assert_eq!(exited.status, 0);
    let run = work.join("slaves/M-S0/frameworks/F-0000/executors/default/runs/latest");
    assert_eq!(
        std::fs::read_to_string(run.join("tasks/a/stdout")).unwrap(),
        "from-a\n"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("tasks/b/stdout")).unwrap(),
        "from-b\n"
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn failing_task_fails_and_the_rest_of_its_group_is_killed() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("fail")).await;
    m.send(
        agent.slave.upid(),
        &group(
            default_executor("default"),
            vec![task("bad", "exit 3"), task("sleeper", "sleep 30")],
        ),
    );
    let seen = m.until_terminal(&agent, &["bad", "sleeper"]).await;
    let bad = seen["bad"].last().unwrap();
    assert_eq!(bad.update.status.state(), TaskState::TaskFailed);
    assert_eq!(
        bad.update.status.message.as_deref(),
        Some("Command exited with status 3")
    );
    let sleeper = seen["sleeper"].last().unwrap();
    assert_eq!(sleeper.update.status.state(), TaskState::TaskKilled);
    m.next("ExitedExecutorMessage").await;
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn kill_of_one_task_kills_its_group_and_later_groups_reach_the_running_executor() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("kill")).await;
    m.send(
        agent.slave.upid(),
        &group(
            default_executor("default"),
            vec![task("long1", "sleep 30"), task("long2", "sleep 30")],
        ),
    );
    let mut running = 0;
    while running < 2 {
        if m.update(&agent).await.update.status.state() == TaskState::TaskRunning {
            running += 1;
        }
    }
    // A second group for the subscribed executor goes straight to it.
    m.send(
        agent.slave.upid(),
        &group(default_executor("default"), vec![task("quick", "true")]),
    );
    let seen = m.until_terminal(&agent, &["quick"]).await;
    assert_eq!(
        states(&seen["quick"]),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    // The executor still runs the first group: killing one of its tasks ends both.
    m.send(
        agent.slave.upid(),
        &KillTaskMessage {
            framework_id: framework_id(),
            task_id: TaskId {
                value: "long1".into(),
            },
            kill_policy: None,
        },
    );
    let seen = m.until_terminal(&agent, &["long1", "long2"]).await;
    assert_eq!(
        seen["long1"].last().unwrap().update.status.state(),
        TaskState::TaskKilled
    );
    assert_eq!(
        seen["long2"].last().unwrap().update.status.state(),
        TaskState::TaskKilled
    );
    m.next("ExitedExecutorMessage").await;
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn invalid_task_groups_end_in_task_error_without_an_executor() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("invalid")).await;
    // A task of a group carrying its own executor.
    let mut own = task("own", "true");
    own.executor = Some(default_executor("other"));
    m.send(
        agent.slave.upid(),
        &group(default_executor("default"), vec![task("fine", "true"), own]),
    );
    let seen = m.until_terminal(&agent, &["fine", "own"]).await;
    for t in ["fine", "own"] {
        let u = &seen[t][0].update;
        assert_eq!(u.status.state(), TaskState::TaskError);
        assert_eq!(u.status.reason(), task_status::Reason::TaskGroupInvalid);
        assert_eq!(u.status.source(), task_status::Source::Slave);
        assert_eq!(
            u.status.message.as_deref(),
            Some("Task 'own' in a task group must not have an ExecutorInfo")
        );
    }
    // A DEFAULT executor must not name a command.
    let mut e = default_executor("default");
    e.command = Some(CommandInfo {
        value: Some("/bin/true".into()),
        ..Default::default()
    });
    m.send(agent.slave.upid(), &group(e, vec![task("c", "true")]));
    let seen = m.until_terminal(&agent, &["c"]).await;
    assert_eq!(
        seen["c"][0].update.status.message.as_deref(),
        Some("'ExecutorInfo.command' must not be set for the DEFAULT executor")
    );
    assert!(agent
        .slave
        .call("pids", |me, _| me.executor_pids())
        .await
        .unwrap()
        .is_empty());
    agent.runtime.shutdown();
    m.rt.shutdown();
}

/// POSTs JSON and returns the raw response read until every `until` appears (or 5 s pass).
fn post_json(port: u16, path: &str, body: &str, until: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
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
async fn custom_http_executor_gets_launch_group_and_its_resubscribe_updates_are_taken() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("custom")).await;
    // A framework's own executor (it never speaks; the test plays it over HTTP).
    let mut executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "custom".into(),
        },
        framework_id: Some(framework_id()),
        command: Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    executor.set_type(executor_info::Type::Custom);
    m.send(
        agent.slave.upid(),
        &group(executor, vec![task("g1", "true"), task("g2", "true")]),
    );
    for _ in 0..100 {
        let up = agent
            .slave
            .call("pids", |me, _| me.executor_pids())
            .await
            .unwrap();
        if !up.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let port = agent.runtime.address().port();
    // SUBSCRIBE carrying an update the executor never saw acknowledged.
    let subscribe = r#"{"type":"SUBSCRIBE","framework_id":{"value":"F-0000"},"executor_id":{"value":"custom"},
        "subscribe":{"unacknowledged_updates":[{"status":{"task_id":{"value":"g1"},"state":"TASK_RUNNING",
        "source":"SOURCE_EXECUTOR","uuid":"AAECAwQFBgcICQoLDA0ODw=="}}]}}"#;
    let stream = tokio::task::spawn_blocking(move || {
        post_json(
            port,
            "/slave(1)/api/v1/executor",
            subscribe,
            &["\"SUBSCRIBED\"", "\"LAUNCH_GROUP\"", "\"ACKNOWLEDGED\""],
        )
    })
    .await
    .unwrap();
    assert!(stream.starts_with("HTTP/1.1 200"), "{stream}");
    assert!(
        stream.contains("\"LAUNCH_GROUP\"")
            && stream.contains("\"g1\"")
            && stream.contains("\"g2\""),
        "{stream}"
    );
    assert!(
        stream.contains("\"ACKNOWLEDGED\"") && stream.contains("AAECAwQFBgcICQoLDA0ODw=="),
        "{stream}"
    );
    let u = m.update(&agent).await;
    assert_eq!(u.update.status.task_id.value, "g1");
    assert_eq!(u.update.status.state(), TaskState::TaskRunning);
    assert_eq!(
        u.update.uuid.as_deref(),
        Some(&[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15][..])
    );
    agent.runtime.shutdown();
    m.rt.shutdown();
}
