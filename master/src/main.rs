//! `mesos-master`: parses flags, starts the master, runs until interrupted.

use anyhow::Context as _;
use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let flags = mesos_master::Flags::parse();
    let level = match flags.logging_level.to_ascii_uppercase().as_str() {
        "WARNING" => "warn",
        "ERROR" => "error",
        _ => "info",
    };
    libprocess::logging::init("RUST_LOG", level);
    let master = mesos_master::start(flags).context("failed to start the master")?;
    println!(
        "mesos-master: serving as {} (id {})",
        master.upid(),
        master.info.id
    );
    // The runtime serves on its own thread; this one has nothing left to do. The process
    // ends on SIGINT/SIGTERM, like `mesos-master` (nothing needs flushing: every registry
    // write is durable once committed).
    loop {
        std::thread::park();
    }
}
