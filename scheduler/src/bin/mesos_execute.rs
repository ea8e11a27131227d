//! `mesos-execute`: launches one command task and follows it to a terminal state; exits 0 iff
//! the task finished.

use clap::Parser;
use mesos_proto::mesos::{FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::driver::{DriverHandle, Outcome, Scheduler};
use mesos_scheduler::framework::{self, command_task, is_terminal};
use mesos_scheduler::master::resolve_master;

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "mesos-execute",
    about = "Launches one command task on a Mesos cluster and follows it to a terminal state."
)]
struct Flags {
    /// The master: host:port, master@host:port, zk://host:port/path (followed to each new
    /// leader) or file:///path.
    #[arg(long, env = "MESOS_MASTER")]
    master: String,
    /// The task (and framework) name.
    #[arg(long)]
    name: String,
    /// The shell command to run.
    #[arg(long)]
    command: String,
    /// Resources for the task, e.g. `cpus:0.5;mem:128` (cpus and mem).
    #[arg(long, default_value = "cpus:0.1;mem:32")]
    resources: String,
    /// The role to register in.
    #[arg(long)]
    role: Option<String>,
}

struct Execute {
    name: String,
    command: String,
    cpus: f64,
    mem: f64,
    launched: bool,
    result: std::sync::mpsc::Sender<i32>,
}

impl Scheduler for Execute {
    fn registered(&mut self, _d: &mut DriverHandle<'_>, id: &FrameworkId, _m: &MasterInfo) {
        println!("Subscribed with ID {}", id.value);
    }

    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                d.decline(offer.id.clone(), Some(3600.0));
                continue;
            }
            let mut remaining = offer.resources.clone();
            match command_task(
                &offer,
                &mut remaining,
                &self.name,
                &self.command,
                self.cpus,
                self.mem,
            ) {
                Some(task) => {
                    println!(
                        "Submitted task '{}' to agent '{}'",
                        self.name, offer.slave_id.value
                    );
                    d.launch(vec![offer.id.clone()], vec![task], None);
                    self.launched = true;
                }
                None => d.decline(offer.id.clone(), Some(5.0)),
            }
        }
    }

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        println!("{}", framework::describe_status(status));
        if is_terminal(status.state) {
            let _ = self.result.send(status.state);
            d.stop(false);
        }
    }

    fn error(&mut self, _d: &mut DriverHandle<'_>, message: &str) {
        eprintln!("mesos-execute: error: {message}");
    }
}

/// Reads `cpus` and `mem` from `cpus:0.5;mem:128`.
fn parse_resources(text: &str) -> anyhow::Result<(f64, f64)> {
    let (mut cpus, mut mem) = (0.0, 0.0);
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("bad resource '{part}' (expected name:value)"))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("bad value in '{part}'"))?;
        match name.trim() {
            "cpus" => cpus = value,
            "mem" => mem = value,
            other => anyhow::bail!("mesos-execute supports cpus and mem, not '{other}'"),
        }
    }
    Ok((cpus, mem))
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let master = resolve_master(&flags.master)?;
    let (cpus, mem) = parse_resources(&flags.resources)?;
    let rt = framework::start_runtime()?;
    let info = framework::framework_info(&flags.name, flags.role.as_deref());
    let (tx, rx) = std::sync::mpsc::channel();
    let scheduler = Execute {
        name: flags.name,
        command: flags.command,
        cpus,
        mem,
        launched: false,
        result: tx,
    };
    let outcome = framework::run(&rt, "v0", master, info, Box::new(scheduler))?;
    if let Outcome::Error(e) = outcome {
        anyhow::bail!("the master reported an error: {e}");
    }
    match rx.try_recv() {
        Ok(state) if state == TaskState::TaskFinished as i32 => Ok(()),
        _ => std::process::exit(1),
    }
}
