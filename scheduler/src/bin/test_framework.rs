//! `test-framework`: runs N command tasks (default 5) and exits 0 once all finished.

use clap::Parser;
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::driver::{Driver, DriverHandle, Outcome, Scheduler};
use mesos_scheduler::framework::{self, command_task, is_terminal, state_name, Seen};
use mesos_scheduler::master::parse_master;

#[derive(Parser, Debug)]
#[command(name = "test-framework", about = "Runs N command tasks on a Mesos cluster and exits 0 when all finished.")]
struct Flags {
    /// The master: host:port, master@host:port or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    /// How many tasks to run.
    #[arg(long, default_value_t = 5)]
    tasks: usize,
    /// The shell command each task runs.
    #[arg(long, default_value = "echo hello from a Mesos task")]
    command: String,
    #[arg(long, default_value_t = 0.1)]
    task_cpus: f64,
    #[arg(long, default_value_t = 32.0)]
    task_mem: f64,
    /// The role to register in (MULTI_ROLE); default: `*`.
    #[arg(long)]
    role: Option<String>,
    /// Which scheduler API to use: `v0` (libprocess driver messages) or `v1` (HTTP).
    #[arg(long, default_value = "v0", value_parser = ["v0", "v1"])]
    api: String,
}

struct TestScheduler {
    flags: Flags,
    launched: usize,
    finished: usize,
    failed: usize,
    seen: Seen,
}

impl Scheduler for TestScheduler {
    fn registered(&mut self, _d: &mut DriverHandle<'_>, id: &FrameworkId, master: &MasterInfo) {
        println!("test-framework: registered as {} with master {}", id.value, master.pid.as_deref().unwrap_or("?"));
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            let mut remaining = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.launched < self.flags.tasks {
                let id = format!("task-{}", self.launched);
                match command_task(&offer, &mut remaining, &id, &self.flags.command, self.flags.task_cpus, self.flags.task_mem) {
                    Some(task) => {
                        tasks.push(task);
                        self.launched += 1;
                    }
                    None => break,
                }
            }
            if tasks.is_empty() {
                d.decline(offer.id.clone(), Some(5.0));
            } else {
                println!("test-framework: launching {} task(s) on {}", tasks.len(), offer.hostname);
                d.launch(vec![offer.id.clone()], tasks, Some(5.0));
            }
        }
    }

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        println!(
            "test-framework: task {} is {}{}",
            status.task_id.value,
            state_name(status.state),
            status.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        );
        if is_terminal(status.state) && self.seen.insert(status.task_id.value.clone()) {
            if status.state == TaskState::TaskFinished as i32 {
                self.finished += 1;
            } else {
                self.failed += 1;
            }
        }
        if self.finished + self.failed == self.flags.tasks {
            d.stop(false);
        }
    }

    fn error(&mut self, _d: &mut DriverHandle<'_>, message: &str) {
        eprintln!("test-framework: error: {message}");
    }
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = parse_master(&flags.master)?;
    let rt = framework::start_runtime()?;
    let info = framework::framework_info("test-framework (Rust)", flags.role.as_deref());
    let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let api = flags.api.clone();
    let scheduler = TestScheduler { flags, launched: 0, finished: 0, failed: 0, seen: Seen::new() };
    let (tx, rx) = std::sync::mpsc::channel();
    let boxed = Box::new(ReportOnDrop(scheduler, tx));
    let outcome = if api == "v1" {
        tokio_rt.block_on(mesos_scheduler::v1::run(master.socket_addr(), info, boxed))?
    } else {
        tokio_rt.block_on(Driver::run(&rt, master, info, boxed))?
    };
    let (finished, failed, total) = rx.recv().unwrap_or((0, 0, 0));
    // Give the TEARDOWN a moment to leave before the runtime stops.
    std::thread::sleep(std::time::Duration::from_millis(100));
    rt.shutdown();
    println!("test-framework: {finished} of {total} tasks finished, {failed} failed");
    match outcome {
        Outcome::Stopped if failed == 0 && finished == total => Ok(()),
        Outcome::Stopped => std::process::exit(1),
        Outcome::Error(e) => anyhow::bail!("the master reported an error: {e}"),
    }
}

/// Passes the final counts out when the driver drops the scheduler.
struct ReportOnDrop(TestScheduler, std::sync::mpsc::Sender<(usize, usize, usize)>);
impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        let _ = self.1.send((self.0.finished, self.0.failed, self.0.flags.tasks));
    }
}
impl Scheduler for ReportOnDrop {
    fn registered(&mut self, d: &mut DriverHandle<'_>, id: &FrameworkId, m: &MasterInfo) {
        self.0.registered(d, id, m)
    }
    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        self.0.resource_offers(d, offers)
    }
    fn status_update(&mut self, d: &mut DriverHandle<'_>, s: &TaskStatus) {
        self.0.status_update(d, s);
        if self.0.finished + self.0.failed == self.0.flags.tasks {
            let _ = self.1.send((self.0.finished, self.0.failed, self.0.flags.tasks));
        }
    }
    fn error(&mut self, d: &mut DriverHandle<'_>, m: &str) {
        self.0.error(d, m)
    }
}
