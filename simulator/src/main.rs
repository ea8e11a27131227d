//! `mesos-simulator`: N simulated agents and M simulated frameworks in one process against
//! any Mesos master (ours or genuine 1.11). Prints progress, a `READY` line once every agent is
//! registered and every task runs, and a `FAILOVER` line after each change of leader once
//! every agent re-registered and every framework re-subscribed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mesos_simulator::detect::{follow, MasterSpec};
use mesos_simulator::{SimConfig, Simulation};

#[derive(Parser, Debug)]
#[command(
    name = "mesos-simulator",
    rename_all = "snake_case",
    about = "Simulates thousands of Mesos agents and some frameworks in one process against a \
             master (ours or genuine Mesos 1.11), to measure registration, failover and scale."
)]
struct Args {
    /// The master: `host:port`, `master@host:port`, or `zk://host:port/path` to follow the
    /// leader (agents re-register and frameworks re-subscribe when it changes).
    #[arg(long)]
    master: String,
    /// Simulated agents (`slave(1)` … `slave(N)` of this process).
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Simulated frameworks.
    #[arg(long, default_value_t = 1)]
    frameworks: usize,
    /// Tasks each framework launches in total.
    #[arg(long, default_value_t = 100)]
    tasks_per_framework: usize,
    /// Most tasks on one agent, all frameworks together.
    #[arg(long, default_value_t = 10)]
    tasks_per_agent: usize,
    /// Each agent's resources, in Mesos's text form.
    #[arg(
        long,
        default_value = "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
    )]
    agent_resources: String,
    #[arg(long, default_value_t = 0.1)]
    task_cpus: f64,
    #[arg(long, default_value_t = 32.0)]
    task_mem: f64,
    /// Seconds a task runs before it reports TASK_FINISHED; 0 means forever.
    #[arg(long, default_value_t = 0.0)]
    task_duration: f64,
    /// First registrations per second (a ramp).
    #[arg(long, default_value_t = 2000.0)]
    registration_rate: f64,
    /// Decline filter, seconds, once a framework has launched its tasks (short: offers keep
    /// flowing).
    #[arg(long, default_value_t = 5.0)]
    refuse_seconds: f64,
    /// Hostname the agents report (default: this machine's).
    #[arg(long)]
    hostname: Option<String>,
    /// The frameworks' role (`*`: no role, the default role).
    #[arg(long, default_value = "*")]
    role: String,
    /// Agents per libprocess runtime (each its own port and thread).
    #[arg(long, default_value_t = 1000)]
    agents_per_runtime: usize,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5.0)]
    progress_interval: f64,
    /// Exit after this many seconds (0: run until killed).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Exit once the first failover completed (after its FAILOVER line).
    #[arg(long, default_value_t = false)]
    exit_after_failover: bool,
    /// IP to bind (LIBPROCESS_IP also works).
    #[arg(long)]
    ip: Option<std::net::Ipv4Addr>,
    /// Port to bind (LIBPROCESS_PORT also works; 0 picks one).
    #[arg(long)]
    port: Option<u16>,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|e| anyhow::anyhow!("--{name}={value}: {e}"))
}

fn main() -> anyhow::Result<()> {
    libprocess::logging::init("RUST_LOG", "warn");
    let args = Args::parse();
    let spec = MasterSpec::parse(&args.master)?;
    let mut runtime = libprocess::Config::local().from_env()?;
    if let Some(ip) = args.ip {
        runtime.ip = ip;
    }
    if let Some(port) = args.port {
        runtime.port = port;
    }
    let mut config = SimConfig {
        agents: args.agents,
        frameworks: args.frameworks,
        tasks_per_framework: args.tasks_per_framework,
        tasks_per_agent: args.tasks_per_agent,
        agent_resources: args.agent_resources.clone(),
        task_cpus: args.task_cpus,
        task_mem: args.task_mem,
        task_duration: None,
        registration_rate: args.registration_rate,
        refuse_seconds: args.refuse_seconds,
        role: args.role.clone(),
        agents_per_runtime: args.agents_per_runtime,
        ..SimConfig::default()
    };
    if args.task_duration > 0.0 {
        config.task_duration = Some(seconds("task_duration", args.task_duration)?);
    }
    if let Some(h) = &args.hostname {
        config.hostname = h.clone();
    }
    let progress =
        seconds("progress_interval", args.progress_interval)?.max(Duration::from_millis(100));
    let duration = seconds("duration", args.duration)?;
    let target = (args.frameworks as u64).saturating_mul(args.tasks_per_framework as u64);

    let started = Instant::now();
    let sim = Arc::new(Simulation::start(runtime, config)?);
    println!(
        "mesos-simulator: {} agents ({} per runtime) from {}, {} frameworks x {} tasks, master {}",
        args.agents,
        args.agents_per_runtime,
        sim.runtime.address(),
        args.frameworks,
        args.tasks_per_framework,
        args.master
    );
    follow(spec, sim.clone())?;

    let stats = sim.stats.clone();
    let mut ready = false;
    let mut reported_epoch = 1;
    let mut next_progress = Instant::now() + progress;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if !ready
            && stats.agents_registered.load(Ordering::Relaxed) >= args.agents
            && stats.frameworks_subscribed.load(Ordering::Relaxed) >= args.frameworks
            && stats.tasks_running.load(Ordering::Relaxed) >= target
        {
            ready = true;
            println!(
                "READY agents={} frameworks={} tasks_running={} after={:.3}s",
                args.agents,
                args.frameworks,
                stats.tasks_running.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
        let epoch = stats.epoch();
        if epoch > reported_epoch {
            if let Some(r) = stats.failover_done() {
                reported_epoch = epoch;
                println!(
                    "FAILOVER master={} agents_reregistered={} frameworks_resubscribed={} agents_ms={:.1} frameworks_ms={:.1} tasks_running={}",
                    r.master,
                    r.agents_reregistered,
                    r.frameworks_resubscribed,
                    r.agents_done.as_secs_f64() * 1e3,
                    r.frameworks_done.as_secs_f64() * 1e3,
                    stats.tasks_running.load(Ordering::Relaxed),
                );
                if args.exit_after_failover {
                    break;
                }
            }
        }
        if now >= next_progress {
            next_progress = now + progress;
            println!(
                "progress t={:.1}s {}",
                started.elapsed().as_secs_f64(),
                stats.progress_line()
            );
        }
        if !duration.is_zero() && started.elapsed() >= duration {
            break;
        }
    }
    sim.shutdown();
    Ok(())
}
