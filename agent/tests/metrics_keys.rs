//! The agent's `/metrics/snapshot` against GENUINE 1.11's key list
//! (`tests/data/genuine_1_11_agent_metrics_keys.txt`, captured from the genuine agent, and a
//! live genuine agent when `../shared/interop/native` is there):
//! every genuine key is served except the documented exclusions, and the `slave/*` values
//! follow a real executor's container through its life. Scripted master, paused clock.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{MasterSlaveConnection, RunTaskMessage, SlaveRegisteredMessage};
use mesos_proto::mesos::{
    CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, TaskId, TaskInfo,
};
use prost::Message;
use tokio::sync::mpsc;

/// Genuine keys this agent does not serve, with why.
const NOT_SERVED: &[(&str, &str)] = &[
    (
        "containerizer/fetcher/",
        "no fetcher: command URIs are not fetched",
    ),
    ("containerizer/mesos/provisioner/", "no image provisioner"),
    ("gc/", "sandboxes are not garbage-collected"),
    ("resource_provider_manager/", "no resource providers"),
    (
        "slave/recovery_time_secs",
        "nothing is checkpointed, so there is no recovery to time",
    ),
];

fn genuine_keys() -> BTreeSet<String> {
    include_str!("data/genuine_1_11_agent_metrics_keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|k| served(k))
        .map(str::to_string)
        .collect()
}

fn served(key: &str) -> bool {
    !NOT_SERVED.iter().any(|(prefix, _)| key.starts_with(prefix))
}

/// Tells the test when the agent asks to register.
struct Registrar {
    tx: mpsc::UnboundedSender<Upid>,
}

impl Process for Registrar {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw(
            "mesos.internal.RegisterSlaveMessage",
            |me, _ctx, from, _body| {
                let _ = me.tx.send(from);
            },
        );
    }
}

fn send<M: Message + prost::Name>(rt: &Runtime, from: &Upid, to: &Upid, msg: &M) {
    rt.send(from, to, &M::full_name(), Bytes::from(msg.encode_to_vec()));
}

/// A registered agent (clock paused) and the scripted master's runtime and pid.
async fn registered_agent(name: &str) -> (Agent, Runtime, Upid, PathBuf) {
    let work = std::env::temp_dir().join(format!("agent-metrics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let master = rt.spawn("master", Registrar { tx }).unwrap().upid().clone();
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let config = SlaveConfig {
        master: master.clone(),
        resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
        attributes: Vec::new(),
        work_dir: work.clone(),
        hostname: "localhost".into(),
        launcher_dir,
        registration_backoff_factor: Duration::from_secs(1),
        executor_registration_timeout: Duration::from_secs(600),
        executor_shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        max_completed_executors_per_framework: 150,
        flags: Vec::new(),
    };
    let agent = mesos_agent::start(Config::local(), config).unwrap();
    agent.runtime.clock().pause();
    agent.slave.call("initialized", |_, _| ()).await.unwrap();
    agent.runtime.clock().advance(Duration::from_secs(1));
    let from = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the agent never asked to register")
        .unwrap();
    send(
        &rt,
        &master,
        &from,
        &SlaveRegisteredMessage {
            slave_id: SlaveId {
                value: "M-S0".into(),
            },
            connection: Some(MasterSlaveConnection {
                total_ping_timeout_seconds: Some(75.0),
            }),
        },
    );
    (agent, rt, master, work)
}

/// The metric once the agent's gauges were refreshed (one refresh period later).
async fn refreshed(agent: &Agent, name: &'static str, want: f64) -> f64 {
    let mut last = f64::NAN;
    for _ in 0..200 {
        agent.runtime.clock().advance(mesos_agent::metrics::REFRESH);
        agent.slave.call("sync", |_, _| ()).await.unwrap();
        last = agent
            .runtime
            .metrics()
            .snapshot()
            .get(name)
            .copied()
            .unwrap_or(f64::NAN);
        if last == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

/// Waits (real time) for the disk watch's first measurement.
async fn disk_measured(agent: &Agent) -> Option<f64> {
    for _ in 0..500 {
        let age = agent
            .runtime
            .metrics()
            .snapshot()
            .get("slave/executor_directory_max_allowed_age_secs")
            .copied();
        if age.is_some() {
            return age;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn every_metric_key_of_a_genuine_1_11_agent_is_served_but_the_documented_ones() {
    let (agent, master_rt, _master, work) = registered_agent("keys").await;
    assert_eq!(refreshed(&agent, "slave/registered", 1.0).await, 1.0);
    let age = disk_measured(&agent)
        .await
        .expect("the disk was never measured");
    assert!(
        (0.0..=mesos_agent::metrics::GC_DELAY_SECS * 0.9).contains(&age),
        "executor_directory_max_allowed_age_secs {age}"
    );
    let ours: BTreeSet<String> = agent.runtime.metrics().snapshot().into_keys().collect();
    let missing: Vec<String> = genuine_keys()
        .into_iter()
        .filter(|k| !ours.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "genuine keys we do not serve: {missing:#?}"
    );
    let s = agent.runtime.metrics().snapshot();
    assert_eq!(s["slave/cpus_total"], 2.0);
    assert_eq!(s["slave/mem_total"], 1024.0);
    assert_eq!(s["slave/cpus_used"], 0.0);
    agent.runtime.shutdown();
    master_rt.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test]
async fn slave_gauges_and_counters_follow_an_executor_from_launch_to_exit() {
    let (agent, master_rt, master, work) = registered_agent("life").await;
    // A custom executor that never registers and exits once told to (by a file).
    let gate = work.join("gate");
    let command = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; exit 0",
        gate.display()
    );
    let task = TaskInfo {
        name: "t".into(),
        task_id: TaskId { value: "t1".into() },
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        resources: mesos_agent::resources::parse("cpus:0.5;mem:64").unwrap(),
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            command: Some(CommandInfo {
                value: Some(command),
                ..Default::default()
            }),
            resources: mesos_agent::resources::parse("cpus:0.25;mem:32").unwrap(),
            ..Default::default()
        }),
        ..Default::default()
    };
    send(
        &master_rt,
        &master,
        agent.slave.upid(),
        &RunTaskMessage {
            #[allow(deprecated)]
            framework_id: None,
            framework: FrameworkInfo {
                user: "root".into(),
                name: "fw".into(),
                id: Some(FrameworkId {
                    value: "F-0000".into(),
                }),
                ..Default::default()
            },
            pid: Some(String::new()),
            task,
            resource_version_uuids: Vec::new(),
            launch_executor: None,
        },
    );
    assert_eq!(
        refreshed(&agent, "slave/executors_registering", 1.0).await,
        1.0
    );
    let s = agent.runtime.metrics().snapshot();
    assert_eq!(s["slave/frameworks_active"], 1.0);
    assert_eq!(
        s["slave/tasks_staging"], 1.0,
        "queued until the executor registers"
    );
    assert_eq!(s["slave/cpus_used"], 0.75, "task and executor");
    assert_eq!(s["slave/cpus_percent"], 0.375);
    assert_eq!(s["slave/mem_used"], 96.0);
    assert_eq!(s["slave/executors_terminated"], 0.0);

    std::fs::write(&gate, b"").unwrap();
    assert_eq!(
        refreshed(&agent, "slave/executors_terminated", 1.0).await,
        1.0
    );
    assert_eq!(
        refreshed(&agent, "slave/executors_registering", 0.0).await,
        0.0
    );
    let s = agent.runtime.metrics().snapshot();
    assert_eq!(s["slave/tasks_staging"], 0.0);
    assert_eq!(
        s["slave/tasks_failed"], 1.0,
        "its task failed with the executor"
    );
    assert_eq!(s["slave/cpus_used"], 0.0);
    agent.runtime.shutdown();
    master_rt.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_key_a_live_genuine_1_11_agent_serves_is_served_but_the_documented_ones() {
    use mesos_tests::native::{self, ChildGuard};
    let test =
        "every_metric_key_a_live_genuine_1_11_agent_serves_is_served_but_the_documented_ones";
    let Some(native_dir) = native::genuine(test) else {
        return;
    };
    let live = tokio::task::spawn_blocking(move || {
        let mport = native::free_port();
        let _master = native::start_genuine_master(&native_dir, mport, 120);
        native::wait_http_ok(mport, "/master/health", Duration::from_secs(60))
            .expect("genuine master");
        let dir = ChildGuard::new_dir("genuine-agent");
        let aport = native::free_port();
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(native_dir.join("run-agent.sh"))
            .arg(format!("127.0.0.1:{mport}"))
            .arg(aport.to_string())
            .env("MESOS_WORK_DIR", dir.join("work"))
            .env("MESOS_RESOURCES", "cpus:2;mem:1024;disk:1024")
            .env_remove("LIBPROCESS_PORT")
            .env_remove("LIBPROCESS_ADVERTISE_PORT")
            .env_remove("LIBPROCESS_ADVERTISE_IP");
        let _agent = ChildGuard::spawn_in("genuine-agent", dir, cmd);
        let mut keys = BTreeSet::new();
        let registered = mesos_tests::poll_until(Duration::from_secs(60), || {
            let Ok((200, body)) = native::http_get(aport, "/metrics/snapshot?timeout=5secs") else {
                return false;
            };
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            keys = v
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            v["slave/registered"] == 1.0
        });
        assert!(registered, "the genuine agent did not register: {keys:?}");
        keys
    })
    .await
    .unwrap();
    let (agent, master_rt, _master, work) = registered_agent("live").await;
    assert_eq!(refreshed(&agent, "slave/registered", 1.0).await, 1.0);
    disk_measured(&agent).await;
    let ours: BTreeSet<String> = agent.runtime.metrics().snapshot().into_keys().collect();
    let missing: Vec<&String> = live
        .iter()
        .filter(|k| served(k) && !ours.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys a live genuine agent serves that we do not: {missing:#?}"
    );
    agent.runtime.shutdown();
    master_rt.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
