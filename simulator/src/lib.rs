//! A cluster simulator: thousands of simulated agents and a few simulated frameworks in one
//! process, speaking the genuine Mesos 1.11 libprocess protocol to any master (ours or the
//! genuine one), so that both are measured at scale in the same run.
//!
//! - [`agent`]: `slave(N)` processes that register (`RegisterSlaveMessage`), answer pings,
//!   "run" the tasks they are given by reporting status updates (reliably, until
//!   acknowledged) and re-register with their tasks when a new master leads.
//! - [`framework`]: `scheduler-<uuid>` processes (the v0 driver's messages) that accept
//!   offers, launch tasks up to a target and re-subscribe with their framework id on failover.
//! - [`stats`]: shared counters and the failover timings the binary prints.
//! - [`detect`]: the master to talk to: a fixed UPID, or the leader a `zk://` URL names.
//!
//! Simulated processes share libprocess runtimes (one port and one thread each; one
//! connection per peer address), like the agents of genuine `mesos-local`, which are
//! `slave(N)` of one process. Agents are spread over runtimes of `agents_per_runtime` each:
//! a master keeps one outbound queue per address, so 10,000 agents behind one address share
//! one queue (and its cap), and one thread would read all their messages.
#![forbid(unsafe_code)]

pub mod agent;
pub mod detect;
pub mod framework;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use libprocess::{Config, Pid, Runtime, Upid};
use mesos_proto::mesos::Resource;

pub use stats::{FailoverReport, Stats};

/// The Mesos version the simulated agents announce (a genuine master checks it).
pub const VERSION: &str = "1.11.0";

/// Why a simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Runtime(#[from] libprocess::Error),
    #[error("invalid --agent_resources '{text}': {reason}")]
    Resources { text: String, reason: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub agents: usize,
    pub frameworks: usize,
    /// Tasks each framework launches in total (the cluster target is `frameworks ×` this).
    pub tasks_per_framework: usize,
    /// Most tasks on one agent, all frameworks together (so a cluster of `agents ×` this
    /// tasks has exactly this many on each agent once full).
    pub tasks_per_agent: usize,
    /// Each agent's total resources (Mesos text form).
    pub agent_resources: String,
    pub task_cpus: f64,
    pub task_mem: f64,
    /// Tasks report TASK_FINISHED this long after TASK_RUNNING; `None`: they run forever.
    pub task_duration: Option<Duration>,
    /// First registrations per second (a ramp, so a master is not hit by all at once).
    pub registration_rate: f64,
    /// Decline filter frameworks send once their target is reached (offers keep flowing
    /// when it is short).
    pub refuse_seconds: f64,
    /// `FrameworkInfo.failover_timeout` (seconds).
    pub failover_timeout: f64,
    /// The agents' hostname (genuine agents send the machine's).
    pub hostname: String,
    /// The role frameworks subscribe with.
    pub role: String,
    /// Agents per runtime (port); frameworks live on the first runtime.
    pub agents_per_runtime: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            agents: 100,
            frameworks: 1,
            tasks_per_framework: 100,
            tasks_per_agent: 10,
            agent_resources: "cpus:16;mem:65536;disk:100000;ports:[31000-32000]".into(),
            task_cpus: 0.1,
            task_mem: 32.0,
            task_duration: None,
            registration_rate: 2000.0,
            refuse_seconds: 5.0,
            failover_timeout: 7.0 * 24.0 * 3600.0,
            hostname: libprocess::config::hostname(),
            role: "*".into(),
            agents_per_runtime: 1000,
        }
    }
}

/// Checks the settings; returns the agents' resources.
fn validate(config: &SimConfig) -> Result<Vec<Resource>, SimError> {
    if !(config.registration_rate.is_finite() && config.registration_rate > 0.0) {
        return Err(SimError::Invalid(
            "--registration_rate must be a positive number".into(),
        ));
    }
    if !(config.refuse_seconds.is_finite() && config.refuse_seconds >= 0.0) {
        return Err(SimError::Invalid(
            "--refuse_seconds must be a non-negative number".into(),
        ));
    }
    mesos_allocator::Resources::parse(&config.agent_resources, "*")
        .map(|r| r.to_protos())
        .map_err(|e| SimError::Resources {
            text: config.agent_resources.clone(),
            reason: e.to_string(),
        })
}

/// What every simulated process shares.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub resources: Vec<Resource>,
    pub stats: Arc<Stats>,
    /// Tasks placed per agent id by all frameworks (for `tasks_per_agent`).
    pub placed: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// A running simulation.
pub struct Simulation {
    /// The first runtime (the frameworks' and the first agents').
    pub runtime: Runtime,
    /// Further runtimes hosting agents (see `agents_per_runtime`).
    extra: Vec<Runtime>,
    pub stats: Arc<Stats>,
    agents: Vec<Pid<agent::SimAgent>>,
    frameworks: Vec<Pid<framework::SimFramework>>,
}

impl Simulation {
    /// Starts a runtime (from `runtime`), the agents and the frameworks. Nobody talks to a
    /// master until [`Simulation::master_detected`] names one.
    pub fn start(runtime: Config, config: SimConfig) -> Result<Simulation, SimError> {
        let resources = validate(&config)?;
        let per = config.agents_per_runtime.max(1);
        let count = config.agents.div_ceil(per).max(1);
        let mut runtimes = Vec::with_capacity(count);
        for i in 0..count {
            let mut c = runtime.clone();
            if i > 0 {
                // Further runtimes on free ports of the same IP.
                c.port = 0;
                c.advertise_port = None;
            }
            let rt = Runtime::start(c)?;
            rt.set_validator(|name, body| {
                mesos_proto::check(name, body).map_err(|e| e.to_string())
            });
            runtimes.push(rt);
        }
        Self::start_on(runtimes, config, resources)
    }

    /// Like [`Simulation::start`] on an existing runtime (tests pause its clock first).
    pub fn start_in(rt: Runtime, config: SimConfig) -> Result<Simulation, SimError> {
        let resources = validate(&config)?;
        Self::start_on(vec![rt], config, resources)
    }

    fn start_on(
        runtimes: Vec<Runtime>,
        config: SimConfig,
        resources: Vec<Resource>,
    ) -> Result<Simulation, SimError> {
        let mut runtimes = runtimes.into_iter();
        let rt = runtimes
            .next()
            .ok_or_else(|| SimError::Invalid("no runtime".into()))?;
        let extra: Vec<Runtime> = runtimes.collect();
        let per = config.agents_per_runtime.max(1);
        let stats = Arc::new(Stats::new(config.agents, config.frameworks));
        let shared = Arc::new(Shared {
            config: config.clone(),
            resources,
            stats: stats.clone(),
            placed: Default::default(),
        });
        let mut agents = Vec::with_capacity(config.agents);
        for index in 0..config.agents {
            // `slave(N)` as genuine agents are named; N from 1.
            let host = match index / per {
                0 => &rt,
                n => extra.get(n - 1).unwrap_or(&rt),
            };
            let id = host.generate_id("slave");
            agents.push(host.spawn(id, agent::SimAgent::new(index, shared.clone()))?);
        }
        let mut frameworks = Vec::with_capacity(config.frameworks);
        for index in 0..config.frameworks {
            let id = format!("scheduler-{}", uuid::Uuid::new_v4());
            frameworks.push(rt.spawn(id, framework::SimFramework::new(index, shared.clone()))?);
        }
        Ok(Simulation {
            runtime: rt,
            extra,
            stats,
            agents,
            frameworks,
        })
    }

    /// A (new) leading master: every agent (re-)registers with it, every framework
    /// (re-)subscribes. Starts a new failover epoch in [`Stats`] unless it is the first.
    pub fn master_detected(&self, master: Upid) {
        let epoch = self.stats.leader_changed(&master);
        tracing::info!(%master, epoch, "leading master detected");
        for agent in &self.agents {
            let m = master.clone();
            agent.dispatch("master_detected", move |a, ctx| {
                a.master_detected(ctx, m, epoch)
            });
        }
        for fw in &self.frameworks {
            let m = master.clone();
            fw.dispatch("master_detected", move |f, ctx| {
                f.master_detected(ctx, m, epoch)
            });
        }
    }

    /// Stops every simulated process and the runtime.
    pub fn shutdown(&self) {
        self.runtime.shutdown();
        for rt in &self.extra {
            rt.shutdown();
        }
    }
}
