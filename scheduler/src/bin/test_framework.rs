//! `test-framework`: runs N command tasks (default 5) and exits 0 once all finished.

use clap::Parser;
use mesos_scheduler::master::resolve_master;
use mesos_scheduler::runner::{run_to_completion, RunnerConfig};

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "test-framework",
    about = "Runs N command tasks on a Mesos cluster and exits 0 when all finished."
)]
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

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = resolve_master(&flags.master)?;
    run_to_completion(
        RunnerConfig {
            name: "test-framework".into(),
            command: flags.command.clone(),
            task_cpus: flags.task_cpus,
            task_mem: flags.task_mem,
            total: Some(flags.tasks),
            max_running: usize::MAX,
        },
        "test-framework (Rust)",
        flags.role.as_deref(),
        &flags.api,
        master,
    )
}
