//! Our agent and our `mesos-executor` against genuine Mesos 1.11 (from
//! `../shared/interop/native`): SKIPPED when the shared folder is absent.
//!
//! - our agent registers with a genuine master, stays registered across ping rounds and runs
//!   the genuine scheduler driver's command tasks with our command executor;
//! - our `mesos-executor` runs command tasks under a genuine agent;
//! - when the genuine driver tears its framework down with tasks still running, the genuine
//!   master's ShutdownFrameworkMessage makes our agent stop them and drop the framework.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{self, ChildGuard};
use serde_json::Value as Json;

fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mesos-agent"))
}

fn executor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
}

fn master_state(port: u16) -> Option<Json> {
    let (status, body) = native::http_get(port, "/master/state").ok()?;
    (status == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

/// Waits until the master lists `n` active agents; returns their ids.
fn wait_for_active_agents(port: u16, n: usize, timeout: Duration) -> Result<Vec<String>, String> {
    let mut last = Json::Null;
    let mut active = Vec::new();
    let found = mesos_tests::poll_until(timeout, || {
        let Some(state) = master_state(port) else {
            return false;
        };
        active = state["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["active"] == Json::Bool(true))
            .filter_map(|s| s["id"].as_str().map(String::from))
            .collect();
        last = state["slaves"].clone();
        active.len() == n
    });
    if found {
        return Ok(active);
    }
    Err(format!(
        "master never listed {n} active agent(s); last slaves: {last}"
    ))
}

fn start_master(native_dir: &Path, port: u16, env: &[(&str, &str)]) -> ChildGuard {
    let mut master = native::start_genuine_master_with_env(native_dir, port, 120, env);
    master
        .wait_for_line("native-local-cluster: serving for", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("genuine master did not start:\n{}", master.stderr_tail(30)));
    master
}

fn run_genuine_scheduler(native_dir: &Path, master_port: u16, tasks: u32) -> (bool, Vec<String>) {
    run_genuine_scheduler_with(native_dir, master_port, tasks, 30, &[])
}

/// The genuine driver: `tasks` command tasks, `timeout_s` before it stops (TEARDOWN).
fn run_genuine_scheduler_with(
    native_dir: &Path,
    master_port: u16,
    tasks: u32,
    timeout_s: u32,
    env: &[(&str, &str)],
) -> (bool, Vec<String>) {
    let mut cmd = Command::new("bash");
    cmd.envs(env.iter().copied());
    cmd.arg(native_dir.join("run-scheduler.sh"))
        .arg(format!("127.0.0.1:{master_port}"))
        .arg(tasks.to_string())
        .arg(timeout_s.to_string())
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let mut sched = ChildGuard::spawn("genuine-scheduler", cmd);
    let (status, lines) = sched.wait(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "genuine scheduler did not finish:\n{}",
            sched.stderr_tail(30)
        )
    });
    (status.success(), lines)
}

#[test]
fn our_agent_registers_with_genuine_master_and_runs_genuine_driver_tasks() {
    let Some(native_dir) =
        native::genuine("our_agent_registers_with_genuine_master_and_runs_genuine_driver_tasks")
    else {
        return;
    };
    let mport = native::free_port();
    let _master = start_master(&native_dir, mport, &[("MESOS_AGENT_PING_TIMEOUT", "1secs")]);

    let aport = native::free_port();
    let dir = ChildGuard::new_dir("our-agent");
    let work = dir.join("work");
    let launcher_dir = executor_bin().parent().unwrap().to_path_buf();
    let mut cmd = Command::new(agent_bin());
    cmd.arg(format!("--master=127.0.0.1:{mport}"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={aport}"))
        .arg(format!("--work_dir={}", work.display()))
        .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
        .arg(format!("--launcher_dir={}", launcher_dir.display()))
        .env("MESOS_LOG", "info")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_IP");
    let agent = ChildGuard::spawn_in("our-agent", dir, cmd);

    let ids = wait_for_active_agents(mport, 1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nagent stderr:\n{}", agent.stderr_tail(40)));
    // Pings come every second; a few answered rounds must leave the agent registered and active.
    let pings = || {
        let (_, body) = native::http_get(aport, "/metrics/snapshot").unwrap_or_default();
        let m: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        m["slave/pings_received"].as_f64().unwrap_or(0.0)
    };
    assert!(
        mesos_tests::poll_until(Duration::from_secs(20), || pings() >= 3.0),
        "pings stopped arriving"
    );
    let still = wait_for_active_agents(mport, 1, Duration::from_secs(5)).unwrap();
    assert_eq!(
        ids, still,
        "the agent re-registered under a new id or went inactive"
    );
    let (status, body) = native::http_get(aport, "/state").unwrap();
    assert_eq!(status, 200);
    let state: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(state["id"], Json::from(ids[0].clone()));
    assert_eq!(state["version"], "1.11.0");
    assert_eq!(state["resources"]["cpus"], 2.0);
    let (_, metrics) = native::http_get(aport, "/metrics/snapshot").unwrap();
    let metrics: Json = serde_json::from_slice(&metrics).unwrap();
    let pings = metrics["slave/pings_received"].as_f64().unwrap_or(0.0);
    assert!(
        pings >= 3.0,
        "expected a ping a second from the genuine master, got {pings}"
    );

    let (ok, lines) = run_genuine_scheduler(&native_dir, mport, 3);
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        ok && summary.contains("3 launched, 3 finished, 0 failed"),
        "genuine driver summary: {summary}\n{}\nagent stderr:\n{}",
        lines.join("\n"),
        agent.stderr_tail(60)
    );

    // Each task's sandbox holds its output ("echo ok"), written by our command executor.
    let outputs: Vec<PathBuf> = glob_stdout(&work);
    assert!(
        outputs.len() >= 3,
        "expected 3 sandboxes, found {outputs:?}"
    );
    for out in &outputs {
        let text = std::fs::read_to_string(out).unwrap();
        assert!(text.contains("ok"), "{} holds {text:?}", out.display());
    }
}

/// `<work>/slaves/*/frameworks/*/executors/*/runs/<uuid>/stdout`, skipping `latest`.
fn glob_stdout(work: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let list = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for agent in list(&work.join("slaves")) {
        for fw in list(&agent.join("frameworks")) {
            for ex in list(&fw.join("executors")) {
                for run in list(&ex.join("runs")) {
                    if run.file_name().is_some_and(|n| n != "latest") {
                        out.push(run.join("stdout"));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn our_command_executor_runs_tasks_under_a_genuine_agent() {
    let Some(native_dir) = native::genuine("our_command_executor_runs_tasks_under_a_genuine_agent")
    else {
        return;
    };
    let build = PathBuf::from(
        std::env::var("MESOS_NATIVE_BUILD").unwrap_or_else(|_| "/tmp/mesos-native".into()),
    );
    let containerizer = build.join("libexec/mesos-containerizer");
    if !containerizer.is_file() {
        // run-agent.sh runs setup.sh itself when the launch helper is missing.
        let _ = Command::new("bash")
            .arg(native_dir.join("setup.sh"))
            .status();
    }
    let mport = native::free_port();
    let _master = start_master(&native_dir, mport, &[]);

    // A launcher dir holding the genuine launch helper and OUR command executor.
    let dir = ChildGuard::new_dir("genuine-agent");
    let launcher = dir.join("libexec");
    std::fs::create_dir_all(&launcher).unwrap();
    std::os::unix::fs::symlink(&containerizer, launcher.join("mesos-containerizer")).unwrap();
    std::os::unix::fs::symlink(executor_bin(), launcher.join("mesos-executor")).unwrap();
    let work = dir.join("work");
    let aport = native::free_port();
    let mut cmd = Command::new("bash");
    cmd.arg(native_dir.join("run-agent.sh"))
        .arg(format!("127.0.0.1:{mport}"))
        .arg(aport.to_string())
        .env("MESOS_LAUNCHER_DIR", &launcher)
        .env("MESOS_WORK_DIR", &work)
        .env("MESOS_RESOURCES", "cpus:2;mem:1024")
        .env("MESOS_LOG", "info")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let agent = ChildGuard::spawn_in("genuine-agent", dir, cmd);
    wait_for_active_agents(mport, 1, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\ngenuine agent stderr:\n{}", agent.stderr_tail(40)));

    let (ok, lines) = run_genuine_scheduler(&native_dir, mport, 2);
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        ok && summary.contains("2 launched, 2 finished, 0 failed"),
        "genuine driver summary: {summary}\n{}\ngenuine agent stderr:\n{}",
        lines.join("\n"),
        agent.stderr_tail(60)
    );
    // The executors that ran were ours: their stderr carries our log lines.
    let stderrs: Vec<String> = glob_stdout(&work)
        .iter()
        .map(|p| std::fs::read_to_string(p.with_file_name("stderr")).unwrap_or_default())
        .collect();
    assert!(
        stderrs
            .iter()
            .filter(|s| s.contains("starting the command executor"))
            .count()
            >= 2,
        "our executor's log not found in sandboxes: {stderrs:?}"
    );
}

#[test]
fn genuine_master_shutting_down_a_framework_stops_its_running_tasks_on_our_agent() {
    let Some(native_dir) = native::genuine(
        "genuine_master_shutting_down_a_framework_stops_its_running_tasks_on_our_agent",
    ) else {
        return;
    };
    let mport = native::free_port();
    let _master = start_master(&native_dir, mport, &[("MESOS_AGENT_PING_TIMEOUT", "1secs")]);
    let aport = native::free_port();
    let dir = ChildGuard::new_dir("our-agent-teardown");
    let work = dir.join("work");
    let launcher_dir = executor_bin().parent().unwrap().to_path_buf();
    let mut cmd = Command::new(agent_bin());
    cmd.arg(format!("--master=127.0.0.1:{mport}"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={aport}"))
        .arg(format!("--work_dir={}", work.display()))
        .arg("--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
        .arg(format!("--launcher_dir={}", launcher_dir.display()))
        .arg("--executor_shutdown_grace_period=2secs")
        .env("MESOS_LOG", "info")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_IP");
    let agent = ChildGuard::spawn_in("our-agent", dir, cmd);
    wait_for_active_agents(mport, 1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nagent stderr:\n{}", agent.stderr_tail(40)));

    // Two tasks that would run for a minute; the driver gives up after 4 s and tears down.
    let (_, lines) =
        run_genuine_scheduler_with(&native_dir, mport, 2, 4, &[("NATIVE_TASK_CMD", "sleep 60")]);
    let state = || -> Json {
        let (_, body) = native::http_get(aport, "/state").unwrap_or_default();
        serde_json::from_slice(&body).unwrap_or(Json::Null)
    };
    let gone = mesos_tests::poll_until(Duration::from_secs(15), || {
        let s = state();
        s["frameworks"].as_array().is_some_and(Vec::is_empty)
            && s["completed_frameworks"]
                .as_array()
                .is_some_and(|c| c.len() == 1)
    });
    assert!(
        gone,
        "our agent still holds the framework: {}\ndriver:\n{}\nagent stderr:\n{}",
        state(),
        lines.join("\n"),
        agent.stderr_tail(60)
    );
}
