//! Our `mesos-master` binary with GENUINE Mesos 1.11 peers: a genuine agent registers and
//! keeps passing health checks, and the genuine scheduler driver runs tasks on it.
//! Skipped (passing, with a SKIPPED line) when `../shared/interop/native` is absent.

use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{free_port, genuine, http_get, wait_http_ok, ChildGuard};

fn metric(port: u16, name: &str) -> Option<f64> {
    let (status, body) = http_get(port, "/metrics/snapshot").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get(name)?.as_f64()
}

fn wait_metric(port: u16, name: &str, want: f64, timeout: Duration) -> bool {
    mesos_tests::poll_until(timeout, || metric(port, name) == Some(want))
}

fn start_master(port: u16) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-master"));
    cmd.args([
        "--ip=127.0.0.1",
        &format!("--port={port}"),
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=3",
        "--allocation_interval=200ms",
    ])
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
    let agent_port = free_port();
    let dir = ChildGuard::new_dir("genuine-agent");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(format!("127.0.0.1:{master_port}"))
        .arg(agent_port.to_string())
        .env(
            "MESOS_RESOURCES",
            "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        )
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    ChildGuard::spawn_in("genuine-agent", dir, cmd)
}

#[test]
fn genuine_agent_stays_registered_across_ping_rounds_and_the_genuine_driver_runs_three_tasks() {
    let Some(native) = genuine(
        "genuine_agent_stays_registered_across_ping_rounds_and_the_genuine_driver_runs_three_tasks",
    ) else {
        return;
    };
    let port = free_port();
    let _master = start_master(port);
    let _agent = start_agent(&native, port);
    assert!(
        wait_metric(port, "master/slaves_active", 1.0, Duration::from_secs(30)),
        "the genuine agent never registered"
    );
    // Several ping rounds (1 s each, 3 allowed misses) answered: the agent must still be there.
    assert!(
        mesos_tests::poll_until(Duration::from_secs(20), || {
            metric(port, "master/agent_pongs_received").unwrap_or(0.0) >= 4.0
        }),
        "the genuine agent stopped answering pings"
    );
    assert_eq!(metric(port, "master/slaves_active"), Some(1.0));
    assert_eq!(metric(port, "master/slave_removals"), Some(0.0));

    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-scheduler.sh"))
        .arg(format!("127.0.0.1:{port}"))
        .arg("3")
        .arg("30");
    let mut sched = ChildGuard::spawn("genuine-scheduler", cmd);
    let (status, lines) = sched
        .wait(Duration::from_secs(60))
        .expect("scheduler did not exit");
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        status.success(),
        "genuine driver failed: {summary}\n{}",
        lines.join("\n")
    );
    assert!(
        summary.contains("3 launched, 3 finished, 0 failed"),
        "{summary}"
    );
    assert!(wait_metric(
        port,
        "master/tasks_finished",
        3.0,
        Duration::from_secs(5)
    ));

    let (_, state) = http_get(port, "/master/state").expect("state");
    let state: serde_json::Value = serde_json::from_slice(&state).expect("state JSON");
    assert_eq!(state["slaves"].as_array().map(|a| a.len()), Some(1));
    let completed = &state["completed_frameworks"][0];
    assert_eq!(completed["name"], "native-interop");
    assert_eq!(
        completed["completed_tasks"].as_array().map(|a| a.len()),
        Some(3)
    );
}

#[test]
fn genuine_driver_registers_and_gets_offers_from_a_genuine_agent_via_our_master() {
    let Some(native) =
        genuine("genuine_driver_registers_and_gets_offers_from_a_genuine_agent_via_our_master")
    else {
        return;
    };
    let port = free_port();
    let _master = start_master(port);
    let _agent = start_agent(&native, port);
    assert!(
        wait_metric(port, "master/slaves_active", 1.0, Duration::from_secs(30)),
        "the genuine agent never registered"
    );
    // One task: the driver cannot finish without an offer from the genuine agent.
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-scheduler.sh"))
        .arg(format!("127.0.0.1:{port}"))
        .arg("1")
        .arg("20");
    let mut sched = ChildGuard::spawn("genuine-scheduler", cmd);
    let registered = sched.wait_for_line("callback registered", Duration::from_secs(20));
    assert!(
        registered.is_some(),
        "driver never registered: {:?}",
        sched.stdout_so_far()
    );
    let offers = sched.wait_for_line("callback resourceOffers", Duration::from_secs(20));
    assert!(
        offers.is_some(),
        "driver never got offers: {:?}",
        sched.stdout_so_far()
    );
}

#[test]
fn pymesos_runs_tasks_on_a_genuine_agent_through_our_v1_scheduler_api() {
    let test = "pymesos_runs_tasks_on_a_genuine_agent_through_our_v1_scheduler_api";
    let Some(native) = genuine(test) else {
        return;
    };
    let python = std::path::PathBuf::from(
        std::env::var("INTEROP_VENV").unwrap_or_else(|_| "/tmp/interop-venv".into()),
    )
    .join("bin/python");
    if !python.is_file() {
        println!("SKIPPED {test}: no pymesos virtual environment at {} (run shared/interop/pymesos-venv.sh)", python.display());
        return;
    }
    let port = free_port();
    let _master = start_master(port);
    let _agent = start_agent(&native, port);
    assert!(
        wait_metric(port, "master/slaves_active", 1.0, Duration::from_secs(30)),
        "the genuine agent never registered"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pymesos_scheduler.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(format!("127.0.0.1:{port}"))
        .arg("3")
        .arg("30");
    let mut sched = ChildGuard::spawn("pymesos", cmd);
    let (status, lines) = sched
        .wait(Duration::from_secs(60))
        .expect("pymesos did not exit");
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        status.success(),
        "pymesos failed: {summary}\n{}\n{}",
        lines.join("\n"),
        sched.stderr_tail(30)
    );
    assert!(
        summary.contains("3 launched, 3 finished, 0 failed"),
        "{summary}"
    );
}

#[test]
fn pymesos_operator_v1_reads_the_state_and_sees_agent_added_on_the_event_stream() {
    let test = "pymesos_operator_v1_reads_the_state_and_sees_agent_added_on_the_event_stream";
    let Some(native) = genuine(test) else {
        return;
    };
    let python = std::path::PathBuf::from(
        std::env::var("INTEROP_VENV").unwrap_or_else(|_| "/tmp/interop-venv".into()),
    )
    .join("bin/python");
    if !python.is_file() {
        println!("SKIPPED {test}: no pymesos virtual environment at {} (run shared/interop/pymesos-venv.sh)", python.display());
        return;
    }
    let port = free_port();
    let _master = start_master(port);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pymesos_operator.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(format!("127.0.0.1:{port}")).arg("30");
    let mut operator = ChildGuard::spawn("pymesos-operator", cmd);
    assert!(
        operator
            .wait_for_line("READY", Duration::from_secs(30))
            .is_some(),
        "pymesos operator calls failed: {:?}\n{}",
        operator.stdout_so_far(),
        operator.stderr_tail(30)
    );
    let _agent = start_agent(&native, port);
    let (status, lines) = operator
        .wait(Duration::from_secs(60))
        .expect("pymesos operator did not exit");
    assert!(
        status.success() && lines.iter().any(|l| l.starts_with("AGENT_ADDED ")),
        "{}\n{}",
        lines.join("\n"),
        operator.stderr_tail(30)
    );
}
