//! `namespaces/pid` with the launcher helpers: the executor is PID 1 of its own namespace
//! and its `/proc` shows none of the host's processes.

use std::process::{Command, Stdio};

use mesos_isolators::namespaces::{spawn_in_new_pid_ns, wrap_command};
use mesos_isolators::Namespace;

#[test]
fn child_in_a_new_pid_namespace_is_pid_1_and_cannot_see_the_test_process() {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "echo $$; ls /proc | grep -E '^[0-9]+$'; kill -0 $TEST_PID 2>/dev/null && echo signalled",
    ])
    .env("TEST_PID", std::process::id().to_string());
    let mut wrapped = wrap_command(&cmd, &[Namespace::Pid, Namespace::Mount]);
    let out = wrapped
        .stdout(Stdio::piped())
        .output()
        .expect("run in a new pid namespace");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1"), "the shell is not PID 1: {text}");
    let pids: Vec<u32> = lines.filter_map(|l| l.parse().ok()).collect();
    assert!(!pids.is_empty(), "nothing listed in /proc: {text}");
    assert!(
        !pids.contains(&std::process::id()),
        "the test process is visible: {pids:?}"
    );
    assert!(
        pids.iter().all(|p| *p < 10),
        "host processes are visible: {pids:?}"
    );
    assert!(
        !text.contains("signalled"),
        "the child could signal the test process"
    );
}

#[test]
fn spawn_in_new_pid_ns_runs_the_command_as_pid_1() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "test $$ -eq 1"]);
    let status = spawn_in_new_pid_ns(&cmd)
        .expect("spawn")
        .wait()
        .expect("wait");
    assert!(
        status.success(),
        "the command was not PID 1 of a new namespace"
    );
    let mut host = Command::new("sh");
    host.args(["-c", "test $$ -eq 1"]);
    assert!(
        !host.status().expect("run").success(),
        "control: outside a namespace it is not PID 1"
    );
}
