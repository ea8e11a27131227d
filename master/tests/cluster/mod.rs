//! Helpers for cross-process cluster tests: our `mesos-master` and `mesos-agent` binaries
//! started against a real ZooKeeper, their metrics, and the processes of tasks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, http_get, ChildGuard};

pub fn metric(port: u16, name: &str) -> Option<f64> {
    let (status, body) = http_get(port, "/metrics/snapshot").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get(name)?.as_f64()
}

/// The directory of our binaries (`target/<profile>`), with the agent's binaries built.
/// Only the master's binary is a dependency of this test; the agent and its executor are
/// built here (a no-op when they are fresh).
pub fn bin_dir() -> PathBuf {
    let master = PathBuf::from(env!("CARGO_BIN_EXE_mesos-master"));
    let dir = master.parent().expect("target dir").to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "-q",
        "-p",
        "mesos-agent",
        "--bins",
    ]);
    if dir.ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("cargo build of mesos-agent");
    assert!(status.success(), "cannot build mesos-agent");
    dir
}

pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn alive(pid: i32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn kill9(pid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

pub fn start_master(bin: &Path, url: &str, n: usize, extra: &[&str]) -> (u16, ChildGuard) {
    let port = free_port();
    let name = format!("master-{n}");
    let dir = ChildGuard::new_dir(&name);
    let mut cmd = Command::new(bin.join("mesos-master"));
    cmd.args([
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        format!("--zk={url}"),
        "--quorum=2".into(),
        "--registry=replicated_log".into(),
        format!("--work_dir={}", dir.join("work").display()),
        "--zk_session_timeout=2secs".into(),
        "--allocation_interval=100ms".into(),
    ])
    .args(extra)
    .env("MESOS_LOG", "info")
    .env("RUST_LOG", "info");
    let mut guard = ChildGuard::spawn_in(&name, dir, cmd);
    assert!(
        guard
            .wait_for_line("mesos-master: serving", Duration::from_secs(30))
            .is_some(),
        "{name} did not start"
    );
    (port, guard)
}

pub fn start_agent(bin: &Path, url: &str, n: usize) -> ChildGuard {
    let name = format!("agent-{n}");
    let dir = ChildGuard::new_dir(&name);
    let mut cmd = Command::new(bin.join("mesos-agent"));
    cmd.args([
        format!("--master={url}"),
        format!("--port={}", free_port()),
        format!("--work_dir={}", dir.join("work").display()),
        format!("--launcher_dir={}", bin.display()),
        format!("--hostname=agent-{n}"),
        "--resources=cpus:1;mem:256;disk:1000;ports:[31000-31100]".into(),
        "--registration_backoff_factor=100ms".into(),
    ])
    .env("MESOS_LOG", "info")
    .env("RUST_LOG", "info");
    ChildGuard::spawn_in(&name, dir, cmd)
}

/// The port of the one master reporting `master/elected` 1, if exactly one does.
pub fn leader(masters: &[(u16, ChildGuard)]) -> Option<u16> {
    let elected: Vec<u16> = masters
        .iter()
        .filter(|(p, _)| metric(*p, "master/elected") == Some(1.0))
        .map(|(p, _)| *p)
        .collect();
    (elected.len() == 1).then(|| elected[0])
}
