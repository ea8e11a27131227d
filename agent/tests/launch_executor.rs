//! `launch_executor` on RunTaskMessage / RunTaskGroupMessage, against a scripted master:
//! the agent drops (LOST, or DROPPED for partition-aware frameworks) tasks whose flag
//! contradicts the executors it has, with REASON_EXECUTOR_TERMINATED, as genuine
//! slave.cpp does, instead of launching them; and `resource_version_uuids`: tasks decided
//! on an outdated version of the agent's resources are dropped with REASON_INVALID_OFFERS.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{
    MasterSlaveConnection, RegisterSlaveMessage, ResourceVersionUuid, RunTaskGroupMessage,
    RunTaskMessage, SlaveRegisteredMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{
    framework_info, task_status, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    SlaveId, TaskGroupInfo, TaskId, TaskInfo, TaskState, Uuid,
};
use prost::Message;
use tokio::sync::mpsc;

const NAMES: [&str; 4] = [
    "mesos.internal.RegisterSlaveMessage",
    "mesos.internal.StatusUpdateMessage",
    "mesos.internal.ExitedExecutorMessage",
    "mesos.internal.ExecutorToFrameworkMessage",
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

struct FakeMaster {
    rt: Runtime,
    master: Upid,
    rx: mpsc::UnboundedReceiver<(String, Bytes)>,
}

impl FakeMaster {
    fn start() -> FakeMaster {
        let rt = Runtime::start(Config::local()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let master = rt.spawn("master", Recorder { tx }).unwrap().upid().clone();
        FakeMaster { rt, master, rx }
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
        loop {
            let got = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {name} arrived"))
                .expect("recorder gone");
            if got.0 == full {
                return got.1;
            }
        }
    }

    async fn update(&mut self) -> StatusUpdateMessage {
        StatusUpdateMessage::decode(self.next("StatusUpdateMessage").await.as_ref()).unwrap()
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-launch-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

async fn registered_agent(m: &mut FakeMaster, work: PathBuf) -> Agent {
    registered_agent_and_version(m, work).await.0
}

/// The agent, and the resource version it announced when registering.
async fn registered_agent_and_version(m: &mut FakeMaster, work: PathBuf) -> (Agent, Vec<u8>) {
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
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
    let reg = RegisterSlaveMessage::decode(m.next("RegisterSlaveMessage").await.as_ref()).unwrap();
    let version = reg
        .resource_version_uuid
        .map(|u| u.value)
        .unwrap_or_default();
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
            return (agent, version);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("agent never registered");
}

fn framework(partition_aware: bool) -> FrameworkInfo {
    let mut info = FrameworkInfo {
        user: "root".into(),
        name: "launch".into(),
        id: Some(FrameworkId {
            value: "F-0000".into(),
        }),
        ..Default::default()
    };
    if partition_aware {
        info.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        });
    }
    info
}

/// A custom v0 executor that never registers (so it stays in REGISTERING).
fn executor() -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId { value: "ex".into() },
        command: Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn task(id: &str, executor: Option<ExecutorInfo>) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        resources: mesos_agent::resources::parse("cpus:0.1;mem:32").unwrap(),
        executor,
        ..Default::default()
    }
}

fn run(task: TaskInfo, partition_aware: bool, launch_executor: Option<bool>) -> RunTaskMessage {
    RunTaskMessage {
        #[allow(deprecated)]
        framework_id: None,
        framework: framework(partition_aware),
        pid: Some("@0.0.0.0:0".into()),
        task,
        resource_version_uuids: Vec::new(),
        launch_executor,
    }
}

async fn executor_pids(agent: &Agent) -> Vec<u32> {
    agent
        .slave
        .call("pids", |me, _| me.executor_pids())
        .await
        .unwrap()
}

fn assert_dropped(u: &StatusUpdateMessage, task: &str, state: TaskState, message: &str) {
    let s = &u.update.status;
    assert_eq!(s.task_id.value, task);
    assert_eq!(s.state(), state);
    assert_eq!(s.reason(), task_status::Reason::ExecutorTerminated);
    assert_eq!(s.source(), task_status::Source::Slave);
    assert_eq!(s.message.as_deref(), Some(message));
    assert_eq!(
        u.update.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("ex")
    );
    assert_eq!(u.update.uuid.as_ref().map(Vec::len), Some(16));
}

#[tokio::test]
async fn launch_executor_false_without_that_executor_drops_the_task_and_launches_nothing() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("false")).await;
    m.send(
        agent.slave.upid(),
        &run(task("t1", Some(executor())), false, Some(false)),
    );
    let u = m.update().await;
    assert_dropped(
        &u,
        "t1",
        TaskState::TaskLost,
        "No executor is expected to launch and there is none running",
    );
    assert!(executor_pids(&agent).await.is_empty(), "nothing launched");

    // A partition-aware framework hears TASK_DROPPED; a task group is dropped whole.
    let group = RunTaskGroupMessage {
        framework: framework(true),
        executor: executor(),
        task_group: TaskGroupInfo {
            tasks: vec![task("g1", None), task("g2", None)],
        },
        resource_version_uuids: Vec::new(),
        launch_executor: Some(false),
    };
    m.send(agent.slave.upid(), &group);
    for id in ["g1", "g2"] {
        let u = m.update().await;
        assert_dropped(
            &u,
            id,
            TaskState::TaskDropped,
            "No executor is expected to launch and there is none running",
        );
    }
    assert!(executor_pids(&agent).await.is_empty(), "nothing launched");
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn launch_executor_true_for_an_executor_the_agent_has_drops_the_task_and_shuts_it_down() {
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("true")).await;
    m.send(
        agent.slave.upid(),
        &run(task("t1", Some(executor())), false, Some(true)),
    );
    for _ in 0..300 {
        if !executor_pids(&agent).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        executor_pids(&agent).await.len(),
        1,
        "the first task launched it"
    );
    m.send(
        agent.slave.upid(),
        &run(task("t2", Some(executor())), false, Some(true)),
    );
    let u = m.update().await;
    assert_dropped(
        &u,
        "t2",
        TaskState::TaskLost,
        "Master wants to launch executor, but one already exists",
    );
    // The executor the master does not know of is shut down; its own task goes with it.
    m.next("ExitedExecutorMessage").await;
    let u = m.update().await;
    assert_eq!(u.update.status.task_id.value, "t1");
    assert!(executor_pids(&agent).await.is_empty());
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn launch_decided_on_an_outdated_resource_version_is_dropped_with_invalid_offers() {
    let mut m = FakeMaster::start();
    let (agent, version) = registered_agent_and_version(&mut m, scratch("version")).await;
    assert_eq!(version.len(), 16);
    let command = |id: &str, uuid: Vec<u8>| {
        let mut t = task(id, None);
        t.command = Some(CommandInfo {
            value: Some("sleep 30".into()),
            ..Default::default()
        });
        let mut msg = run(t, false, Some(true));
        msg.resource_version_uuids = vec![ResourceVersionUuid {
            resource_provider_id: None,
            uuid: Uuid { value: uuid },
        }];
        msg
    };
    m.send(agent.slave.upid(), &command("stale", vec![7; 16]));
    let u = m.update().await;
    let s = &u.update.status;
    assert_eq!(s.task_id.value, "stale");
    assert_eq!(s.state(), TaskState::TaskLost);
    assert_eq!(s.reason(), task_status::Reason::InvalidOffers);
    assert_eq!(
        s.message.as_deref(),
        Some("Task assumes outdated resource state")
    );
    assert!(executor_pids(&agent).await.is_empty(), "nothing launched");
    // The master expected an executor for it: it hears that none runs.
    m.next("ExitedExecutorMessage").await;

    // With the agent's own version the task runs (its executor reports it starting).
    m.send(agent.slave.upid(), &command("current", version));
    let u = m.update().await;
    assert_eq!(u.update.status.task_id.value, "current");
    assert_eq!(u.update.status.state(), TaskState::TaskStarting);
    agent.runtime.shutdown();
    m.rt.shutdown();
}

#[tokio::test]
async fn run_task_pid_of_the_empty_upid_sends_executor_messages_through_the_master() {
    // Genuine masters write `@0.0.0.0:0` as the pid of HTTP frameworks: nobody to reach
    // directly, so an executor's message for the framework goes to the master.
    let mut m = FakeMaster::start();
    let agent = registered_agent(&mut m, scratch("nopid")).await;
    m.send(
        agent.slave.upid(),
        &run(task("t1", Some(executor())), false, Some(true)),
    );
    for _ in 0..300 {
        if !executor_pids(&agent).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let message = mesos_proto::mesos::internal::ExecutorToFrameworkMessage {
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        framework_id: FrameworkId {
            value: "F-0000".into(),
        },
        executor_id: ExecutorId { value: "ex".into() },
        data: b"hello".to_vec(),
    };
    m.send(agent.slave.upid(), &message);
    let got = mesos_proto::mesos::internal::ExecutorToFrameworkMessage::decode(
        m.next("ExecutorToFrameworkMessage").await.as_ref(),
    )
    .unwrap();
    assert_eq!(got.data, b"hello");
    agent.runtime.shutdown();
    m.rt.shutdown();
}
