//! The web UI in a real browser: `mesos-local` (our master, agents and command executor) runs
//! a demo framework's tasks; `tests/browser/webui.mjs` drives headless Debian chromium through
//! `playwright-core` against the master's UI (dashboard = `/master/state`, framework → task →
//! sandbox → stdout, a task appearing live, the allocation view explaining a suppressed
//! framework, API errors shown, 1,000 agents / 10,000 tasks paged) and saves screenshots of
//! every main view to `target/webui-screenshots/`. SKIPPED where chromium, node or the npm
//! package (installed by `scripts/test.sh`) is missing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, ChildGuard};

const STDOUT_TEXT: &str = "hello-from-the-webui-test";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} is absent (scripts/test.sh installs Debian's chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Some(
            "tests/browser/node_modules is absent (scripts/test.sh runs npm ci there)".into(),
        );
    }
    None
}

fn get(port: u16, path: &str, method: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn running_tasks(port: u16) -> usize {
    let state: serde_json::Value = get(port, "/master/state", "GET", "")
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count()
}

/// Tears every framework down so the agents kill their executors (they run in their own
/// sessions and would outlive the killed `mesos-local`).
fn teardown_all(port: u16) {
    let frameworks: serde_json::Value = get(port, "/master/frameworks", "GET", "")
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
    for f in frameworks["frameworks"].as_array().into_iter().flatten() {
        if let Some(id) = f["id"].as_str() {
            let _ = get(
                port,
                "/master/teardown",
                "POST",
                &format!("frameworkId={id}"),
            );
        }
    }
    mesos_tests::poll_until(Duration::from_secs(20), || running_tasks(port) == 0);
}

#[test]
fn web_ui_in_headless_chromium_shows_the_live_cluster_sandbox_and_allocation_reasons() {
    if let Some(why) = missing_prerequisite() {
        println!("SKIPPED web_ui_in_headless_chromium: {why}");
        eprintln!("SKIPPED web_ui_in_headless_chromium: {why}");
        return;
    }
    let port = free_port();
    let dir = ChildGuard::new_dir("mesos-local-webui");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-local"));
    cmd.args([
        format!("--port={port}"),
        "--num_slaves=2".into(),
        "--demo_tasks=3".into(),
        format!("--demo_command=echo {STDOUT_TEXT}; sleep 300"),
        format!("--work_dir={}", dir.join("work").display()),
        "--resources=cpus:2;mem:2048;disk:4096;ports:[31000-32000]".into(),
    ]);
    let mut local = ChildGuard::spawn_in("mesos-local", dir, cmd);
    local
        .wait_for_line("demo framework", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("mesos-local did not come up:\n{}", local.stderr_tail(40)));
    assert!(
        mesos_tests::poll_until(Duration::from_secs(60), || running_tasks(port) == 3),
        "the demo tasks did not start:\n{}",
        local.stderr_tail(40)
    );

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/webui-screenshots");
    let out = Command::new("node")
        .arg(browser_dir().join("webui.mjs"))
        .env("MASTER", format!("http://127.0.0.1:{port}"))
        .env("SCREENSHOTS", &shots)
        .env("STDOUT_TEXT", STDOUT_TEXT)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    teardown_all(port);
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    for view in [
        "dashboard",
        "tasks",
        "frameworks",
        "framework-detail",
        "task-detail",
        "agents",
        "agent-detail",
        "task-sandbox",
        "roles",
        "allocation",
        "large-agents",
    ] {
        assert!(
            shots.join(format!("{view}.png")).is_file(),
            "no screenshot of {view}"
        );
    }
}

#[test]
fn web_ui_modules_decode_recordio_apply_events_and_find_sandboxes_under_node() {
    if Command::new("node").arg("--version").output().is_err() {
        println!("SKIPPED web_ui_modules_under_node: node is not installed");
        eprintln!("SKIPPED web_ui_modules_under_node: node is not installed");
        return;
    }
    let out = Command::new("node")
        .arg(browser_dir().join("unit.mjs"))
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("unit checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
