//! The headline fault scenario with a real ZooKeeper (Debian's package): three of our
//! `mesos-master` processes (`--zk`, `--registry=replicated_log`, `--quorum=2`), two of our
//! `mesos-agent` processes following the leader through ZooKeeper, and a v0 framework of our
//! scheduler library with long tasks. The leader is killed with SIGKILL; a new leader is
//! elected, the agents and the framework re-register with it, the running tasks keep running,
//! the status update produced while no master led reaches the framework, and no task ends
//! twice. `scripts/stress-failover.sh N` runs it N times; `MESOS_FAILOVER_ITERATIONS=N` runs
//! the scenario N times in one test run. SKIPPED where ZooKeeper is not installed.

mod cluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{alive, bin_dir, kill9, leader, metric, read_pid, start_agent, start_master};
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::framework::command_task;
use mesos_scheduler::{Driver, DriverHandle, Scheduler};
use mesos_tests::native::ChildGuard;
use mesos_tests::poll_until;
use mesos_tests::zookeeper::ZooKeeperServer;

const TASKS: usize = 4;
const WAIT: Duration = Duration::from_secs(60);

/// What the framework saw, in order.
#[derive(Default)]
struct Seen {
    /// `(registered | reregistered, master id)`.
    registrations: Vec<(&'static str, String)>,
    updates: Vec<(String, TaskState)>,
}

/// Launches `TASKS` long tasks whose shells record their pids under `dir`.
struct LongTasks {
    seen: Arc<Mutex<Seen>>,
    dir: PathBuf,
    launched: usize,
}

impl LongTasks {
    fn record(&self, f: impl FnOnce(&mut Seen)) {
        if let Ok(mut s) = self.seen.lock() {
            f(&mut s);
        }
    }
}

impl Scheduler for LongTasks {
    fn registered(&mut self, _d: &mut DriverHandle<'_>, _id: &FrameworkId, m: &MasterInfo) {
        self.record(|s| s.registrations.push(("registered", m.id.clone())));
    }

    fn reregistered(&mut self, d: &mut DriverHandle<'_>, m: &MasterInfo) {
        self.record(|s| s.registrations.push(("reregistered", m.id.clone())));
        // Ask the new leader for every task's state, as frameworks do after a failover.
        d.reconcile_all();
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            let mut remaining = offer.resources.clone();
            let mut tasks = Vec::new();
            // At most half the tasks per offer, so both agents run some.
            while self.launched < TASKS && tasks.len() < TASKS / 2 {
                let id = format!("task-{}", self.launched);
                let pid = self.dir.join(format!("{id}.pid"));
                let command = format!(
                    "echo $PPID > {p}.executor; echo $$ > {p}; exec sleep 3600",
                    p = pid.display()
                );
                let Some(task) = command_task(&offer, &mut remaining, &id, &command, 0.1, 16.0)
                else {
                    break;
                };
                tasks.push(task);
                self.launched += 1;
            }
            if tasks.is_empty() {
                d.decline(offer.id.clone(), Some(3600.0));
            } else {
                d.launch(vec![offer.id.clone()], tasks, Some(3600.0));
            }
        }
    }

    fn status_update(&mut self, _d: &mut DriverHandle<'_>, status: &TaskStatus) {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        let id = status.task_id.value.clone();
        self.record(|s| s.updates.push((id, state)));
    }
}

/// Kills the tasks and their executors (they run in process groups of their own, so the
/// agents' guards do not reach them).
struct TaskReaper(PathBuf);

impl Drop for TaskReaper {
    fn drop(&mut self) {
        for i in 0..TASKS {
            for ext in ["pid", "pid.executor"] {
                if let Some(pid) = read_pid(&self.0.join(format!("task-{i}.{ext}"))) {
                    kill9(pid);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn updates_of(seen: &Arc<Mutex<Seen>>, task: &str) -> Vec<TaskState> {
    let s = seen.lock().unwrap();
    s.updates
        .iter()
        .filter(|(t, _)| t == task)
        .map(|(_, st)| *st)
        .collect()
}

/// One run of the scenario; returns the time from the kill to the framework's
/// re-registration and both agents re-registered.
fn leader_kill_scenario(bin: &Path) -> Duration {
    let zk = ZooKeeperServer::start("zk_failover_cluster").expect("checked by the caller");
    let url = zk.url("/mesos");
    let mut masters: Vec<(u16, ChildGuard)> =
        (0..3).map(|n| start_master(bin, &url, n, &[])).collect();
    assert!(
        poll_until(WAIT, || leader(&masters).is_some()),
        "no master was elected"
    );
    let first = leader(&masters).unwrap();
    let _agents: Vec<ChildGuard> = (0..2).map(|n| start_agent(bin, &url, n)).collect();
    assert!(
        poll_until(WAIT, || metric(first, "master/slaves_active") == Some(2.0)),
        "the agents did not register with the leader"
    );

    // The framework: our v0 driver, following the leader through ZooKeeper.
    let task_dir = ChildGuard::new_dir("failover-tasks");
    let _reaper = TaskReaper(task_dir.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let scheduler = LongTasks {
        seen: seen.clone(),
        dir: task_dir.clone(),
        launched: 0,
    };
    let zk_url = mesos_zookeeper::ZkUrl::parse(&url).unwrap();
    let master = mesos_scheduler::detection::detect_leader(&zk_url, WAIT).expect("a leader");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
    let info = mesos_proto::mesos::FrameworkInfo {
        // The agents switch to the task's user (--switch_user): one that exists here.
        user: "root".into(),
        name: "failover-long-tasks".into(),
        failover_timeout: Some(3600.0),
        ..Default::default()
    };
    let driver =
        tokio_rt.spawn({
            let rt = rt.clone();
            async move {
                Driver::run_following(&rt, master, Some(zk_url), info, Box::new(scheduler)).await
            }
        });

    let running = |task: &str| updates_of(&seen, task).contains(&TaskState::TaskRunning);
    assert!(
        poll_until(WAIT, || (0..TASKS).all(|i| running(&format!("task-{i}")))),
        "the tasks did not all start: {:?}",
        seen.lock().unwrap().updates
    );
    assert!(poll_until(WAIT, || (0..TASKS).all(|i| {
        read_pid(&task_dir.join(format!("task-{i}.pid"))).is_some()
    })));
    let pids: Vec<i32> = (0..TASKS)
        .map(|i| read_pid(&task_dir.join(format!("task-{i}.pid"))).unwrap())
        .collect();

    // kill -9 the leader; while no master leads, task-0's process dies: its TASK_FAILED
    // can only reach the framework through the next leader.
    let killed = masters
        .iter()
        .position(|(p, _)| *p == first)
        .expect("the leader is one of ours");
    let (_, mut dead) = masters.remove(killed);
    let started = Instant::now();
    dead.kill();
    kill9(pids[0]);

    assert!(
        poll_until(WAIT, || leader(&masters).is_some()),
        "no new leader after the kill"
    );
    let next = leader(&masters).unwrap();
    assert_ne!(next, first);
    let reregistered = |seen: &Arc<Mutex<Seen>>| {
        seen.lock()
            .unwrap()
            .registrations
            .iter()
            .any(|(how, _)| *how == "reregistered")
    };
    assert!(
        poll_until(WAIT, || reregistered(&seen)
            && metric(next, "master/slaves_active") == Some(2.0)),
        "agents ({:?} active) or framework ({:?}) did not re-register with the new leader",
        metric(next, "master/slaves_active"),
        seen.lock().unwrap().registrations
    );
    let failover = started.elapsed();

    // The update produced without a leader arrives, exactly once.
    assert!(
        poll_until(WAIT, || updates_of(&seen, "task-0")
            .contains(&TaskState::TaskFailed)),
        "task-0's TASK_FAILED was lost: {:?}",
        updates_of(&seen, "task-0")
    );
    // The new leader knows the other tasks as running, and they are.
    assert!(
        poll_until(WAIT, || metric(next, "master/tasks_running")
            == Some((TASKS - 1) as f64)),
        "the new leader has {:?} running tasks",
        metric(next, "master/tasks_running")
    );
    for pid in &pids[1..] {
        assert!(alive(*pid), "a running task died in the failover");
    }
    // Let late or duplicate updates (retries, reconciliation) arrive, then check them.
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..TASKS {
        let task = format!("task-{i}");
        let states = updates_of(&seen, &task);
        let terminal: Vec<_> = states
            .iter()
            .filter(|s| mesos_proto::task_state::is_terminal_value(**s as i32))
            .collect();
        if i == 0 {
            assert_eq!(terminal, [&TaskState::TaskFailed], "{task}: {states:?}");
        } else {
            assert!(terminal.is_empty(), "{task} ended: {states:?}");
        }
    }
    let registrations = seen.lock().unwrap().registrations.clone();
    assert_eq!(registrations[0].0, "registered");
    assert!(
        registrations[1..]
            .iter()
            .all(|(how, _)| *how == "reregistered"),
        "the framework got a new id: {registrations:?}"
    );

    driver.abort();
    rt.shutdown();
    drop(masters);
    drop(zk);
    failover
}

#[test]
fn leader_kill_9_new_leader_takes_over_agents_framework_and_running_tasks_without_loss() {
    if !Path::new("/usr/share/java/zookeeper.jar").is_file() {
        // Prints the SKIPPED line.
        let _ = ZooKeeperServer::start("zk_failover_cluster");
        return;
    }
    let bin = bin_dir();
    let iterations: usize = std::env::var("MESOS_FAILOVER_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut times = HashMap::new();
    for i in 0..iterations {
        let t = leader_kill_scenario(&bin);
        println!(
            "failover iteration {}/{iterations}: {} ms from kill -9 to re-registration",
            i + 1,
            t.as_millis()
        );
        times.insert(i, t);
    }
}
