//! `balloon-framework` (as in Mesos): runs one task whose memory grows past its limit and
//! prints every update with its source and reason. Exits 0 iff the agent killed the task
//! for its memory (TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY): run it against an
//! agent with `--isolation=cgroups/mem` to see memory isolation work.

use clap::Parser;
use mesos_scheduler::balloon::Balloon;
use mesos_scheduler::driver::Outcome;
use mesos_scheduler::framework;
use mesos_scheduler::master::resolve_master;

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "balloon-framework",
    about = "Runs a task that grows its memory past its limit, to exercise memory isolation."
)]
struct Flags {
    /// The master: host:port, master@host:port or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    /// The task's `mem` resource, in MB (its limit).
    #[arg(long, default_value_t = 128.0)]
    task_memory: f64,
    /// How far the task grows its memory, in MB.
    #[arg(long, default_value_t = 1024)]
    task_memory_usage_limit: u64,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    if !(flags.task_memory.is_finite() && flags.task_memory > 0.0) {
        anyhow::bail!("--task_memory must be a positive number of MB");
    }
    let master = resolve_master(&flags.master)?;
    let rt = framework::start_runtime()?;
    let info = framework::framework_info("Balloon Framework (Rust)", None);
    let (tx, rx) = std::sync::mpsc::channel();
    let scheduler = Balloon {
        task_memory_mb: flags.task_memory,
        usage_limit_mb: flags.task_memory_usage_limit,
        launched: false,
        updates: tx,
    };
    let outcome = framework::run(&rt, "v0", master, info, Box::new(scheduler))?;
    if let Outcome::Error(e) = outcome {
        anyhow::bail!("the master reported an error: {e}");
    }
    match rx.try_iter().last() {
        Some(last) if Balloon::killed_for_memory(&last) => Ok(()),
        _ => std::process::exit(1),
    }
}
