//! `launch-bench`: launches N trivial command tasks as fast as offers allow and prints a
//! table: tasks/s from the first launch to the last TASK_FINISHED, and launch→RUNNING and
//! launch→FINISHED latency percentiles. Works against any Mesos master (ours or genuine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::driver::{DriverHandle, Scheduler};
use mesos_scheduler::framework::{self, command_task, is_terminal};
use mesos_scheduler::master::resolve_master;

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "launch-bench",
    about = "Measures end-to-end task launch throughput and latency on a Mesos cluster."
)]
struct Flags {
    /// The master: host:port, master@host:port or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    #[arg(long, default_value = "true")]
    command: String,
    #[arg(long, default_value_t = 0.01)]
    task_cpus: f64,
    #[arg(long, default_value_t = 1.0)]
    task_mem: f64,
    #[arg(long, default_value = "v0", value_parser = ["v0", "v1"])]
    api: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(Default)]
struct Stats {
    first_launch: Option<Instant>,
    last_terminal: Option<Instant>,
    launched_at: HashMap<String, Instant>,
    running: Vec<Duration>,
    finished: Vec<Duration>,
    failed: usize,
}

struct Bench {
    flags: Flags,
    next: usize,
    stats: Arc<Mutex<Stats>>,
}

impl Scheduler for Bench {
    fn registered(&mut self, _d: &mut DriverHandle<'_>, id: &FrameworkId, _m: &MasterInfo) {
        eprintln!("launch-bench: registered as {}", id.value);
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            let mut remaining = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.next < self.flags.tasks {
                let id = format!("bench-{}", self.next);
                let Some(t) = command_task(
                    &offer,
                    &mut remaining,
                    &id,
                    &self.flags.command,
                    self.flags.task_cpus,
                    self.flags.task_mem,
                ) else {
                    break;
                };
                tasks.push(t);
                self.next += 1;
            }
            if tasks.is_empty() {
                d.decline(offer.id.clone(), Some(1.0));
                continue;
            }
            let now = Instant::now();
            if let Ok(mut s) = self.stats.lock() {
                s.first_launch.get_or_insert(now);
                for t in &tasks {
                    s.launched_at.insert(t.task_id.value.clone(), now);
                }
            }
            d.launch(vec![offer.id.clone()], tasks, Some(1.0));
        }
    }

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        let now = Instant::now();
        let Ok(mut s) = self.stats.lock() else { return };
        let Some(start) = s.launched_at.get(&status.task_id.value).copied() else {
            return;
        };
        if status.state == TaskState::TaskRunning as i32 {
            s.running.push(now - start);
        } else if is_terminal(status.state) {
            s.launched_at.remove(&status.task_id.value);
            s.last_terminal = Some(now);
            if status.state == TaskState::TaskFinished as i32 {
                s.finished.push(now - start);
            } else {
                s.failed += 1;
            }
            if s.finished.len() + s.failed >= self.flags.tasks {
                d.stop(false);
            } else if s.finished.len() % 100 == 0 {
                eprintln!(
                    "launch-bench: {} of {} finished",
                    s.finished.len(),
                    self.flags.tasks
                );
            }
        }
    }
}

fn pct(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = resolve_master(&flags.master)?;
    let rt = framework::start_runtime()?;
    let info = framework::framework_info("launch-bench", None);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let (tasks, api, timeout) = (flags.tasks, flags.api.clone(), flags.timeout);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(timeout));
        eprintln!("launch-bench: timed out after {timeout}s");
        std::process::exit(2);
    });
    let bench = Bench {
        flags,
        next: 0,
        stats: stats.clone(),
    };
    framework::run(&rt, &api, master, info, Box::new(bench))?;
    let mut s = stats
        .lock()
        .map_err(|_| anyhow::anyhow!("stats poisoned"))?;
    let wall = match (s.first_launch, s.last_terminal) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let finished = s.finished.len();
    let failed = s.failed;
    println!("| tasks | finished | failed | wall (first launch → last finished) | tasks/s | launch→RUNNING p50 / p99 | launch→FINISHED p50 / p99 |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {tasks} | {finished} | {failed} | {wall:.2} s | {:.0} | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
        finished as f64 / wall.max(1e-9),
        pct(&mut s.running, 0.5),
        pct(&mut s.running, 0.99),
        pct(&mut s.finished, 0.5),
        pct(&mut s.finished, 0.99)
    );
    if failed > 0 || finished < tasks {
        std::process::exit(1);
    }
    Ok(())
}
