//! `mesos-agent`: see `mesos-agent --help`.

use anyhow::Context;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    libprocess::logging::init("MESOS_LOG", "info");
    let flags = mesos_agent::Flags::parse();
    let agent = mesos_agent::run(&flags).context("failed to start the agent")?;
    tracing::info!(pid = %agent.slave.upid(), "mesos-agent started");
    let why = agent
        .shutdown
        .recv()
        .unwrap_or_else(|_| "agent process stopped".into());
    tracing::warn!(%why, "agent shutting down");
    agent.runtime.shutdown();
    Ok(())
}
