//! The web UI's agent proxy against a GENUINE Mesos 1.11 agent: our master forwards the
//! agent's `/state`, `/monitor/statistics` and `/files/browse` (the UI's agent and sandbox
//! views) although the genuine agent sends no CORS headers. Skipped (passing) when
//! `../shared/interop/native` is absent.

use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, genuine, http_get, wait_http_ok, ChildGuard};
use serde_json::Value;

#[test]
fn agent_proxy_reads_a_genuine_agents_state_statistics_and_files() {
    let Some(native) = genuine("agent_proxy_reads_a_genuine_agents_state_statistics_and_files")
    else {
        return;
    };
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args(["--ip=127.0.0.1", &format!("--port={port}")]);
    let mut master = ChildGuard::spawn("rust-master", cmd);
    assert!(master
        .wait_for_line("mesos-master: serving", Duration::from_secs(20))
        .is_some());
    wait_http_ok(port, "/health", Duration::from_secs(10)).expect("master health");

    let dir = ChildGuard::new_dir("genuine-agent-webui");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(format!("127.0.0.1:{port}"))
        .arg(free_port().to_string())
        .env("MESOS_RESOURCES", "cpus:2;mem:1024;disk:1000")
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let _agent = ChildGuard::spawn_in("genuine-agent", dir, cmd);

    let mut agent_id = String::new();
    assert!(
        mesos_tests::poll_until(Duration::from_secs(30), || {
            let slaves: Option<Value> = http_get(port, "/master/slaves")
                .ok()
                .and_then(|(_, b)| serde_json::from_slice(&b).ok());
            if let Some(id) = slaves.as_ref().and_then(|v| v["slaves"][0]["id"].as_str()) {
                agent_id = id.to_string();
            }
            !agent_id.is_empty()
        }),
        "the genuine agent did not register"
    );

    let get = |path: &str| -> (u16, Value) {
        let (status, body) = http_get(port, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    };
    let (status, state) = get(&format!("/master/agent/{agent_id}/state"));
    assert_eq!(status, 200);
    assert_eq!(state["id"], agent_id.as_str(), "{state}");
    assert!(state["frameworks"].is_array(), "{state}");
    let (status, stats) = get(&format!("/master/agent/{agent_id}/monitor/statistics"));
    assert_eq!(status, 200);
    assert!(stats.is_array(), "{stats}");
    // A path the genuine agent has not attached: its 404 comes through as it is.
    let (status, _) = get(&format!(
        "/master/agent/{agent_id}/files/browse?path=/nonexistent"
    ));
    assert_eq!(status, 404);
}
