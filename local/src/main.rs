//! `mesos-local`: a master and N agents in one process (on free or given ports), plus a
//! demo framework, for trying Mesos on one machine.
//!
//! Executors must be separate processes; this one binary also serves as `mesos-executor`
//! and `mesos-default-executor` (busybox style: the agents' launcher directory holds links
//! of those names to it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use mesos_scheduler::driver::Outcome;
use mesos_scheduler::runner::{RunnerConfig, TaskRunner};

#[derive(Parser, Debug)]
#[command(
    rename_all = "snake_case",
    name = "mesos-local",
    about = "Runs a Mesos master and N agents in one process, then a demo framework.",
    after_help = "Executors run as separate processes of this same binary (`mesos-executor` and `mesos-default-executor` links in the launcher directory)."
)]
struct Flags {
    /// Number of agents.
    #[arg(long, env = "MESOS_NUM_SLAVES", default_value_t = 3)]
    num_slaves: usize,
    /// The master's port (0 picks a free one).
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    port: u16,
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    ip: std::net::Ipv4Addr,
    /// Resources of each agent (Mesos syntax).
    #[arg(
        long,
        env = "MESOS_RESOURCES",
        default_value = "cpus:2;mem:2048;disk:8192;ports:[31000-32000]"
    )]
    resources: String,
    /// Where the agents keep sandboxes (default: a new temporary directory).
    #[arg(long, env = "MESOS_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Tasks the demo framework runs (0: no demo).
    #[arg(long, default_value_t = 10)]
    demo_tasks: usize,
    /// The demo tasks' command.
    #[arg(long, default_value = "echo hello from mesos-local; sleep 0.5")]
    demo_command: String,
    /// Exit after the demo instead of serving until interrupted.
    #[arg(long)]
    exit_after_demo: bool,
    /// Where agents find `mesos-executor` and `mesos-default-executor` (default: next to
    /// this binary if both were built there, else links to this binary, which also serves
    /// as both executors).
    #[arg(long, env = "MESOS_LAUNCHER_DIR")]
    launcher_dir: Option<PathBuf>,
    /// Allocation interval for the master (stout duration).
    #[arg(long, default_value = "1secs")]
    allocation_interval: String,
}

fn main() -> anyhow::Result<()> {
    if let Some(executor) = executor_invocation() {
        libprocess::logging::init("MESOS_LOG", "info");
        let code = match executor {
            COMMAND_EXECUTOR => {
                mesos_executors::run().map_err(|e| anyhow::anyhow!("{COMMAND_EXECUTOR}: {e}"))?
            }
            _ => mesos_executors::run_default_executor()
                .map_err(|e| anyhow::anyhow!("{DEFAULT_EXECUTOR}: {e}"))?,
        };
        std::process::exit(code);
    }
    let flags = Flags::parse();
    libprocess::logging::init("RUST_LOG", "warn");
    let started = Instant::now();

    let work_dir = match &flags.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("mesos-local-{}", std::process::id())),
    };
    let launcher_dir = launcher_dir(&flags, &work_dir)?;

    // Like the agents, the master may take any free port when its own is in use.
    let port = if flags.port != 0 && std::net::TcpListener::bind((flags.ip, flags.port)).is_err() {
        println!(
            "mesos-local: port {} is in use; the master takes a free port",
            flags.port
        );
        0
    } else {
        flags.port
    };
    let master = mesos_master::start(mesos_master::Flags::try_parse_from([
        "mesos-master".to_string(),
        format!("--ip={}", flags.ip),
        format!("--port={port}"),
        format!("--allocation_interval={}", flags.allocation_interval),
        format!("--work_dir={}", work_dir.join("master").display()),
    ])?)?;
    let master_addr = master.address();
    println!(
        "mesos-local: master {} (web: http://{}/state)",
        master.upid(),
        master_addr
    );

    let mut agents = Vec::new();
    for i in 0..flags.num_slaves {
        let agent_flags = mesos_agent::Flags::try_parse_from([
            "mesos-agent".to_string(),
            format!("--master={master_addr}"),
            format!("--ip={}", flags.ip),
            "--port=0".to_string(),
            format!(
                "--work_dir={}",
                work_dir.join(format!("agent-{i}")).display()
            ),
            format!("--resources={}", flags.resources),
            format!("--launcher_dir={}", launcher_dir.display()),
            "--registration_backoff_factor=10ms".to_string(),
        ])?;
        let agent = mesos_agent::run(&agent_flags)?;
        println!(
            "mesos-local: agent {} ({})",
            agent.slave.upid(),
            flags.resources
        );
        agents.push(agent);
    }
    wait_for_agents(master_addr, flags.num_slaves, Duration::from_secs(30))?;
    println!(
        "mesos-local: {} agent(s) registered in {:.2}s; sandboxes under {}",
        flags.num_slaves,
        started.elapsed().as_secs_f64(),
        work_dir.display()
    );

    if flags.demo_tasks > 0 {
        run_demo(&flags, master.upid().clone())?;
    }
    if flags.exit_after_demo {
        for a in &agents {
            a.runtime.shutdown();
        }
        master.shutdown();
        return Ok(());
    }
    println!("mesos-local: serving; state at http://{master_addr}/state — press Ctrl-C to stop");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

const COMMAND_EXECUTOR: &str = "mesos-executor";
const DEFAULT_EXECUTOR: &str = "mesos-default-executor";
const EXECUTORS: [&str; 2] = [COMMAND_EXECUTOR, DEFAULT_EXECUTOR];

/// Which executor this process was started as (through a link of that name), if any.
fn executor_invocation() -> Option<&'static str> {
    let arg0 = std::env::args_os().next()?;
    let name = Path::new(&arg0).file_name()?;
    EXECUTORS.into_iter().find(|e| name == *e)
}

/// The dedicated executor binaries are smaller and start faster than this one, so they are
/// preferred when both were built next to us; otherwise this binary serves through links.
fn launcher_dir(flags: &Flags, work_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &flags.launcher_dir {
        return Ok(dir.clone());
    }
    let exe = std::env::current_exe()?;
    // Siblings older than this binary may come from an earlier build: use them only if fresh.
    let built = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let ours = built(&exe);
    if let Some(dir) = exe.parent().filter(|d| {
        EXECUTORS
            .iter()
            .all(|e| d.join(e).is_file() && built(&d.join(e)) >= ours)
    }) {
        return Ok(dir.to_path_buf());
    }
    let dir = work_dir.join("launcher");
    std::fs::create_dir_all(&dir)?;
    for name in EXECUTORS {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link)?;
    }
    Ok(dir)
}

/// Polls the master's metrics until `n` agents are active.
fn wait_for_agents(
    master: std::net::SocketAddrV4,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(body) = http_get(master, "/metrics/snapshot") {
            let active = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|m| m["master/slaves_active"].as_f64())
                .unwrap_or(0.0);
            if active as usize >= n {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("only some of the {n} agents registered within {timeout:?}")
}

fn http_get(addr: std::net::SocketAddrV4, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn run_demo(flags: &Flags, master: libprocess::Upid) -> anyhow::Result<()> {
    println!(
        "mesos-local: demo framework: {} task(s) running `{}`",
        flags.demo_tasks, flags.demo_command
    );
    let rt = mesos_scheduler::framework::start_runtime()?;
    let info = mesos_scheduler::framework::framework_info("mesos-local demo", None);
    let (runner, counts) = TaskRunner::new(RunnerConfig {
        name: "demo".into(),
        command: flags.demo_command.clone(),
        task_cpus: 0.1,
        task_mem: 32.0,
        total: Some(flags.demo_tasks),
        max_running: usize::MAX,
    });
    let began = Instant::now();
    let outcome = mesos_scheduler::framework::run(&rt, "v0", master, info, Box::new(runner))?;
    let c = counts.lock().map(|c| c.clone()).unwrap_or_default();
    println!(
        "mesos-local: demo done in {:.2}s: {} finished, {} failed{}",
        began.elapsed().as_secs_f64(),
        c.finished,
        c.failed,
        match outcome {
            Outcome::Error(e) => format!(" (error: {e})"),
            Outcome::Stopped => String::new(),
        }
    );
    Ok(())
}
