//! The cluster the isolation tests run: our master, an agent with a given `--isolation`
//! and `--cgroups_root`, and a v0 framework running one command task or one task group.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use libprocess::{Config, Runtime};
use mesos_agent::{IsolationConfig, SlaveConfig};
use mesos_isolators::cgroups::CgroupsConfig;
use mesos_isolators::IsolationFlags;
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
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
    /// The command task's `CommandInfo.user`.
    user: Option<String>,
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
            let mut task = task;
            if let Some(command) = task.command.as_mut() {
                command.user = self.user.clone();
            }
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
pub struct Root {
    pub name: String,
}

const CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "freezer"];

impl Root {
    pub fn new() -> Root {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Root {
            name: format!("mesos-agent-test-{}-{n}", std::process::id()),
        }
    }

    /// Container cgroups left under the root in any controller.
    pub fn leftovers(&self) -> Vec<PathBuf> {
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

pub fn v1_or_skip(test: &str) -> bool {
    let ok = Path::new("/sys/fs/cgroup/memory/tasks").is_file()
        && Path::new("/sys/fs/cgroup/cpu/tasks").is_file()
        && Path::new("/sys/fs/cgroup/freezer/tasks").is_file()
        && nix_is_root();
    if !ok {
        eprintln!("SKIPPED {test}: needs root and cgroups v1 cpu, memory and freezer under /sys/fs/cgroup");
    }
    ok
}

pub fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

pub struct Cluster {
    pub master: mesos_master::MasterHandle,
    pub agent: mesos_agent::Agent,
    pub work: PathBuf,
    pub framework: FrameworkId,
    pub updates: mpsc::UnboundedReceiver<TaskStatus>,
    pub driver: tokio::task::JoinHandle<()>,
}

impl Cluster {
    pub async fn start(
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

    pub async fn start_with(
        name: &str,
        isolation: IsolationConfig,
        command: &str,
        cpus: f64,
        mem: f64,
    ) -> Cluster {
        Cluster::start_full(name, isolation, None, command, cpus, mem).await
    }

    pub async fn start_full(
        name: &str,
        isolation: IsolationConfig,
        group: Option<Vec<(&'static str, &'static str, f64)>>,
        command: &str,
        cpus: f64,
        mem: f64,
    ) -> Cluster {
        Cluster::start_as(name, isolation, group, command, cpus, mem, None).await
    }

    /// As [`Cluster::start_full`], the command task carrying `user` as its command's user.
    pub async fn start_as(
        name: &str,
        isolation: IsolationConfig,
        group: Option<Vec<(&'static str, &'static str, f64)>>,
        command: &str,
        cpus: f64,
        mem: f64,
        user: Option<&str>,
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
            user: user.map(str::to_string),
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
    pub async fn next(&mut self, within: Duration) -> TaskStatus {
        tokio::time::timeout(within, self.updates.recv())
            .await
            .expect("a status update in time")
            .expect("the scheduler went away")
    }

    pub async fn until(&mut self, state: TaskState, within: Duration) -> TaskStatus {
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
    pub fn find_in_sandbox(&self, file: &str) -> Option<PathBuf> {
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

    pub async fn wait_for_file(&self, file: &str) -> String {
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
    pub async fn statistics(&self, path: &str) -> serde_json::Value {
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
    pub fn teardown(&self) {
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
    pub async fn no_containers(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = self
                .agent
                .slave
                .call("containerizer", |s, _| s.containerizer())
                .await
                .unwrap();
            let left = match left {
                Some(cz) => {
                    let (call, answer) = mesos_agent::containerizer::Call::containers();
                    mesos_agent::containerizer::send(&cz, call);
                    answer.await.unwrap()
                }
                None => Vec::new(),
            };
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "containers left: {left:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.driver.abort();
        self.agent.runtime.shutdown();
        self.master.runtime.shutdown();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}
