//! `long-lived-framework`: keeps a steady number of long-running tasks on the cluster,
//! replacing each one that ends; runs until killed (or for `--run_for`).

use std::time::Duration;

use clap::Parser;
use mesos_scheduler::framework;
use mesos_scheduler::master::resolve_master;
use mesos_scheduler::runner::{RunnerConfig, TaskRunner};

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "long-lived-framework",
    about = "Keeps long-running tasks on a Mesos cluster, replacing those that end."
)]
struct Flags {
    /// The master: host:port, master@host:port or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    /// How many tasks to keep running.
    #[arg(long, default_value_t = 2)]
    tasks: usize,
    /// The command each task runs.
    #[arg(long, default_value = "sleep 30")]
    command: String,
    #[arg(long, default_value_t = 0.1)]
    task_cpus: f64,
    #[arg(long, default_value_t = 32.0)]
    task_mem: f64,
    /// Stop (tearing the framework down) after this many seconds; default: never.
    #[arg(long)]
    run_for: Option<u64>,
    #[arg(long, default_value = "v0", value_parser = ["v0", "v1"])]
    api: String,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = resolve_master(&flags.master)?;
    let rt = framework::start_runtime()?;
    let info = framework::framework_info("long-lived-framework (Rust)", None);
    let (runner, counts) = TaskRunner::new(RunnerConfig {
        name: "long-lived-framework".into(),
        command: flags.command.clone(),
        task_cpus: flags.task_cpus,
        task_mem: flags.task_mem,
        total: None,
        max_running: flags.tasks,
    });
    if let Some(secs) = flags.run_for {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            let c = counts.lock().map(|c| c.clone()).unwrap_or_default();
            println!(
                "long-lived-framework: ran for {secs}s: {} launched, {} finished, {} failed",
                c.launched, c.finished, c.failed
            );
            std::process::exit(0);
        });
    }
    framework::run(&rt, &flags.api, master, info, Box::new(runner))?;
    Ok(())
}
