//! Endpoint shapes compared with GENUINE Mesos 1.11: a genuine master and our master, each
//! with a genuine agent registered, answer the same operator endpoints; the key sets of the
//! objects they return must match. Skipped (passing) when `../shared/interop/native` is absent.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{
    free_port, genuine, http_get, start_genuine_master, wait_http_ok, ChildGuard,
};
use serde_json::Value;

/// Keys genuine writes only because it was built from git; ours is not.
const BUILD_ONLY: &[&str] = &["git_sha", "git_tag"];

fn start_our_master(port: u16) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args(["--ip=127.0.0.1", &format!("--port={port}")])
        .env("RUST_LOG", "info");
    let mut master = ChildGuard::spawn("rust-master", cmd);
    assert!(
        master
            .wait_for_line("mesos-master: serving", Duration::from_secs(20))
            .is_some(),
        "master did not start"
    );
    wait_http_ok(port, "/health", Duration::from_secs(10)).expect("master health");
    master
}

fn start_agent(native: &std::path::Path, master_port: u16) -> ChildGuard {
    let dir = ChildGuard::new_dir("genuine-agent");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(format!("127.0.0.1:{master_port}"))
        .arg(free_port().to_string())
        .env(
            "MESOS_RESOURCES",
            "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        )
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    ChildGuard::spawn_in("genuine-agent", dir, cmd)
}

fn get(port: u16, path: &str) -> Value {
    let (status, body) = http_get(port, path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(status, 200, "{path} on port {port}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !BUILD_ONLY.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn one_agent(port: u16) -> bool {
    mesos_tests::poll_until(Duration::from_secs(30), || {
        http_get(port, "/master/slaves")
            .ok()
            .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["slaves"].as_array().is_some_and(|a| a.len() == 1))
    })
}

#[test]
fn operator_endpoints_have_the_key_sets_of_a_genuine_1_11_master() {
    let Some(native) = genuine("operator_endpoints_have_the_key_sets_of_a_genuine_1_11_master")
    else {
        return;
    };
    let (gport, oport) = (free_port(), free_port());
    let _genuine = start_genuine_master(&native, gport, 120);
    wait_http_ok(gport, "/master/health", Duration::from_secs(30)).expect("genuine master");
    let _ours = start_our_master(oport);
    let _ga = start_agent(&native, gport);
    let _oa = start_agent(&native, oport);
    assert!(
        one_agent(gport),
        "genuine agent did not register with the genuine master"
    );
    assert!(
        one_agent(oport),
        "genuine agent did not register with our master"
    );

    // (path, JSON pointers of objects whose keys must match)
    let checks: &[(&str, &[&str])] = &[
        ("/master/state", &["", "/slaves/0", "/leader_info"]),
        ("/master/state-summary", &["", "/slaves/0"]),
        ("/master/slaves", &["", "/slaves/0"]),
        ("/master/frameworks", &[""]),
        ("/master/tasks", &[""]),
        ("/master/roles", &[""]),
        ("/version", &[""]),
        ("/master/flags", &[""]),
    ];
    let mut mismatches = Vec::new();
    for (path, pointers) in checks {
        let (g, o) = (get(gport, path), get(oport, path));
        for pointer in *pointers {
            let (gk, ok) = (
                keys(g.pointer(pointer).unwrap_or(&Value::Null)),
                keys(o.pointer(pointer).unwrap_or(&Value::Null)),
            );
            if gk != ok {
                mismatches.push(format!(
                    "{path}{pointer}: genuine only {:?}, ours only {:?}",
                    gk.difference(&ok).collect::<Vec<_>>(),
                    ok.difference(&gk).collect::<Vec<_>>()
                ));
            }
        }
    }
    // The v1 operator API: the same calls, the key sets of each answer's objects.
    let calls: &[(&str, &[&str])] = &[
        ("GET_HEALTH", &["", "/get_health"]),
        ("GET_VERSION", &["", "/get_version/version_info"]),
        ("GET_FLAGS", &["", "/get_flags", "/get_flags/flags/0"]),
        ("GET_LOGGING_LEVEL", &["", "/get_logging_level"]),
        (
            "GET_STATE",
            &[
                "",
                "/get_state",
                "/get_state/get_tasks",
                "/get_state/get_agents",
                "/get_state/get_agents/agents/0",
                "/get_state/get_frameworks",
            ],
        ),
        ("GET_AGENTS", &["", "/get_agents", "/get_agents/agents/0"]),
        ("GET_FRAMEWORKS", &["", "/get_frameworks"]),
        ("GET_EXECUTORS", &["", "/get_executors"]),
        ("GET_TASKS", &["", "/get_tasks"]),
        ("GET_ROLES", &[""]),
        ("GET_WEIGHTS", &[""]),
        ("GET_MASTER", &["", "/get_master"]),
        ("GET_MAINTENANCE_STATUS", &["", "/get_maintenance_status"]),
        (
            "GET_MAINTENANCE_SCHEDULE",
            &["", "/get_maintenance_schedule"],
        ),
        ("GET_QUOTA", &["", "/get_quota"]),
    ];
    for (call, pointers) in calls {
        let body = format!("{{\"type\":\"{call}\"}}");
        let (g, o) = (api(gport, &body), api(oport, &body));
        for pointer in *pointers {
            let (gk, ok) = (
                keys(g.pointer(pointer).unwrap_or(&Value::Null)),
                keys(o.pointer(pointer).unwrap_or(&Value::Null)),
            );
            if gk != ok {
                mismatches.push(format!(
                    "{call}{pointer}: genuine only {:?}, ours only {:?}",
                    gk.difference(&ok).collect::<Vec<_>>(),
                    ok.difference(&gk).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A JSON operator call; the JSON answer.
fn api(port: u16, body: &str) -> Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST /api/v1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = mesos_tests::wire::split_responses(&buf)
        .expect("response")
        .into_iter()
        .next()
        .expect("one response");
    assert_eq!(r.status, 200, "{body} on port {port}");
    serde_json::from_slice(&r.body).expect("JSON answer")
}
