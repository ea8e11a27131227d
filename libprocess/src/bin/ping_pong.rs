//! `ping-pong`: two actors in two OS processes exchanging libprocess messages over HTTP.
//!
//! `ping-pong` (or `ping-pong demo`) starts a `ping-pong serve` child, then floods it with
//! protobuf messages and measures round trips, printing rates as it goes.
//! `ping-pong serve` runs the peer alone and prints `peer <upid>` (used by tests and the
//! transport benchmark).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use libprocess::bench::{self, Driver, Peer};
use libprocess::{Config, Runtime};

const USAGE: &str = "\
Usage: ping-pong [demo] [--seconds=N]
       ping-pong serve [--port=P] [--ip=IP]

demo   start a peer in a child process, then send it 256-byte protobuf messages
       for N seconds (default 3), printing messages/s each second, then measure
       round-trip latency (p50/p99)
serve  run the peer (process id `pong`) and print `peer <upid>`; runs until killed
       or until its standard input closes

Environment: LIBPROCESS_IP, LIBPROCESS_PORT, LIBPROCESS_ADVERTISE_IP,
LIBPROCESS_ADVERTISE_PORT are honoured as in Mesos.";

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args),
        None | Some("demo") => demo(&args),
        Some(flag) if flag.starts_with("--") => demo(&args),
        Some(other) => anyhow::bail!("unknown command '{other}'\n\n{USAGE}"),
    }
}

fn serve(args: &[String]) -> anyhow::Result<()> {
    let mut config = Config::local().from_env()?;
    if let Some(port) = flag(args, "--port") {
        config.port = port.parse()?;
    }
    if let Some(ip) = flag(args, "--ip") {
        config.ip = ip.parse()?;
    }
    let rt = Runtime::start(config)?;
    let pong = rt.spawn("pong", Peer::new(1000))?;
    println!("peer {}", pong.upid());
    // Exit when the parent goes away (stdin closes), or run until killed.
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

/// Kills the child peer when the demo ends, however it ends.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(args: &[String]) -> anyhow::Result<()> {
    let seconds: u64 = flag(args, "--seconds")
        .map(str::parse)
        .transpose()?
        .unwrap_or(3);
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no child stdout"))?;
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let peer = bench::read_peer_line(&line).ok_or_else(|| {
        anyhow::anyhow!("the peer did not announce itself (got '{}')", line.trim())
    })?;
    println!("ping-pong: peer process {} (pid {})", peer, guard.0.id());

    let rt = Runtime::start(Config::local().from_env()?)?;
    let driver = rt.spawn("ping", Driver::default())?;
    println!("ping-pong: driver process {}", driver.upid());
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio_rt.block_on(async {
        let body = bench::ping_body(256);
        let mut total = 0u64;
        for s in 1..=seconds {
            let n = 200_000;
            let took = bench::flood(&driver, &peer, body.clone(), n, 4000).await;
            total += n;
            println!(
                "ping-pong: second {s}: {:>9.0} messages/s one-way (256 B protobuf, {} sent so far)",
                n as f64 / took.as_secs_f64(),
                total
            );
        }
        let mut rtts = bench::round_trips(&driver, &peer, body, 10_000).await;
        println!(
            "ping-pong: round trip over {} pings: p50 {:.1} us, p99 {:.1} us",
            rtts.len(),
            bench::percentile_us(&mut rtts, 0.50),
            bench::percentile_us(&mut rtts, 0.99)
        );
    });
    std::thread::sleep(Duration::from_millis(50));
    rt.shutdown();
    drop(guard);
    Ok(())
}
