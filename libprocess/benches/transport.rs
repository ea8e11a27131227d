//! Transport benchmark: prints a table (run with `cargo bench -p libprocess --bench transport`).
//!
//! - one-way throughput between two actors in two OS processes over loopback, 256 B and
//!   4 KB protobuf bodies (the peer acks every 1000 messages; at most 4000 in flight);
//! - ping-pong round-trip latency, p50/p99;
//! - in-process actor-to-actor throughput (local delivery, no network).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use libprocess::bench::{self, Driver, Peer};
use libprocess::{Config, Runtime};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_ping-pong"))
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the ping-pong peer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("peer line");
    let peer = bench::read_peer_line(&line).expect("peer upid");

    let rt = Runtime::start(Config::local()).expect("runtime");
    let driver = rt.spawn("ping", Driver::default()).expect("driver");
    let local_peer = rt.spawn("pong", Peer::new(1000)).expect("local peer");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");

    let mut rows: Vec<(String, String, String)> = Vec::new();
    tokio_rt.block_on(async {
        // Warm up connections and allocators.
        bench::flood(&driver, &peer, bench::ping_body(256), 50_000, 4000).await;
        for (label, size, n) in [("256 B", 256usize, 1_000_000u64), ("4 KB", 4096, 200_000)] {
            let body = bench::ping_body(size);
            let mut best = Duration::MAX;
            for _ in 0..3 {
                best = best.min(bench::flood(&driver, &peer, body.clone(), n, 4000).await);
            }
            let rate = n as f64 / best.as_secs_f64();
            let mb = rate * body.len() as f64 / 1e6;
            rows.push((
                format!("one-way, 2 processes, {label} protobuf"),
                format!("{rate:>10.0} msg/s"),
                format!("{mb:.0} MB/s of body, {n} msgs, best of 3"),
            ));
        }
        let mut rtts = bench::round_trips(&driver, &peer, bench::ping_body(256), 20_000).await;
        rows.push((
            "round trip, 2 processes, 256 B".into(),
            format!("p50 {:>6.1} us", bench::percentile_us(&mut rtts, 0.50)),
            format!(
                "p99 {:.1} us, {} round trips",
                bench::percentile_us(&mut rtts, 0.99),
                rtts.len()
            ),
        ));
        let n = 2_000_000u64;
        let took = bench::flood(&driver, local_peer.upid(), bench::ping_body(256), n, 4000).await;
        rows.push((
            "in-process actor to actor, 256 B".into(),
            format!("{:>10.0} msg/s", n as f64 / took.as_secs_f64()),
            format!("{n} msgs, local delivery"),
        ));
    });
    let _ = child.kill();
    let _ = child.wait();
    rt.shutdown();

    println!("\n| benchmark | result | notes |\n|---|---|---|");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
