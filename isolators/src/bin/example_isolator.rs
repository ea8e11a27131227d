//! `example-isolator`: an external isolator in its own OS process. It hosts
//! [`mesos_isolators::example::ExampleIsolator`] at `example-isolator@ip:port`, prints
//! `isolator <upid>` and serves the isolator protocol over the libprocess transport until
//! its standard input closes. Name it in `--isolation` by that UPID.
//!
//! `--mute` accepts every call and never answers, to show what a hung isolator does to
//! its clients (they time out).

use libprocess::{Config, Ctx, Process, Runtime};
use mesos_isolators::example::ExampleIsolator;
use mesos_isolators::protocol::{CALL_KINDS, MESSAGE_PREFIX};
use mesos_isolators::IsolatorProcess;

const USAGE: &str = "\
Usage: example-isolator [--ip=IP] [--port=P] [--mute]

Serves the example isolator as `example-isolator@IP:PORT` and prints `isolator <upid>`.
Runs until its standard input closes. --mute: receive calls but never answer.
LIBPROCESS_IP / LIBPROCESS_PORT are honoured as in Mesos.";

/// Receives isolator calls and drops them.
struct Mute;

impl Process for Mute {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for kind in CALL_KINDS {
            ctx.install_raw(&format!("{MESSAGE_PREFIX}{kind}"), move |_, _, from, _| {
                tracing::info!(%from, call = kind, "ignoring isolator call (--mute)");
            });
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

fn main() -> anyhow::Result<()> {
    libprocess::logging::init("RUST_LOG", "warn");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let mut config = Config::local().from_env()?;
    if let Some(port) = flag(&args, "--port") {
        config.port = port.parse()?;
    }
    if let Some(ip) = flag(&args, "--ip") {
        config.ip = ip.parse()?;
    }
    let rt = Runtime::start(config)?;
    let upid = if args.iter().any(|a| a == "--mute") {
        rt.spawn("example-isolator", Mute)?.upid().clone()
    } else {
        let process = IsolatorProcess::new(ExampleIsolator::default());
        rt.spawn("example-isolator", process)?.upid().clone()
    };
    println!("isolator {upid}");
    let mut line = String::new();
    while std::io::stdin()
        .read_line(&mut line)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        line.clear();
    }
    rt.shutdown();
    Ok(())
}
