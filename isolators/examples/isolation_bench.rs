//! Isolation overhead per container, through handles as the containerizer will use them:
//! `prepare` + `isolate` (before the executor may run) and `cleanup` (destroy → gone),
//! for posix and for cgroups cpu+mem (v1 here), N containers each, p50/p99 in ms.
//!
//!     cargo run --release -p mesos-isolators --example isolation_bench -- [N]
//!
//! Needs root and cgroups v1 for the cgroups rows (skipped with a note otherwise). Uses
//! its own `--cgroups_root` and removes it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libprocess::{Config, Runtime};
use mesos_isolators::cgroups::CgroupsConfig;
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::registry::{start_isolators, IsolationFlags};
use mesos_isolators::{parse_isolation, ContainerId, IsolatorHandle};
use mesos_proto::mesos::{ExecutorId, ExecutorInfo};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn run(
    handles: &[IsolatorHandle],
    n: usize,
    tag: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let info = ExecutorInfo {
        executor_id: ExecutorId {
            value: "bench".into(),
        },
        resources: vec![scalar_resource("cpus", 0.1), scalar_resource("mem", 32.0)],
        ..Default::default()
    };
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = ContainerId::new(format!("bench-{tag}-{}-{i}", std::process::id()))?;
        let mut child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()?;
        let t = Instant::now();
        for h in handles {
            h.prepare(&c, &info, Path::new("/tmp"), None).await?;
        }
        for h in handles {
            h.isolate(&c, child.id()).await?;
        }
        up.push(t.elapsed());
        let t = Instant::now();
        for h in handles {
            h.cleanup(&c).await?;
        }
        down.push(t.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    up.sort();
    down.sort();
    Ok((up, down))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let rt = Runtime::start(Config::local())?;
    let cgroups = CgroupsConfig {
        root: format!("mesos-bench-{}", std::process::id()),
        ..Default::default()
    };
    let flags = IsolationFlags {
        cgroups: cgroups.clone(),
        ..Default::default()
    };
    println!("| isolation | containers | prepare+isolate p50 | p99 | cleanup p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for isolation in ["posix/cpu,posix/mem", "cgroups/cpu,cgroups/mem"] {
        let handles = match start_isolators(&rt, &parse_isolation(isolation)?, &flags) {
            Ok(h) => h,
            Err(e) => {
                println!("| {isolation} | skipped: {e} |||||");
                continue;
            }
        };
        let tag = isolation.split(',').next().unwrap_or("x").replace('/', "-");
        let (up, down) = run(&handles, n, &tag).await?;
        println!(
            "| {isolation} | {n} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&up, 0.5),
            percentile(&up, 0.99),
            percentile(&down, 0.5),
            percentile(&down, 0.99)
        );
    }
    // Per-container helpers (OOM listener threads) must end with their containers.
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    println!("\nthreads in this process after {n} containers per row: {threads}");
    for controller in ["cpu", "cpuacct", "memory", "freezer"] {
        let _ = std::fs::remove_dir(cgroups.hierarchy.join(controller).join(&cgroups.root));
    }
    rt.shutdown();
    Ok(())
}
