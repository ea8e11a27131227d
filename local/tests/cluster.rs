//! Our whole cluster (`mesos-local`: our master, our agents, our `mesos-executor`) driven by
//! clients we did not write: the genuine Mesos 1.11 scheduler driver and the PyPI `pymesos`
//! client (with our command executor and with a pymesos executor).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, genuine, ChildGuard};

/// `mesos-local` serving on a free port with `agents` agents and no demo.
fn start_local(agents: usize) -> (ChildGuard, u16) {
    let port = free_port();
    let dir = ChildGuard::new_dir("mesos-local");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-local"));
    cmd.args([
        format!("--port={port}"),
        format!("--num_slaves={agents}"),
        "--demo_tasks=0".into(),
        format!("--work_dir={}", dir.join("work").display()),
        "--resources=cpus:4;mem:4096;disk:4096;ports:[31000-32000]".into(),
    ]);
    let mut local = ChildGuard::spawn_in("mesos-local", dir, cmd);
    local
        .wait_for_line("serving;", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("mesos-local did not come up:\n{}", local.stderr_tail(40)));
    (local, port)
}

fn pymesos_python() -> Option<PathBuf> {
    let venv =
        PathBuf::from(std::env::var("INTEROP_VENV").unwrap_or_else(|_| "/tmp/interop-venv".into()));
    let py = venv.join("bin/python");
    py.is_file().then_some(py)
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/py")
        .join(name)
}

#[test]
fn mesos_local_runs_its_demo_framework_to_completion() {
    let dir = ChildGuard::new_dir("mesos-local-demo");
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-local"))
        .args([
            "--port=0",
            "--num_slaves=2",
            "--demo_tasks=6",
            "--demo_command=echo demo",
            "--exit_after_demo",
        ])
        .arg(format!("--work_dir={}", dir.join("work").display()))
        .output()
        .expect("run mesos-local");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 agent(s) registered"), "{stdout}");
    assert!(stdout.contains("6 finished, 0 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn with_http_command_executor_set_command_tasks_run_over_the_v1_executor_api() {
    let dir = ChildGuard::new_dir("mesos-local-http-command");
    let work = dir.join("work");
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-local"))
        .args([
            "--port=0",
            "--num_slaves=1",
            "--demo_tasks=3",
            "--demo_command=echo v1",
            "--exit_after_demo",
        ])
        .arg(format!("--work_dir={}", work.display()))
        .env("MESOS_HTTP_COMMAND_EXECUTOR", "true")
        .output()
        .expect("run mesos-local");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("3 finished, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every executor announced itself as the v1 HTTP command executor in its sandbox log.
    let logs: Vec<String> = walk(&work)
        .into_iter()
        .filter(|p| p.ends_with("stderr"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let v1 = logs
        .iter()
        .filter(|l| l.contains("starting the v1 HTTP command executor"))
        .count();
    assert_eq!(v1, 3, "executor logs: {logs:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn genuine_driver_runs_ten_tasks_on_our_master_with_two_of_our_agents() {
    let Some(native) =
        genuine("genuine_driver_runs_ten_tasks_on_our_master_with_two_of_our_agents")
    else {
        return;
    };
    let (local, port) = start_local(2);
    let out = Command::new("bash")
        .arg(native.join("run-scheduler.sh"))
        .args([format!("127.0.0.1:{port}"), "10".into(), "60".into()])
        .output()
        .expect("run the genuine scheduler driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("10 launched, 10 finished, 0 failed"),
        "genuine driver:\n{stdout}\n{}\nmesos-local:\n{}",
        String::from_utf8_lossy(&out.stderr),
        local.stderr_tail(40)
    );
}

#[test]
fn pymesos_runs_tasks_on_our_cluster_with_our_command_executor_and_with_a_pymesos_executor() {
    let Some(python) = pymesos_python() else {
        println!("SKIPPED pymesos test: no pymesos virtualenv at /tmp/interop-venv (scripts/test.sh builds it from ../shared/interop/pymesos-venv.sh)");
        return;
    };
    let (local, port) = start_local(2);
    let run = |extra: &[&str]| {
        Command::new(&python)
            .arg(script("pymesos_framework.py"))
            .args([format!("--master=127.0.0.1:{port}"), "--timeout=60".into()])
            .args(extra)
            .output()
            .expect("run the pymesos framework")
    };
    let out = run(&["--tasks=5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("5 launched, 5 finished, 0 failed"),
        "pymesos (command executor):\n{stdout}\n{}\nmesos-local:\n{}",
        String::from_utf8_lossy(&out.stderr),
        local.stderr_tail(40)
    );

    let out = run(&[
        "--tasks=3",
        "--executor",
        "--command=echo from a pymesos executor",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("3 launched, 3 finished, 0 failed"),
        "pymesos (pymesos executor):\n{stdout}\n{}\nmesos-local:\n{}",
        String::from_utf8_lossy(&out.stderr),
        local.stderr_tail(40)
    );
}
