//! Container latency through the containerizer (`mesos-containerizer`), as the agent uses
//! it: launch → running (prepare every isolator, start held, isolate, release) and
//! destroy → gone (kill, every isolator's cleanup, executor reaped), N containers each, for
//! posix, cgroups cpu+mem, and cgroups cpu+mem with a PID namespace. Prints p50/p99 in ms.
//!
//!     cargo run -p mesos-agent --example containerizer_bench -- [N]
//!
//! The cgroups rows need root and cgroups v1 (skipped with a note otherwise); they use
//! their own `--cgroups_root`, removed at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::{Config, Pid, Runtime};
use mesos_agent::containerizer::{send, Call, Containerizer, LaunchSpec};
use mesos_isolators::cgroups::CgroupsConfig;
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::parse_isolation;
use mesos_isolators::registry::{start_isolators, IsolationFlags};
use mesos_proto::mesos::{CommandInfo, ExecutorId, ExecutorInfo};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn spec(dir: &Path) -> LaunchSpec {
    LaunchSpec {
        executor: ExecutorInfo {
            executor_id: ExecutorId {
                value: "bench".into(),
            },
            command: Some(CommandInfo {
                value: Some("exec sleep 300".into()),
                ..Default::default()
            }),
            resources: vec![scalar_resource("cpus", 0.1), scalar_resource("mem", 32.0)],
            ..Default::default()
        },
        framework_id: "bench".into(),
        agent_id: "bench".into(),
        agent_pid: "slave(1)@127.0.0.1:5051".parse().expect("upid"),
        directory: dir.to_path_buf(),
        checkpoint: false,
        shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        user: None,
    }
}

async fn run(
    cz: &Pid<Containerizer>,
    dir: &Path,
    n: usize,
    tag: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..n {
        let id = format!("bench-{tag}-{}-{i}", std::process::id());
        let s = spec(dir);
        let t = Instant::now();
        let (call, answer) = Call::launch(id.clone(), s);
        send(cz, call);
        let launched = answer
            .await?
            .map_err(|e| anyhow::anyhow!("launch {id}: {e}"))?;
        up.push(t.elapsed());
        let t = Instant::now();
        send(cz, Call::destroy(id));
        launched.termination.await?;
        down.push(t.elapsed());
    }
    Ok((up, down))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let root = format!("mesos-cz-bench-{}", std::process::id());
    let v1 = Path::new("/sys/fs/cgroup/memory/tasks").is_file()
        && Path::new("/sys/fs/cgroup/freezer/tasks").is_file();
    let dir: PathBuf = std::env::temp_dir().join(format!("cz-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("| isolation | launch→running p50 | p99 | destroy→gone p50 | p99 |");
    println!("|---|---|---|---|---|");
    let mut p50s = Vec::new();
    for (tag, isolation, cgroups) in [
        ("posix", "posix/cpu,posix/mem", false),
        ("cgroups", "cgroups/cpu,cgroups/mem", true),
        (
            "cgroups-pidns",
            "cgroups/cpu,cgroups/mem,namespaces/pid",
            true,
        ),
    ] {
        if cgroups && !v1 {
            println!("| {isolation} | skipped: no cgroups v1 here | | | |");
            continue;
        }
        let rt = Runtime::start(Config::local())?;
        let flags = IsolationFlags {
            cgroups: CgroupsConfig {
                root: root.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let handles = start_isolators(&rt, &parse_isolation(isolation)?, &flags)?;
        let cz = rt.spawn("mesos-containerizer(1)", Containerizer::new(handles))?;
        let (mut up, mut down) = run(&cz, &dir, n, tag).await?;
        up.sort();
        down.sort();
        println!(
            "| {isolation} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&up, 0.5),
            percentile(&up, 0.99),
            percentile(&down, 0.5),
            percentile(&down, 0.99)
        );
        p50s.push((isolation, percentile(&up, 0.5), percentile(&down, 0.5)));
        rt.shutdown();
    }
    if let (Some(posix), Some(cg)) = (p50s.first(), p50s.get(1)) {
        println!(
            "\ncgroups cpu+mem adds {:.2} ms p50 to launch→running and {:.2} ms to destroy→gone over posix ({n} containers each)",
            cg.1 - posix.1,
            cg.2 - posix.2
        );
    }
    for c in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(c).join(&root));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
