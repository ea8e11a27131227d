//! Isolation enforced through the real agent: our master, our agent with `--isolation`,
//! our `mesos-executor` and a v0 framework running one command task. Each test uses its
//! own `--cgroups_root` and checks that no cgroup is left under it afterwards. Tests that
//! need cgroups v1 memory+cpu (root) print SKIPPED elsewhere.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use libprocess::{Config, Runtime};
use mesos_agent::{IsolationConfig, SlaveConfig};
use mesos_isolators::cgroups::CgroupsConfig;
use mesos_isolators::IsolationFlags;
use mesos_proto::mesos::{task_status, FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::framework::{command_task, framework_info};
use mesos_scheduler::{Driver, DriverHandle, Scheduler};
use tokio::sync::mpsc;

/// Launches one command task on the first offer; reports its framework id and updates.
struct OneTask {
    /// When set, a task group of these `(id, command, cpus)` on the default executor
    /// instead of one command task.
    group: Option<Vec<(&'static str, &'static str, f64)>>,
    command: String,
    cpus: f64,
    mem: f64,
    launched: bool,
    ids: mpsc::UnboundedSender<FrameworkId>,
    updates: mpsc::UnboundedSender<TaskStatus>,
}

impl Scheduler for OneTask {
    fn registered(&mut self, _: &mut DriverHandle<'_>, id: &FrameworkId, _: &MasterInfo) {
        let _ = self.ids.send(id.clone());
    }

    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                driver.decline(offer.id, None);
                continue;
            }
            let mut remaining = offer.resources.clone();
            if let Some(group) = &self.group {
                let tasks: Vec<_> = group
                    .iter()
                    .map(|(id, cmd, cpus)| {
                        command_task(&offer, &mut remaining, id, cmd, *cpus, 32.0)
                            .expect("the offer fits the group")
                    })
                    .collect();
                let mut executor = mesos_proto::mesos::ExecutorInfo {
                    executor_id: mesos_proto::mesos::ExecutorId {
                        value: "default".into(),
                    },
                    resources: mesos_agent::resources::parse("cpus:0.1;mem:32").unwrap(),
                    ..Default::default()
                };
                executor.set_type(mesos_proto::mesos::executor_info::Type::Default);
                self.launched = true;
                driver.launch_group(vec![offer.id], executor, tasks, None);
                continue;
            }
            let task = command_task(
                &offer,
                &mut remaining,
                "task",
                &self.command,
                self.cpus,
                self.mem,
            )
            .expect("the offer fits the task");
            self.launched = true;
            driver.launch(vec![offer.id], vec![task], None);
        }
    }

    fn status_update(&mut self, _: &mut DriverHandle<'_>, status: &TaskStatus) {
        let _ = self.updates.send(status.clone());
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique `--cgroups_root`; dropping it checks nothing is left (and removes the root).
struct Root {
    name: String,
}

const CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "freezer"];

impl Root {
    fn new() -> Root {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Root {
            name: format!("mesos-agent-test-{}-{n}", std::process::id()),
        }
    }

    /// Container cgroups left under the root in any controller.
    fn leftovers(&self) -> Vec<PathBuf> {
        CONTROLLERS
            .iter()
            .map(|c| Path::new("/sys/fs/cgroup").join(c).join(&self.name))
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|e| e.filter_map(Result::ok))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Root {
    /// A failed test must not leak: kill what is left in its cgroups and remove them.
    fn drop(&mut self) {
        for dir in self.leftovers() {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            for _ in 0..100 {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for c in CONTROLLERS {
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join(&self.name));
        }
    }
}

fn v1_or_skip(test: &str) -> bool {
    let ok = Path::new("/sys/fs/cgroup/memory/tasks").is_file()
        && Path::new("/sys/fs/cgroup/cpu/tasks").is_file()
        && Path::new("/sys/fs/cgroup/freezer/tasks").is_file()
        && nix_is_root();
    if !ok {
        eprintln!("SKIPPED {test}: needs root and cgroups v1 cpu, memory and freezer under /sys/fs/cgroup");
    }
    ok
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

struct Cluster {
    master: mesos_master::MasterHandle,
    agent: mesos_agent::Agent,
    work: PathBuf,
    framework: FrameworkId,
    updates: mpsc::UnboundedReceiver<TaskStatus>,
    driver: tokio::task::JoinHandle<()>,
}

impl Cluster {
    async fn start(
        name: &str,
        isolation: &str,
        root: &Root,
        cfs: bool,
        command: &str,
        cpus: f64,
        mem: f64,
    ) -> Cluster {
        let isolation = IsolationConfig {
            isolation: isolation.to_string(),
            flags: IsolationFlags {
                cgroups: CgroupsConfig {
                    hierarchy: PathBuf::from("/sys/fs/cgroup"),
                    root: root.name.clone(),
                    enable_cfs: cfs,
                },
                ..Default::default()
            },
        };
        Cluster::start_with(name, isolation, command, cpus, mem).await
    }

    async fn start_with(
        name: &str,
        isolation: IsolationConfig,
        command: &str,
        cpus: f64,
        mem: f64,
    ) -> Cluster {
        Cluster::start_full(name, isolation, None, command, cpus, mem).await
    }

    async fn start_full(
        name: &str,
        isolation: IsolationConfig,
        group: Option<Vec<(&'static str, &'static str, f64)>>,
        command: &str,
        cpus: f64,
        mem: f64,
    ) -> Cluster {
        let work = std::env::temp_dir().join(format!("agent-iso-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let work = work.canonicalize().unwrap();
        let master = mesos_master::start(
            mesos_master::Flags::parse_from_args([
                "mesos-master",
                "--ip=127.0.0.1",
                "--port=0",
                "--allocation_interval=50ms",
            ])
            .unwrap(),
        )
        .unwrap();
        let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
            .parent()
            .unwrap()
            .to_path_buf();
        let agent = mesos_agent::start_isolated(
            Config::local(),
            SlaveConfig {
                master: master.upid().clone(),
                resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
                attributes: Vec::new(),
                work_dir: work.clone(),
                hostname: "localhost".into(),
                launcher_dir,
                registration_backoff_factor: Duration::from_millis(10),
                executor_registration_timeout: Duration::from_secs(60),
                executor_shutdown_grace_period: Duration::from_secs(2),
                http_command_executor: false,
                max_completed_executors_per_framework: 150,
                flags: Vec::new(),
            },
            isolation,
        )
        .expect("agent starts");
        let (ids_tx, mut ids) = mpsc::unbounded_channel();
        let (tx, updates) = mpsc::unbounded_channel();
        let scheduler = OneTask {
            group,
            command: command.to_string(),
            cpus,
            mem,
            launched: false,
            ids: ids_tx,
            updates: tx,
        };
        let rt = Runtime::start(Config::local()).unwrap();
        let master_upid = master.upid().clone();
        let driver = tokio::spawn(async move {
            let _ = Driver::run(
                &rt,
                master_upid,
                framework_info(&format!("isolation-{}", std::process::id()), None),
                Box::new(scheduler),
            )
            .await;
            rt.shutdown();
        });
        let framework = tokio::time::timeout(Duration::from_secs(20), ids.recv())
            .await
            .expect("the framework registers")
            .unwrap();
        Cluster {
            master,
            agent,
            work,
            framework,
            updates,
            driver,
        }
    }

    /// The next update, within `within`.
    async fn next(&mut self, within: Duration) -> TaskStatus {
        tokio::time::timeout(within, self.updates.recv())
            .await
            .expect("a status update in time")
            .expect("the scheduler went away")
    }

    async fn until(&mut self, state: TaskState, within: Duration) -> TaskStatus {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let u = self.next(left).await;
            if u.state() == state {
                return u;
            }
            assert!(
                !mesos_proto::task_state::is_terminal(u.state()),
                "expected {state:?}, the task ended: {u:?}"
            );
        }
    }

    /// The task's sandbox (the one directory named `runs/<container>` under the work dir).
    fn find_in_sandbox(&self, file: &str) -> Option<PathBuf> {
        fn walk(dir: &Path, file: &str) -> Option<PathBuf> {
            for e in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
                let p = e.path();
                if e.file_type().ok()?.is_symlink() {
                    continue;
                }
                if p.file_name().is_some_and(|n| n == file) {
                    return Some(p);
                }
                if p.is_dir() {
                    if let Some(found) = walk(&p, file) {
                        return Some(found);
                    }
                }
            }
            None
        }
        walk(&self.work, file)
    }

    async fn wait_for_file(&self, file: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(text) = self
                .find_in_sandbox(file)
                .and_then(|p| std::fs::read_to_string(p).ok())
                .filter(|t| t.ends_with('\n'))
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{file} never appeared in the sandbox"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The agent's `/monitor/statistics` as JSON.
    async fn statistics(&self, path: &str) -> serde_json::Value {
        let port = self.agent.runtime.address().port();
        let path = path.to_string();
        let (status, body) =
            tokio::task::spawn_blocking(move || mesos_tests::native::http_get(port, &path))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    /// An operator tears the framework down: the master kills its tasks.
    fn teardown(&self) {
        let port = self.master.runtime.address().port();
        let body = format!("frameworkId={}", self.framework.value);
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /master/teardown HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// Waits until the agent has no container left.
    async fn no_containers(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = self
                .agent
                .slave
                .call("containerizer", |s, _| s.containerizer())
                .await
                .unwrap();
            let left = match left {
                Some(cz) => cz.call("containers", |c, _| c.containers()).await.unwrap(),
                None => Vec::new(),
            };
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "containers left: {left:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.driver.abort();
        self.agent.runtime.shutdown();
        self.master.runtime.shutdown();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

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
