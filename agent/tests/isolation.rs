//! Isolation enforced through the real agent: our master, our agent with `--isolation`,
//! our `mesos-executor` and a v0 framework running one command task. Each test uses its
//! own `--cgroups_root` and checks that no cgroup is left under it afterwards. Tests that
//! need cgroups v1 memory+cpu (root) print SKIPPED elsewhere.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::{Config, Runtime};
use mesos_agent::IsolationConfig;
use mesos_isolators::IsolationFlags;
use mesos_proto::mesos::{task_status, TaskState};

mod isolation_cluster;
use isolation_cluster::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_under_cgroups_mem_fails_with_the_memory_limitation_reason() {
    if !v1_or_skip("memory_hog_under_cgroups_mem_fails_with_the_memory_limitation_reason") {
        return;
    }
    let root = Root::new();
    let hog = "perl -e '$x = \"x\" x (300*1024*1024); sleep 60'";
    let mut cluster = Cluster::start(
        "oom",
        "cgroups/cpu,cgroups/mem",
        &root,
        false,
        hog,
        0.2,
        64.0,
    )
    .await;
    let failed = cluster
        .until(TaskState::TaskFailed, Duration::from_secs(60))
        .await;
    assert_eq!(
        failed.reason(),
        task_status::Reason::ContainerLimitationMemory,
        "{failed:?}"
    );
    assert_eq!(failed.source(), task_status::Source::Slave);
    assert!(
        failed
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Memory limit exceeded")),
        "{failed:?}"
    );
    cluster.no_containers().await;
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_hog_under_cgroups_cpu_with_cfs_is_throttled_in_monitor_statistics() {
    if !v1_or_skip("cpu_hog_under_cgroups_cpu_with_cfs_is_throttled_in_monitor_statistics") {
        return;
    }
    let root = Root::new();
    let mut cluster = Cluster::start(
        "cfs",
        "cgroups/cpu,cgroups/mem",
        &root,
        true,
        "while :; do :; done",
        0.1,
        64.0,
    )
    .await;
    cluster
        .until(TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let sample = |stats: &serde_json::Value| {
        let s = &stats[0]["statistics"];
        (
            s["cpus_nr_throttled"].as_u64().unwrap_or(0),
            s["cpus_user_time_secs"].as_f64().unwrap_or(0.0)
                + s["cpus_system_time_secs"].as_f64().unwrap_or(0.0),
            s["timestamp"].as_f64().unwrap_or(0.0),
        )
    };
    let first = cluster.statistics("/monitor/statistics").await;
    let entries = first.as_array().expect("a JSON array");
    assert_eq!(entries.len(), 1, "{first}");
    let e = &entries[0];
    assert_eq!(e["framework_id"], cluster.framework.value.as_str());
    assert_eq!(e["executor_id"], "task");
    for key in ["executor_name", "source"] {
        assert!(e[key].is_string(), "{key} missing: {e}");
    }
    // 0.1 for the task + 0.1 the agent adds for the command executor.
    assert_eq!(e["statistics"]["cpus_limit"].as_f64(), Some(0.2), "{e}");
    let (throttled0, cpu0, t0) = sample(&first);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = cluster.statistics("/monitor/statistics.json").await;
    let (throttled1, cpu1, t1) = sample(&second);
    assert!(
        throttled1 > throttled0,
        "throttled periods grow: {first} then {second}"
    );
    let used = (cpu1 - cpu0) / (t1 - t0);
    assert!(
        used < 0.2 + 0.1,
        "usage {used} cpus stays within the 0.2 limit + margin"
    );
    cluster.teardown();
    cluster.no_containers().await;
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_under_namespaces_pid_sees_itself_as_an_early_pid_and_not_the_agent() {
    if !nix_is_root() {
        eprintln!("SKIPPED task_under_namespaces_pid_sees_itself_as_an_early_pid_and_not_the_agent: needs root");
        return;
    }
    let root = Root::new();
    let agent_pid = std::process::id();
    let command = format!(
        "echo $$ > mypid.tmp; mv mypid.tmp mypid; \
         ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' ' > procs; echo >> procs; \
         if kill -0 {agent_pid} 2>/dev/null; then echo yes; else echo no; fi > sees_agent"
    );
    let mut cluster = Cluster::start(
        "pidns",
        "posix/cpu,posix/mem,namespaces/pid",
        &root,
        false,
        &command,
        0.1,
        32.0,
    )
    .await;
    let finished = cluster
        .until(TaskState::TaskFinished, Duration::from_secs(30))
        .await;
    assert_eq!(finished.source(), task_status::Source::Executor);
    let mypid: u32 = cluster.wait_for_file("mypid").await.trim().parse().unwrap();
    assert!(
        mypid < 10,
        "the task is an early pid of its namespace: {mypid}"
    );
    let procs = cluster.wait_for_file("procs").await;
    let pids: Vec<u32> = procs
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(
        pids.iter().all(|p| *p < 10),
        "only the container's processes are visible: {procs}"
    );
    assert_eq!(cluster.wait_for_file("sees_agent").await.trim(), "no");
    cluster.no_containers().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_forking_task_is_fully_cleaned_up_after_it_is_killed() {
    if !v1_or_skip("double_forking_task_is_fully_cleaned_up_after_it_is_killed") {
        return;
    }
    let root = Root::new();
    let command = "(setsid sh -c 'echo $$ > escaped.tmp; mv escaped.tmp escaped; exec sleep 300' &); sleep 300";
    let mut cluster = Cluster::start(
        "doublefork",
        "cgroups/cpu,cgroups/mem",
        &root,
        false,
        command,
        0.1,
        32.0,
    )
    .await;
    cluster
        .until(TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let escaped: i32 = cluster
        .wait_for_file("escaped")
        .await
        .trim()
        .parse()
        .unwrap();
    assert!(alive(escaped));
    cluster.teardown();
    cluster.no_containers().await;
    assert!(
        !alive(escaped),
        "the double-forked process {escaped} survived"
    );
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    cluster.stop().await;
}

/// An external isolator (its own runtime, reached by UPID) that never answers `call`: the
/// agent's handle times out, the container is destroyed and the task fails with a reason.
async fn silent_external_isolator_fails_the_task(call: &str, test: &str) {
    let external = Runtime::start(Config::local()).unwrap();
    let pid = mesos_isolators::IsolatorProcess::spawn(
        &external,
        mesos_isolators::example::ExampleIsolator::default(),
    )
    .unwrap();
    external
        .filters()
        .drop_all(libprocess::filter::Matcher::message(format!(
            "mesos_rs.isolator.{call}"
        )));
    let isolation = IsolationConfig {
        isolation: format!("posix/cpu,{}", pid.upid()),
        flags: IsolationFlags {
            timeout: Duration::from_millis(500),
            ..Default::default()
        },
    };
    let mut cluster = Cluster::start_with(test, isolation, "sleep 300", 0.1, 32.0).await;
    let failed = cluster
        .until(TaskState::TaskFailed, Duration::from_secs(30))
        .await;
    assert_eq!(
        failed.reason(),
        task_status::Reason::ContainerLaunchFailed,
        "{failed:?}"
    );
    assert_eq!(failed.source(), task_status::Source::Slave);
    let message = failed.message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!("did not answer {call}")),
        "the reason names the silent call: {message}"
    );
    cluster.no_containers().await;
    // Prepare failed: no executor was started; isolate failed: it was held, never ran.
    let ran = cluster
        .find_in_sandbox("stdout")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|s| !s.is_empty());
    assert!(!ran, "the executor never ran");
    cluster.stop().await;
    external.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_isolator_that_never_answers_prepare_fails_the_task_with_a_reason() {
    silent_external_isolator_fails_the_task("Prepare", "silent-prepare").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_that_cannot_be_isolated_is_destroyed_and_its_task_fails_with_a_reason() {
    silent_external_isolator_fails_the_task("Isolate", "silent-isolate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balloon_task_growing_past_its_limit_is_killed_for_its_memory() {
    if !v1_or_skip("balloon_task_growing_past_its_limit_is_killed_for_its_memory") {
        return;
    }
    let root = Root::new();
    let balloon = mesos_scheduler::balloon::balloon_command(512);
    let mut cluster =
        Cluster::start("balloon", "cgroups/mem", &root, false, &balloon, 0.1, 64.0).await;
    cluster
        .until(TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let failed = cluster
        .until(TaskState::TaskFailed, Duration::from_secs(60))
        .await;
    assert!(
        mesos_scheduler::balloon::Balloon::killed_for_memory(&failed),
        "{failed:?}"
    );
    let printed = mesos_scheduler::framework::describe_status(&failed);
    assert!(
        printed.contains("source: SOURCE_SLAVE")
            && printed.contains("reason: REASON_CONTAINER_LIMITATION_MEMORY"),
        "{printed}"
    );
    cluster.no_containers().await;
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_leaving_its_executor_shrinks_the_containers_limits() {
    let group = vec![("long", "sleep 300", 0.3), ("short", "sleep 1", 0.2)];
    let mut cluster = Cluster::start_full(
        "update",
        IsolationConfig::default(),
        Some(group),
        "",
        0.0,
        0.0,
    )
    .await;
    let mut running = 0;
    while running < 2 {
        let u = cluster.next(Duration::from_secs(30)).await;
        if u.state() == TaskState::TaskRunning {
            running += 1;
        }
    }
    let cpus_limit = |stats: &serde_json::Value| stats[0]["statistics"]["cpus_limit"].as_f64();
    let before = cluster.statistics("/monitor/statistics").await;
    // Executor 0.1 + long 0.3 + short 0.2.
    assert!(
        (cpus_limit(&before).unwrap_or(0.0) - 0.6).abs() < 1e-9,
        "{before}"
    );
    let finished = cluster
        .until(TaskState::TaskFinished, Duration::from_secs(30))
        .await;
    assert_eq!(finished.task_id.value, "short");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = cluster.statistics("/monitor/statistics").await;
        if cpus_limit(&after).is_some_and(|c| (c - 0.4).abs() < 1e-9) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the limit never shrank to 0.4 cpus: {after}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.teardown();
    cluster.no_containers().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_cgroups_under_the_root_are_destroyed_when_the_agent_starts() {
    if !v1_or_skip("orphaned_cgroups_under_the_root_are_destroyed_when_the_agent_starts") {
        return;
    }
    let root = Root::new();
    // A container no checkpoint claims (left by a crashed agent), with a process inside.
    let orphan: Vec<PathBuf> = ["cpu", "memory", "freezer"]
        .iter()
        .map(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(&root.name)
                .join("orphan")
        })
        .collect();
    for d in &orphan {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut sleeper = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    for d in &orphan {
        std::fs::write(d.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    }
    let cluster = Cluster::start(
        "orphans",
        "cgroups/cpu,cgroups/mem",
        &root,
        false,
        "sleep 300",
        0.1,
        32.0,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while orphan.iter().any(|d| d.exists()) {
        assert!(
            Instant::now() < deadline,
            "orphans left: {:?}",
            root.leftovers()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reaped = tokio::task::spawn_blocking(move || sleeper.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !reaped.success(),
        "the orphan's process was killed: {reaped:?}"
    );
    cluster.teardown();
    cluster.no_containers().await;
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_isolator_named_by_upid_prepares_the_container_and_reports_its_usage() {
    let external = Runtime::start(Config::local()).unwrap();
    let pid = mesos_isolators::IsolatorProcess::spawn(
        &external,
        mesos_isolators::example::ExampleIsolator::default(),
    )
    .unwrap();
    let isolation = IsolationConfig {
        // The only isolator: every statistic but the limits comes from it.
        isolation: pid.upid().to_string(),
        flags: IsolationFlags::default(),
    };
    let command = format!(
        "echo ${} > seen.tmp; mv seen.tmp seen; sleep 300",
        mesos_isolators::example::ENV_VAR
    );
    let mut cluster = Cluster::start_with("external-ok", isolation, &command, 0.1, 32.0).await;
    cluster
        .until(TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let seen = cluster.wait_for_file("seen").await;
    assert!(
        !seen.trim().is_empty(),
        "the external isolator's environment reached the task"
    );
    let stats = cluster.statistics("/monitor/statistics").await;
    assert!(
        stats[0]["statistics"]["processes"].as_u64().unwrap_or(0) >= 2,
        "the external isolator's usage is merged: {stats}"
    );
    cluster.teardown();
    cluster.no_containers().await;
    cluster.stop().await;
    external.shutdown();
}

/// `--switch_user` (default on) with the agent as root: the task's user reaches the
/// containerizer, `filesystem/posix` gives it the sandbox and the executor runs as it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_with_a_user_runs_as_that_user_in_its_own_sandbox_under_switch_user() {
    if !nix_is_root()
        || std::process::Command::new("id")
            .arg("nobody")
            .output()
            .map_or(true, |o| !o.status.success())
    {
        eprintln!("SKIPPED: needs root and a 'nobody' user");
        return;
    }
    let isolation = IsolationConfig {
        isolation: "filesystem/posix,posix/cpu,posix/mem".into(),
        ..Default::default()
    };
    let mut cluster = Cluster::start_as(
        "switch-user",
        isolation,
        None,
        "id -un > whoami",
        0.1,
        32.0,
        Some("nobody"),
    )
    .await;
    let finished = cluster
        .until(TaskState::TaskFinished, Duration::from_secs(30))
        .await;
    assert_eq!(finished.state(), TaskState::TaskFinished, "{finished:?}");
    assert_eq!(cluster.wait_for_file("whoami").await.trim(), "nobody");
    cluster.no_containers().await;
    cluster.stop().await;
}
