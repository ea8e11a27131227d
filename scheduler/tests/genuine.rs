//! Our scheduler library against genuine Mesos 1.11: a genuine master with one genuine agent
//! (`run-local-cluster.sh PORT 1`) runs `test-framework`'s tasks to TASK_FINISHED, and
//! `mesos-execute` exits with its task's outcome.

use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, genuine, ChildGuard};

#[test]
fn frameworks_over_v0_and_v1_run_tasks_to_finished_on_a_genuine_master_and_agent() {
    let Some(native) =
        genuine("frameworks_over_v0_and_v1_run_tasks_to_finished_on_a_genuine_master_and_agent")
    else {
        return;
    };
    let port = free_port();
    let dir = ChildGuard::new_dir("genuine-cluster");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-local-cluster.sh"))
        .arg(port.to_string())
        .arg("1")
        .arg("60")
        .env("MESOS_WORK_DIR", &work)
        .env(
            "MESOS_RESOURCES",
            "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        )
        .env_remove("MESOS_ZK");
    let mut cluster = ChildGuard::spawn_in("genuine-cluster", dir, cmd);
    cluster
        .wait_for_line("serving for", Duration::from_secs(30))
        .unwrap_or_else(|| {
            panic!(
                "the genuine cluster did not start:\n{}",
                cluster.stderr_tail(30)
            )
        });

    let out = Command::new(env!("CARGO_BIN_EXE_test-framework"))
        .arg(format!("--master=127.0.0.1:{port}"))
        .arg("--tasks=5")
        .env("LIBPROCESS_IP", "127.0.0.1")
        .output()
        .expect("run test-framework");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "test-framework failed ({}):\n{stdout}\n{}\ncluster:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        cluster.stderr_tail(30)
    );
    assert!(
        stdout.contains("5 of 5 tasks finished, 0 failed"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("is TASK_FINISHED").count(), 5, "{stdout}");

    // The same framework over the v1 HTTP API.
    let out = Command::new(env!("CARGO_BIN_EXE_test-framework"))
        .args([
            format!("--master=127.0.0.1:{port}"),
            "--tasks=3".into(),
            "--api=v1".into(),
        ])
        .output()
        .expect("run test-framework --api=v1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "v1 test-framework failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("3 of 3 tasks finished, 0 failed"),
        "{stdout}"
    );

    // A long-lived framework keeps 2 tasks running, replacing finished ones.
    let out = Command::new(env!("CARGO_BIN_EXE_long-lived-framework"))
        .args([
            format!("--master=127.0.0.1:{port}"),
            "--tasks=2".into(),
            "--command=sleep 0.2".into(),
            "--run_for=3".into(),
        ])
        .output()
        .expect("run long-lived-framework");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let finished = stdout.matches("is TASK_FINISHED").count();
    assert!(
        finished >= 4,
        "expected replaced tasks to keep finishing, got {finished}:\n{stdout}"
    );

    // mesos-execute follows one task and exits with its outcome.
    let execute = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_mesos-execute"))
            .args([
                format!("--master=127.0.0.1:{port}"),
                "--name=one".into(),
                format!("--command={command}"),
            ])
            .env("LIBPROCESS_IP", "127.0.0.1")
            .output()
            .expect("run mesos-execute")
    };
    let ok = execute("true");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("TASK_FINISHED"));
    let failed = execute("exit 3");
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stdout).contains("Command exited with status 3"));
}
