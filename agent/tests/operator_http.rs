//! The agent's operator endpoints over real HTTP: `/flags`, `/version`, the `.json`
//! aliases, and the v1 operator API `/api/v1` (JSON and protobuf, 4xx/501 for bad or
//! unimplemented calls). The agent points at a master that is not there: these endpoints
//! answer whether or not it is registered.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use libprocess::{Config, Upid};
use mesos_agent::slave::SlaveConfig;
use mesos_proto::mesos::v1::agent as v1;
use prost::Message as _;
use serde_json::{json, Value};

fn request(
    addr: SocketAddrV4,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> mesos_tests::wire::HttpMessage {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    mesos_tests::wire::split_responses(&buf)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

fn json_of(r: &mesos_tests::wire::HttpMessage) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

const JSON: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

/// An agent with its own work dir (`name` keeps parallel tests apart).
async fn agent(name: &str) -> (mesos_agent::Agent, PathBuf) {
    let work =
        std::env::temp_dir().join(format!("agent-operator-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("slaves")).unwrap();
    let work = work.canonicalize().unwrap();
    let config = SlaveConfig {
        master: Upid::parse("master@127.0.0.1:1").unwrap(),
        resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
        attributes: Vec::new(),
        work_dir: work.clone(),
        hostname: "agent.example".into(),
        launcher_dir: PathBuf::from("/nonexistent"),
        registration_backoff_factor: Duration::from_secs(1),
        executor_registration_timeout: Duration::from_secs(60),
        executor_shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        max_completed_executors_per_framework: 150,
        flags: vec![("work_dir".into(), work.display().to_string())],
    };
    let mut rt = Config::local();
    rt.ip = std::net::Ipv4Addr::LOCALHOST;
    let a = mesos_agent::start(rt, config).unwrap();
    a.runtime.clock().pause();
    a.slave.call("initialized", |_, _| ()).await.unwrap();
    (a, work)
}

#[tokio::test]
async fn agent_serves_flags_version_and_the_json_aliases() {
    let (a, work) = agent("aliases").await;
    let addr = a.runtime.address();
    let work_s = work.display().to_string();
    std::fs::write(work.join("flagfile"), b"x").unwrap();
    let rs = tokio::task::spawn_blocking(move || {
        [
            "/flags",
            "/flags.json",
            "/slave(1)/flags",
            "/version",
            "/state.json",
            "/slave(1)/state.json",
            "/files/browse.json?path=",
            "/files/read.json?path=&offset=-1",
        ]
        .map(|p| {
            let p = p.replace("path=", &format!("path={work_s}/slaves"));
            let p = if p.starts_with("/files/read") {
                p.replace("/slaves&", "/flagfile&")
            } else {
                p
            };
            (p.clone(), request(addr, "GET", &p, &[], b""))
        })
    })
    .await
    .unwrap();
    let [flags, flags_json, slave_flags, version, state, slave_state, browse, read] = rs;
    for (path, r) in [
        &flags,
        &flags_json,
        &slave_flags,
        &version,
        &state,
        &slave_state,
        &browse,
        &read,
    ] {
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        json_of(&flags.1)["flags"]["work_dir"],
        work.display().to_string()
    );
    assert_eq!(json_of(&version.1)["version"], "1.11.0");
    assert_eq!(json_of(&state.1)["hostname"], "agent.example");
    assert!(json_of(&browse.1).is_array());
    assert_eq!(json_of(&read.1)["offset"], 1, "offset=-1 answers the size");
    a.runtime.shutdown();
}

#[tokio::test]
async fn agent_operator_api_answers_read_calls_in_json_and_protobuf_and_501_for_others() {
    let (a, _work) = agent("api").await;
    let addr = a.runtime.address();
    let post = move |body: Vec<u8>, headers: &'static [(&'static str, &'static str)]| {
        tokio::task::spawn_blocking(move || request(addr, "POST", "/api/v1", headers, &body))
    };
    let call = |t: &str| json!({ "type": t }).to_string().into_bytes();
    let r = post(call("GET_HEALTH"), JSON).await.unwrap();
    assert_eq!(
        json_of(&r),
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );
    let r = post(call("GET_FLAGS"), JSON).await.unwrap();
    assert_eq!(json_of(&r)["get_flags"]["flags"][0]["name"], "work_dir");
    let r = post(call("GET_VERSION"), JSON).await.unwrap();
    assert_eq!(
        json_of(&r)["get_version"]["version_info"]["version"],
        "1.11.0"
    );
    let r = post(call("GET_AGENT"), JSON).await.unwrap();
    assert_eq!(json_of(&r)["type"], "GET_AGENT");
    assert_eq!(
        json_of(&r)["get_agent"]["agent_info"]["hostname"],
        "agent.example"
    );
    let r = post(
        json!({"type": "GET_METRICS", "get_metrics": {}})
            .to_string()
            .into_bytes(),
        JSON,
    )
    .await
    .unwrap();
    assert!(json_of(&r)["get_metrics"]["metrics"].is_array());
    for t in [
        "GET_STATE",
        "GET_FRAMEWORKS",
        "GET_EXECUTORS",
        "GET_TASKS",
        "GET_LOGGING_LEVEL",
    ] {
        let r = post(call(t), JSON).await.unwrap();
        assert_eq!(r.status, 200, "{t}");
        assert_eq!(json_of(&r)["type"], t);
    }
    let body = v1::Call {
        r#type: Some(v1::call::Type::GetTasks as i32),
        ..Default::default()
    }
    .encode_to_vec();
    let r = post(
        body,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Accept", "application/x-protobuf"),
        ],
    )
    .await
    .unwrap();
    let resp = v1::Response::decode(r.body.as_slice()).unwrap();
    assert_eq!(
        resp.r#type,
        Some(12),
        "GET_TASKS is 12 in an agent Response"
    );
    let r = post(call("PRUNE_IMAGES"), JSON).await.unwrap();
    assert_eq!(r.status, 501);
    assert!(String::from_utf8_lossy(&r.body).contains("PRUNE_IMAGES"));
    let r = post(b"{}".to_vec(), JSON).await.unwrap();
    assert_eq!(r.status, 400);
    let r = post(call("GET_METRICS"), JSON).await.unwrap();
    assert_eq!(r.status, 400);
    let r = tokio::task::spawn_blocking(move || request(addr, "GET", "/api/v1", &[], b""))
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    a.runtime.shutdown();
}

#[tokio::test]
async fn agent_set_logging_level_holds_for_its_duration_then_reverts() {
    let (a, _work) = agent("logging").await;
    let addr = a.runtime.address();
    let post = move |body: Value| {
        tokio::task::spawn_blocking(move || {
            request(addr, "POST", "/api/v1", JSON, body.to_string().as_bytes())
        })
    };
    let level = || async {
        json_of(&post(json!({"type": "GET_LOGGING_LEVEL"})).await.unwrap())["get_logging_level"]
            ["level"]
            .as_u64()
            .unwrap_or(0)
    };
    let r = post(json!({"type": "SET_LOGGING_LEVEL",
        "set_logging_level": {"level": 2, "duration": {"nanoseconds": 60_000_000_000u64}}}))
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(level().await, 2);
    a.runtime.clock().advance(Duration::from_secs(30));
    assert_eq!(level().await, 2, "still within its duration");
    a.runtime.clock().advance(Duration::from_secs(31));
    let mut reverted = false;
    for _ in 0..100 {
        if level().await == 0 {
            reverted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reverted, "the level reverts to 0 after its duration");
    let r = post(json!({"type": "SET_LOGGING_LEVEL"})).await.unwrap();
    assert_eq!(r.status, 400);
    let r = post(json!({"type": "SET_LOGGING_LEVEL",
        "set_logging_level": {"level": 1, "duration": {"nanoseconds": -1}}}))
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    a.runtime.shutdown();
}
