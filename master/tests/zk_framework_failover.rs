//! Framework failover across a master failover, with a real ZooKeeper (Debian's package),
//! two of our `mesos-master` processes and one `mesos-agent` process: three frameworks run
//! long tasks (A and B through the v0 driver, C through the v1 API). The leading master is
//! killed with SIGKILL and the three schedulers die with it (their runtimes and connections
//! dropped, no unregistration). Then new scheduler instances, given the framework ids, take
//! A (v0) and C (v1) over on the new leader: they re-subscribe, receive the update produced
//! while no scheduler was there, and kill tasks. B never returns: the new leader removes it
//! after `--agent_reregister_timeout` plus its `failover_timeout`, and its task is killed.
//! SKIPPED where ZooKeeper is not installed.

mod cluster;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::{alive, bin_dir, kill9, leader, metric, read_pid, start_agent, start_master};
use mesos_proto::mesos::TaskStatus;
use mesos_proto::mesos::{FrameworkId, FrameworkInfo, MasterInfo, Offer, TaskId, TaskState};
use mesos_scheduler::framework::command_task;
use mesos_scheduler::{Driver, DriverHandle, Scheduler};
use mesos_tests::native::{http_get, ChildGuard};
use mesos_tests::poll_until;
use mesos_tests::zookeeper::ZooKeeperServer;

const WAIT: Duration = Duration::from_secs(60);

/// What one scheduler instance saw.
#[derive(Default)]
struct Seen {
    /// `registered` (with the framework id) or `reregistered`.
    registrations: Vec<(&'static str, String)>,
    updates: Vec<(String, TaskState)>,
}

type Shared = Arc<Mutex<Seen>>;

/// Launches `count` long tasks named `<prefix>-<n>` (their shells record their pids under
/// `dir`); a taking-over instance launches none, reconciles, and kills the tasks in `kill`
/// once it hears they run.
struct Tasks {
    seen: Shared,
    dir: PathBuf,
    prefix: &'static str,
    count: usize,
    launched: usize,
    kill: HashSet<String>,
    takeover: bool,
}

impl Tasks {
    fn new(seen: &Shared, dir: &Path, prefix: &'static str, count: usize) -> Tasks {
        Tasks {
            seen: seen.clone(),
            dir: dir.to_path_buf(),
            prefix,
            count,
            launched: 0,
            kill: HashSet::new(),
            takeover: false,
        }
    }

    fn takeover(seen: &Shared, dir: &Path, prefix: &'static str, kill: &[&str]) -> Tasks {
        Tasks {
            kill: kill.iter().map(|k| k.to_string()).collect(),
            takeover: true,
            ..Tasks::new(seen, dir, prefix, 0)
        }
    }

    fn record(&self, f: impl FnOnce(&mut Seen)) {
        if let Ok(mut s) = self.seen.lock() {
            f(&mut s);
        }
    }
}

impl Scheduler for Tasks {
    fn registered(&mut self, d: &mut DriverHandle<'_>, id: &FrameworkId, _m: &MasterInfo) {
        self.record(|s| s.registrations.push(("registered", id.value.clone())));
        if self.takeover {
            d.reconcile_all();
        }
    }

    fn reregistered(&mut self, d: &mut DriverHandle<'_>, _m: &MasterInfo) {
        self.record(|s| s.registrations.push(("reregistered", String::new())));
        d.reconcile_all();
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            let mut remaining = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.launched < self.count {
                let id = format!("{}-{}", self.prefix, self.launched);
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

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        let id = status.task_id.value.clone();
        if state == TaskState::TaskRunning && self.kill.remove(&id) {
            d.kill(TaskId { value: id.clone() });
        }
        self.record(|s| s.updates.push((id, state)));
    }
}

fn updates_of(seen: &Shared, task: &str) -> Vec<TaskState> {
    let s = seen.lock().unwrap();
    s.updates
        .iter()
        .filter(|(t, _)| t == task)
        .map(|(_, st)| *st)
        .collect()
}

fn registrations(seen: &Shared) -> Vec<(&'static str, String)> {
    seen.lock().unwrap().registrations.clone()
}

fn terminal(states: &[TaskState]) -> Vec<TaskState> {
    states
        .iter()
        .copied()
        .filter(|s| mesos_proto::task_state::is_terminal_value(*s as i32))
        .collect()
}

/// Kills every task and executor recorded under the directory (they run in process
/// groups of their own, so the agent's guard does not reach them).
struct TaskReaper(PathBuf);

impl Drop for TaskReaper {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for e in entries.flatten() {
                if let Some(pid) = read_pid(&e.path()) {
                    kill9(pid);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn framework(name: &str, id: Option<&str>, failover_timeout: f64) -> FrameworkInfo {
    FrameworkInfo {
        // The agent switches to the task's user: one that exists here.
        user: "root".into(),
        name: name.into(),
        id: id.map(|v| FrameworkId { value: v.into() }),
        failover_timeout: Some(failover_timeout),
        ..Default::default()
    }
}

/// A v0 scheduler instance in a libprocess runtime of its own.
struct V0 {
    rt: libprocess::Runtime,
    run: tokio::task::JoinHandle<()>,
}

impl V0 {
    fn start(
        tokio_rt: &tokio::runtime::Runtime,
        zk: &mesos_zookeeper::ZkUrl,
        info: FrameworkInfo,
        scheduler: Tasks,
    ) -> V0 {
        let master = mesos_scheduler::detection::detect_leader(zk, WAIT).expect("a leading master");
        let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
        let run = tokio_rt.spawn({
            let (rt, zk) = (rt.clone(), zk.clone());
            async move {
                let _ =
                    Driver::run_following(&rt, master, Some(zk), info, Box::new(scheduler)).await;
            }
        });
        V0 { rt, run }
    }

    /// The scheduler dies: no unregistration, its sockets just close.
    fn kill(self) {
        self.run.abort();
        self.rt.shutdown();
    }
}

/// A v1 scheduler instance (its HTTP connections die with its task).
fn start_v1(
    tokio_rt: &tokio::runtime::Runtime,
    zk: &mesos_zookeeper::ZkUrl,
    info: FrameworkInfo,
    scheduler: Tasks,
) -> tokio::task::JoinHandle<()> {
    let master = mesos_scheduler::detection::detect_leader(zk, WAIT).expect("a leading master");
    let zk = zk.clone();
    tokio_rt.spawn(async move {
        let _ = mesos_scheduler::v1::run_following(
            master.socket_addr(),
            Some(zk),
            info,
            Box::new(scheduler),
        )
        .await;
    })
}

fn state(port: u16) -> serde_json::Value {
    let (_, body) = http_get(port, "/master/state").expect("/master/state");
    serde_json::from_slice(&body).expect("JSON state")
}

fn completed_framework_ids(port: u16) -> Vec<String> {
    state(port)["completed_frameworks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn framework_id(seen: &Shared) -> String {
    registrations(seen)
        .into_iter()
        .find(|(how, _)| *how == "registered")
        .map(|(_, id)| id)
        .expect("registered")
}

#[test]
fn new_scheduler_instances_take_their_frameworks_over_on_the_new_leader_and_an_abandoned_framework_is_torn_down(
) {
    let Some(zk) = ZooKeeperServer::start("zk_framework_failover") else {
        return;
    };
    let bin = bin_dir();
    let url = zk.url("/mesos");
    let zk_url = mesos_zookeeper::ZkUrl::parse(&url).unwrap();
    let extra = ["--agent_reregister_timeout=2secs"];
    let mut masters: Vec<(u16, ChildGuard)> = (0..2)
        .map(|n| start_master(&bin, &url, n, &extra))
        .collect();
    assert!(poll_until(WAIT, || leader(&masters).is_some()), "no leader");
    let first = leader(&masters).unwrap();
    let _agent = start_agent(&bin, &url, 0);
    assert!(
        poll_until(WAIT, || metric(first, "master/slaves_active") == Some(1.0)),
        "the agent did not register"
    );

    let dir = ChildGuard::new_dir("framework-failover-tasks");
    let _reaper = TaskReaper(dir.clone());
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, b, c) = (Shared::default(), Shared::default(), Shared::default());
    let a_run = V0::start(
        &tokio_rt,
        &zk_url,
        framework("A", None, 3600.0),
        Tasks::new(&a, &dir, "a", 2),
    );
    let b_run = V0::start(
        &tokio_rt,
        &zk_url,
        framework("B", None, 3.0),
        Tasks::new(&b, &dir, "b", 1),
    );
    let c_run = start_v1(
        &tokio_rt,
        &zk_url,
        framework("C", None, 3600.0),
        Tasks::new(&c, &dir, "c", 1),
    );
    let running =
        |seen: &Shared, task: &str| updates_of(seen, task).contains(&TaskState::TaskRunning);
    let pid = |task: &str| read_pid(&dir.join(format!("{task}.pid")));
    assert!(
        poll_until(WAIT, || running(&a, "a-0")
            && running(&a, "a-1")
            && running(&b, "b-0")
            && running(&c, "c-0")
            && ["a-0", "a-1", "b-0", "c-0"]
                .iter()
                .all(|t| pid(t).is_some())),
        "the tasks did not all start: A {:?} B {:?} C {:?}",
        a.lock().unwrap().updates,
        b.lock().unwrap().updates,
        c.lock().unwrap().updates
    );
    let (a_id, b_id, c_id) = (framework_id(&a), framework_id(&b), framework_id(&c));
    let pids: Vec<i32> = ["a-0", "a-1", "b-0", "c-0"]
        .iter()
        .map(|t| pid(t).unwrap())
        .collect();

    // kill -9 the leader, and the three schedulers die too. While nobody listens, a-1 dies:
    // its TASK_FAILED can only reach A through the new leader and A's next instance.
    let killed = masters.iter().position(|(p, _)| *p == first).unwrap();
    let (_, mut dead) = masters.remove(killed);
    dead.kill();
    a_run.kill();
    b_run.kill();
    c_run.abort();
    kill9(pids[1]);

    assert!(
        poll_until(WAIT, || leader(&masters).is_some()),
        "no new leader"
    );
    let next = leader(&masters).unwrap();
    assert!(
        poll_until(WAIT, || metric(next, "master/slaves_active") == Some(1.0)),
        "the agent did not re-register with the new leader"
    );

    // New instances of A (v0) and C (v1), given their framework ids.
    let (a2, c2) = (Shared::default(), Shared::default());
    let a2_run = V0::start(
        &tokio_rt,
        &zk_url,
        framework("A", Some(&a_id), 3600.0),
        Tasks::takeover(&a2, &dir, "a", &["a-0"]),
    );
    let c2_run = start_v1(
        &tokio_rt,
        &zk_url,
        framework("C", Some(&c_id), 3600.0),
        Tasks::takeover(&c2, &dir, "c", &["c-0"]),
    );
    assert!(
        poll_until(WAIT, || terminal(&updates_of(&a2, "a-1"))
            == [TaskState::TaskFailed]),
        "A's new instance did not get a-1's pending TASK_FAILED: {:?}",
        updates_of(&a2, "a-1")
    );
    assert!(
        poll_until(WAIT, || updates_of(&a2, "a-0")
            .contains(&TaskState::TaskKilled)
            && updates_of(&c2, "c-0").contains(&TaskState::TaskKilled)),
        "the new instances could not kill their tasks: A {:?} C {:?}",
        updates_of(&a2, "a-0"),
        updates_of(&c2, "c-0")
    );
    assert!(poll_until(WAIT, || !alive(pids[0]) && !alive(pids[3])));
    assert_eq!(registrations(&a2), [("reregistered", String::new())]);
    assert_eq!(registrations(&c2), [("registered", c_id.clone())]);

    // B never comes back: removed after 2 s + its 3 s, and its task killed.
    assert!(
        poll_until(WAIT, || completed_framework_ids(next).contains(&b_id)),
        "B was not torn down: {:?}",
        completed_framework_ids(next)
    );
    assert!(poll_until(WAIT, || !alive(pids[2])), "B's task still runs");
    // A and C stay, each known once; no task of theirs ended twice.
    let s = state(next);
    let mut active: Vec<String> = s["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    active.sort();
    let mut expected = vec![a_id.clone(), c_id.clone()];
    expected.sort();
    assert_eq!(active, expected);
    std::thread::sleep(Duration::from_millis(500));
    for (seen, task) in [(&a2, "a-0"), (&a2, "a-1"), (&c2, "c-0")] {
        let states = updates_of(seen, task);
        assert_eq!(terminal(&states).len(), 1, "{task}: {states:?}");
    }

    a2_run.kill();
    c2_run.abort();
    drop(masters);
    drop(zk);
}
