//! A reusable framework that launches command tasks from offers and counts outcomes; the
//! example frameworks are thin flag parsers around it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};

use crate::driver::{DriverHandle, Scheduler};
use crate::framework::{command_task, is_terminal, state_name};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Log prefix, e.g. `test-framework`.
    pub name: String,
    pub command: String,
    pub task_cpus: f64,
    pub task_mem: f64,
    /// Stop after this many tasks ended; `None` keeps launching forever (long-lived).
    pub total: Option<usize>,
    /// At most this many tasks running at once (long-lived frameworks keep a steady load).
    pub max_running: usize,
}

/// Outcome counts, shared with the caller.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub launched: usize,
    pub finished: usize,
    pub failed: usize,
}

/// The scheduler.
pub struct TaskRunner {
    config: RunnerConfig,
    counts: Arc<Mutex<Counts>>,
    ended: HashSet<String>,
    next_id: usize,
}

impl TaskRunner {
    pub fn new(config: RunnerConfig) -> (TaskRunner, Arc<Mutex<Counts>>) {
        let counts = Arc::new(Mutex::new(Counts::default()));
        (
            TaskRunner {
                config,
                counts: counts.clone(),
                ended: HashSet::new(),
                next_id: 0,
            },
            counts,
        )
    }

    fn counts(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn want_more(&self) -> bool {
        let c = self.counts();
        let running = c.launched - c.finished - c.failed;
        running < self.config.max_running && self.config.total.is_none_or(|t| c.launched < t)
    }
}

impl Scheduler for TaskRunner {
    fn registered(&mut self, _d: &mut DriverHandle<'_>, id: &FrameworkId, master: &MasterInfo) {
        println!(
            "{}: registered as {} with master {}",
            self.config.name,
            id.value,
            master.pid.as_deref().unwrap_or("?")
        );
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            let mut remaining = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.want_more() {
                let id = format!("task-{}", self.next_id);
                let Some(task) = command_task(
                    &offer,
                    &mut remaining,
                    &id,
                    &self.config.command,
                    self.config.task_cpus,
                    self.config.task_mem,
                ) else {
                    break;
                };
                tasks.push(task);
                self.next_id += 1;
                if let Ok(mut c) = self.counts.lock() {
                    c.launched += 1;
                }
            }
            if tasks.is_empty() {
                d.decline(offer.id.clone(), Some(5.0));
            } else {
                println!(
                    "{}: launching {} task(s) on {}",
                    self.config.name,
                    tasks.len(),
                    offer.hostname
                );
                d.launch(vec![offer.id.clone()], tasks, Some(5.0));
            }
        }
    }

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        println!(
            "{}: task {} is {}{}",
            self.config.name,
            status.task_id.value,
            state_name(status.state),
            status
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
        if is_terminal(status.state) && self.ended.insert(status.task_id.value.clone()) {
            if let Ok(mut c) = self.counts.lock() {
                if status.state == TaskState::TaskFinished as i32 {
                    c.finished += 1;
                } else {
                    c.failed += 1;
                }
            }
            if self.config.total.is_none() {
                // Long-lived: freed resources come back as offers; ask for them now.
                d.revive();
            }
        }
        let c = self.counts();
        if self
            .config
            .total
            .is_some_and(|t| c.finished + c.failed >= t)
        {
            d.stop(false);
        }
    }

    fn error(&mut self, _d: &mut DriverHandle<'_>, message: &str) {
        eprintln!("{}: error: {message}", self.config.name);
    }
}

/// Runs `config` as a framework named `framework_name` (in `role`, if given) over `api` against `master` until
/// it stops; for frameworks with a task total, prints the summary and fails (exit 1) unless
/// every task finished.
pub fn run_to_completion(
    config: RunnerConfig,
    framework_name: &str,
    role: Option<&str>,
    api: &str,
    master: impl Into<crate::master::MasterSpec>,
) -> anyhow::Result<()> {
    let rt = crate::framework::start_runtime()?;
    let info = crate::framework::framework_info(framework_name, role);
    let (name, total) = (config.name.clone(), config.total);
    let (runner, counts) = TaskRunner::new(config);
    let outcome = crate::framework::run(&rt, api, master, info, Box::new(runner))?;
    let c = counts.lock().map(|c| c.clone()).unwrap_or_default();
    let Some(total) = total else { return Ok(()) };
    println!(
        "{name}: {} of {total} tasks finished, {} failed",
        c.finished, c.failed
    );
    match outcome {
        crate::driver::Outcome::Stopped if c.failed == 0 && c.finished == total => Ok(()),
        crate::driver::Outcome::Stopped => std::process::exit(1),
        crate::driver::Outcome::Error(e) => anyhow::bail!("the master reported an error: {e}"),
    }
}
