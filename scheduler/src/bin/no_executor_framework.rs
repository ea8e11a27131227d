//! `no-executor-framework`: runs command tasks (the agent's command executor runs them; the
//! framework ships no executor of its own) and exits 0 once all finished.

use clap::Parser;
use mesos_scheduler::master::resolve_master;
use mesos_scheduler::runner::{run_to_completion, RunnerConfig};

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "no-executor-framework",
    about = "Runs command tasks without a custom executor; exits 0 when all finished."
)]
struct Flags {
    /// The master: host:port, master@host:port or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    #[arg(long, default_value_t = 10)]
    num_tasks: usize,
    #[arg(long, default_value = "sleep 1")]
    command: String,
    #[arg(long, default_value_t = 0.1)]
    task_cpus: f64,
    #[arg(long, default_value_t = 32.0)]
    task_mem: f64,
    #[arg(long, default_value = "v0", value_parser = ["v0", "v1"])]
    api: String,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = resolve_master(&flags.master)?;
    run_to_completion(
        RunnerConfig {
            name: "no-executor-framework".into(),
            command: flags.command.clone(),
            task_cpus: flags.task_cpus,
            task_mem: flags.task_mem,
            total: Some(flags.num_tasks),
            max_running: usize::MAX,
        },
        "no-executor-framework (Rust)",
        None,
        &flags.api,
        master,
    )
}
