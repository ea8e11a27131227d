//! The agent's v1 operator calls that reach into containers and sandboxes, over real HTTP,
//! with a real executor container: GET_CONTAINERS, LIST_FILES and READ_FILE (and their
//! refusals: outside a sandbox, negative length, offsets no file can have, directories).
//! The master is a scripted one in this test process; the agent's clock is paused.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::{Agent, SlaveConfig};
use mesos_proto::mesos::internal::{MasterSlaveConnection, RunTaskMessage, SlaveRegisteredMessage};
use mesos_proto::mesos::v1::agent as v1;
use mesos_proto::mesos::{
    CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, SlaveId, TaskId, TaskInfo,
};
use prost::Message;
use serde_json::{json, Value};
use tokio::sync::mpsc;

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

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-opcalls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// A registered agent (clock paused) and the scripted master's runtime and pid.
async fn registered_agent(work: PathBuf) -> (Agent, Runtime, Upid) {
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
        work_dir: work,
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
    (agent, rt, master)
}

fn post(addr: SocketAddrV4, body: &Value) -> (u16, Vec<u8>) {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST /api/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = mesos_tests::wire::split_responses(&buf)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    (r.status, r.body)
}

async fn call(addr: SocketAddrV4, body: Value) -> (u16, Value, String) {
    let (status, bytes) = tokio::task::spawn_blocking(move || post(addr, &body))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    )
}

/// Whether a LIST_FILES answer lists `path` as a non-empty file.
fn listed_with_data(listing: &Value, path: &str) -> bool {
    listing["list_files"]["file_infos"]
        .as_array()
        .is_some_and(|a| {
            a.iter()
                .any(|f| f["path"] == path && f["size"].as_u64().is_some_and(|s| s > 0))
        })
}

#[tokio::test]
async fn get_containers_list_files_and_read_file_show_a_running_executor_and_its_sandbox() {
    let work = scratch("containers");
    let (agent, master_rt, master) = registered_agent(work.clone()).await;
    let addr = agent.runtime.address();
    // A custom executor that writes to its stdout and stays up (it never registers).
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "writer".into(),
        },
        name: Some("the writer".into()),
        command: Some(CommandInfo {
            value: Some("echo hello-sandbox; exec sleep 120".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let task = TaskInfo {
        name: "t".into(),
        task_id: TaskId { value: "t1".into() },
        slave_id: SlaveId {
            value: "M-S0".into(),
        },
        resources: mesos_agent::resources::parse("cpus:0.5;mem:64").unwrap(),
        executor: Some(executor),
        ..Default::default()
    };
    let framework = FrameworkInfo {
        user: "root".into(),
        name: "fw".into(),
        id: Some(FrameworkId {
            value: "F-0000".into(),
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
            framework,
            pid: Some(String::new()),
            task,
            resource_version_uuids: Vec::new(),
            launch_executor: None,
        },
    );

    // The container appears with its process id and statistics.
    let mut containers = Value::Null;
    for _ in 0..400 {
        let (status, body, _) = call(addr, json!({"type": "GET_CONTAINERS"})).await;
        assert_eq!(status, 200);
        containers = body["get_containers"]["containers"].clone();
        if containers[0]["container_status"]["executor_pid"].is_u64() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = containers[0]["container_status"]["executor_pid"].is_u64();
    assert!(ok, "no container with an executor pid: {containers}");
    let c = &containers[0];
    assert_eq!(c["framework_id"]["value"], "F-0000");
    assert_eq!(c["executor_id"]["value"], "writer");
    assert_eq!(c["executor_name"], "the writer");
    assert!(c["container_id"]["value"].is_string());
    assert_eq!(
        c["container_status"]["container_id"], c["container_id"],
        "{c}"
    );
    assert!(
        c["resource_statistics"]["mem_limit_bytes"]
            .as_u64()
            .is_some(),
        "{c}"
    );
    assert!(
        c["resource_statistics"]["timestamp"].as_f64().is_some(),
        "{c}"
    );

    // The sandbox, as /state reports it.
    let port = addr.port();
    let state = tokio::task::spawn_blocking(move || {
        mesos_tests::native::http_get(port, "/state").unwrap().1
    })
    .await
    .unwrap();
    let state: Value = serde_json::from_slice(&state).unwrap();
    let sandbox = state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        sandbox.starts_with(&work.display().to_string()),
        "{sandbox}"
    );
    let stdout = format!("{sandbox}/stdout");
    let mut listing = Value::Null;
    for _ in 0..400 {
        let (status, body, _) = call(
            addr,
            json!({"type": "LIST_FILES", "list_files": {"path": sandbox}}),
        )
        .await;
        assert_eq!(status, 200);
        listing = body;
        if listed_with_data(&listing, &stdout) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = listed_with_data(&listing, &stdout);
    assert!(ok, "stdout never listed with data: {listing}");
    assert_eq!(listing["type"], "LIST_FILES");
    let f = listing["list_files"]["file_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == stdout)
        .unwrap();
    for key in ["nlink", "mtime", "mode", "uid", "gid"] {
        assert!(!f[key].is_null(), "{key} missing in {f}");
    }
    assert!(
        f["uid"].as_str().is_some_and(|u| u.parse::<u32>().is_err()),
        "the owner's name, as genuine: {f}"
    );
    let (status, body, _) = call(
        addr,
        json!({"type": "LIST_FILES", "list_files": {"path": stdout}}),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"type": "LIST_FILES", "list_files": {}})),
        "a file lists nothing, as genuine"
    );

    // The .json alias of /files/download, which 0.2x-era tools request.
    let download = format!("/files/download.json?path={stdout}");
    let (status, body) = tokio::task::spawn_blocking(move || {
        mesos_tests::native::http_get(port, &download).unwrap()
    })
    .await
    .unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"hello-sandbox\n"[..]));

    // /files/debug lists the sandbox and its virtual path, as genuine's.
    let debug = tokio::task::spawn_blocking(move || {
        [
            mesos_tests::native::http_get(port, "/files/debug").unwrap(),
            mesos_tests::native::http_get(port, "/files/debug.json").unwrap(),
        ]
    })
    .await
    .unwrap();
    for (status, body) in debug {
        assert_eq!(status, 200);
        let debug: Value = serde_json::from_slice(&body).unwrap();
        let real = std::path::Path::new(&sandbox)
            .canonicalize()
            .unwrap()
            .display()
            .to_string();
        assert_eq!(
            debug["/frameworks/F-0000/executors/writer/runs/latest"], real,
            "{debug}"
        );
        assert_eq!(debug[&sandbox], sandbox, "{debug}");
        let real_latest = std::path::Path::new(&sandbox)
            .with_file_name("latest")
            .display()
            .to_string();
        assert_eq!(debug[&real_latest], real, "{debug}");
    }

    let (status, body, text) = call(
        addr,
        json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 6, "length": 7}}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["type"], "READ_FILE");
    assert_eq!(
        body["read_file"]["data"], "c2FuZGJveA==",
        "\"sandbox\" in base64"
    );
    assert_eq!(body["read_file"]["size"], 14, "\"hello-sandbox\\n\"");
    let (status, body, _) = call(
        addr,
        json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 1000}}),
    )
    .await;
    assert_eq!(
        (status, body["read_file"]["size"].clone()),
        (200, json!(14))
    );

    // Bad input: 4xx with a message, never a crash.
    let refusals = [
        (
            json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}}),
            404,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": format!("{sandbox}/../../../../../../../../etc/passwd"), "offset": 0}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 0, "length": -1}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": u64::MAX}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": sandbox, "offset": 0}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": stdout}}),
            400,
        ),
        (json!({"type": "READ_FILE"}), 400),
        (
            json!({"type": "LIST_FILES", "list_files": {"path": "/etc"}}),
            404,
        ),
        (json!({"type": "LIST_FILES"}), 400),
    ];
    for (body, want) in refusals {
        let (status, _, text) = call(addr, body.clone()).await;
        assert_eq!(status, want, "{body}: {text}");
        assert!(!text.trim().is_empty(), "{body}: a refusal says why");
    }
    agent.runtime.shutdown();
    master_rt.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test]
async fn get_containers_answers_protobuf_with_the_genuine_response_type_number() {
    let work = scratch("containers-pb");
    let (agent, master_rt, _master) = registered_agent(work.clone()).await;
    let addr = agent.runtime.address();
    let body = v1::Call {
        r#type: Some(v1::call::Type::GetContainers as i32),
        ..Default::default()
    }
    .encode_to_vec();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /api/v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\nAccept: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    })
    .await
    .unwrap();
    let r = mesos_tests::wire::split_responses(&bytes)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(r.status, 200);
    let resp = v1::Response::decode(r.body.as_slice()).unwrap();
    assert_eq!(
        resp.r#type,
        Some(9),
        "GET_CONTAINERS is 10 in an agent Call, 9 in a Response"
    );
    assert_eq!(
        resp.get_containers, None,
        "as genuine: no get_containers when there is no container"
    );
    agent.runtime.shutdown();
    master_rt.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
