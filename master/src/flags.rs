//! Master command-line flags, with Mesos's names and `MESOS_*` environment fallbacks.
//!
//! Durations use stout's syntax (`500ms`, `1secs`, `15mins`), which is what operators and
//! scripts written for the genuine `mesos-master` pass.

use std::net::Ipv4Addr;
use std::time::Duration;

use clap::Parser;

/// A duration in stout's text form (parsed and rendered by [`libprocess::duration`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoutDuration(pub Duration);

pub use libprocess::duration::DurationError;

impl std::str::FromStr for StoutDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        libprocess::duration::parse(s).map(StoutDuration)
    }
}

impl std::fmt::Display for StoutDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&libprocess::duration::format(self.0))
    }
}

/// The master's flags (`mesos-master --help`).
#[derive(Debug, Clone, Parser)]
#[command(name = "mesos-master", version = crate::VERSION, about = "The Mesos master", rename_all = "snake_case")]
pub struct Flags {
    /// IP address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    pub ip: Ipv4Addr,

    /// Port to listen on.
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    pub port: u16,

    /// IP address advertised to reach this master.
    #[arg(long, env = "MESOS_ADVERTISE_IP")]
    pub advertise_ip: Option<Ipv4Addr>,

    /// Port advertised to reach this master.
    #[arg(long, env = "MESOS_ADVERTISE_PORT")]
    pub advertise_port: Option<u16>,

    /// Directory for the master's files.
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: Option<String>,

    /// The hostname the master reports (default: see `--hostname_lookup`).
    #[arg(long, env = "MESOS_HOSTNAME")]
    pub hostname: Option<String>,

    /// Human readable cluster name.
    #[arg(long, env = "MESOS_CLUSTER")]
    pub cluster: Option<String>,

    /// Time between batched allocations.
    #[arg(long, env = "MESOS_ALLOCATION_INTERVAL", default_value = "1secs")]
    pub allocation_interval: StoutDuration,

    /// How long an offer stays valid before it is rescinded (none by default).
    #[arg(long, env = "MESOS_OFFER_TIMEOUT")]
    pub offer_timeout: Option<StoutDuration>,

    /// Time between pings to each agent.
    #[arg(long, env = "MESOS_AGENT_PING_TIMEOUT", default_value = "15secs")]
    pub agent_ping_timeout: StoutDuration,

    /// Missed pings in a row after which an agent is marked unreachable.
    #[arg(long, env = "MESOS_MAX_AGENT_PING_TIMEOUTS", default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,

    /// Comma-separated roles (deprecated in Mesos, accepted for compatibility).
    #[arg(long, env = "MESOS_ROLES")]
    pub roles: Option<String>,

    /// Comma-separated `role=weight` pairs.
    #[arg(long, env = "MESOS_WEIGHTS")]
    pub weights: Option<String>,

    /// Heartbeat interval of the v1 scheduler event stream.
    #[arg(
        long,
        env = "MESOS_HTTP_FRAMEWORK_HEARTBEAT_INTERVAL",
        hide = true,
        default_value = "15secs"
    )]
    pub http_framework_heartbeat_interval: StoutDuration,

    /// Bytes of events a v1 subscriber may leave unread before it is disconnected (not a
    /// Mesos flag: bounds the master's memory per slow subscriber).
    #[arg(
        long,
        env = "MESOS_HTTP_FRAMEWORK_MAX_QUEUED_BYTES",
        hide = true,
        default_value_t = 16 * 1024 * 1024
    )]
    pub http_framework_max_queued_bytes: usize,

    /// Completed frameworks kept for `/state`.
    #[arg(long, env = "MESOS_MAX_COMPLETED_FRAMEWORKS", default_value_t = 50)]
    pub max_completed_frameworks: usize,

    /// Completed tasks kept per framework for `/state`.
    #[arg(
        long,
        env = "MESOS_MAX_COMPLETED_TASKS_PER_FRAMEWORK",
        default_value_t = 1000
    )]
    pub max_completed_tasks_per_framework: usize,

    /// Tasks of unreachable agents kept per framework for `/state`.
    #[arg(
        long,
        env = "MESOS_MAX_UNREACHABLE_TASKS_PER_FRAMEWORK",
        default_value_t = 1000
    )]
    pub max_unreachable_tasks_per_framework: usize,

    /// How often unreachable agents past their age are forgotten.
    #[arg(long, env = "MESOS_REGISTRY_GC_INTERVAL", default_value = "15mins")]
    pub registry_gc_interval: StoutDuration,

    /// How long an unreachable agent is remembered.
    #[arg(long, env = "MESOS_REGISTRY_MAX_AGENT_AGE", default_value = "2weeks")]
    pub registry_max_agent_age: StoutDuration,

    /// How many unreachable agents are remembered (the oldest are forgotten first).
    #[arg(long, env = "MESOS_REGISTRY_MAX_AGENT_COUNT", default_value_t = 102400)]
    pub registry_max_agent_count: usize,

    /// Logging level (INFO, WARNING, ERROR); RUST_LOG overrides it.
    #[arg(long, env = "MESOS_LOGGING_LEVEL", default_value = "INFO")]
    pub logging_level: String,

    /// A log file managed outside the master (e.g. its redirected stderr), served to
    /// operators as `/master/log` (LIST_FILES, READ_FILE, `/files/read`), as in Mesos.
    #[arg(long, env = "MESOS_EXTERNAL_LOG_FILE")]
    pub external_log_file: Option<String>,

    /// Without `--hostname`: look the IP up for a name (true), or report the IP (false).
    #[arg(
        long,
        env = "MESOS_HOSTNAME_LOOKUP",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub hostname_lookup: bool,
    /// `zk://[user:pass@]host:port[,host:port]/path` (or `file:///f`): elect the leading
    /// master through ZooKeeper (see `ha`).
    #[arg(long, env = "MESOS_ZK")]
    pub zk: Option<String>,

    /// Masters needed for a quorum; required with `--zk` (as in Mesos), at least 1.
    #[arg(long, env = "MESOS_QUORUM")]
    pub quorum: Option<u32>,

    /// The ZooKeeper session timeout of the contender and detector (Mesos's default): how
    /// long a dead leader's node outlives it, so the lower bound of a failover.
    #[arg(long, env = "MESOS_ZK_SESSION_TIMEOUT", default_value = "10secs")]
    pub zk_session_timeout: StoutDuration,

    /// How long a newly elected master waits for the agents of the recovered registry to
    /// re-register before marking them unreachable (see `recovery`).
    #[arg(long, env = "MESOS_AGENT_REREGISTER_TIMEOUT", default_value = "10mins")]
    pub agent_reregister_timeout: StoutDuration,

    /// The most agents marked unreachable per duration after a failover, `<n>/<duration>`
    /// (e.g. `1/10mins`); unset: no limit.
    #[arg(long, env = "MESOS_AGENT_REMOVAL_RATE_LIMIT")]
    pub agent_removal_rate_limit: Option<crate::recovery::RateLimit>,

    /// After a failover, the largest share of the registry's agents that may be marked
    /// unreachable when `--agent_reregister_timeout` elapses (`0%`..`100%`); above it the
    /// master steps down instead (genuine masters exit), so a person can look first.
    #[arg(
        long,
        alias = "recovery_slave_removal_limit",
        env = "MESOS_RECOVERY_AGENT_REMOVAL_LIMIT",
        default_value = "100%"
    )]
    pub recovery_agent_removal_limit: crate::recovery::RemovalLimit,

    /// Where the registry lives: `in_memory` (default here: nothing persisted, no
    /// registrar), `replicated_log` (ZooKeeper with `--zk`, else a local file under
    /// `--work_dir`) or `local` (a file under `--work_dir`).
    #[arg(long, env = "MESOS_REGISTRY", default_value = "in_memory")]
    pub registry: String,
}

impl Flags {
    /// Parses an explicit argument list (also reading `MESOS_*`).
    pub fn parse_from_args<I, T>(args: I) -> Result<Flags, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Flags::try_parse_from(args)
    }

    /// `name → value` as `/flags` and `/state` report them.
    pub fn to_map(&self) -> Vec<(String, String)> {
        let mut m = vec![
            ("ip".to_string(), self.ip.to_string()),
            ("port".into(), self.port.to_string()),
            (
                "allocation_interval".into(),
                self.allocation_interval.to_string(),
            ),
            (
                "agent_ping_timeout".into(),
                self.agent_ping_timeout.to_string(),
            ),
            (
                "max_agent_ping_timeouts".into(),
                self.max_agent_ping_timeouts.to_string(),
            ),
            (
                "http_framework_heartbeat_interval".into(),
                self.http_framework_heartbeat_interval.to_string(),
            ),
            (
                "max_completed_frameworks".into(),
                self.max_completed_frameworks.to_string(),
            ),
            (
                "max_completed_tasks_per_framework".into(),
                self.max_completed_tasks_per_framework.to_string(),
            ),
            (
                "max_unreachable_tasks_per_framework".into(),
                self.max_unreachable_tasks_per_framework.to_string(),
            ),
            (
                "registry_gc_interval".into(),
                self.registry_gc_interval.to_string(),
            ),
            (
                "registry_max_agent_age".into(),
                self.registry_max_agent_age.to_string(),
            ),
            (
                "registry_max_agent_count".into(),
                self.registry_max_agent_count.to_string(),
            ),
            ("logging_level".into(), self.logging_level.clone()),
            ("hostname_lookup".into(), self.hostname_lookup.to_string()),
            ("registry".into(), self.registry.clone()),
            (
                "zk_session_timeout".into(),
                self.zk_session_timeout.to_string(),
            ),
            (
                "agent_reregister_timeout".into(),
                self.agent_reregister_timeout.to_string(),
            ),
            (
                "recovery_agent_removal_limit".into(),
                self.recovery_agent_removal_limit.to_string(),
            ),
        ];
        let optional = [
            ("advertise_ip", self.advertise_ip.map(|v| v.to_string())),
            ("advertise_port", self.advertise_port.map(|v| v.to_string())),
            ("work_dir", self.work_dir.clone()),
            ("hostname", self.hostname.clone()),
            ("external_log_file", self.external_log_file.clone()),
            ("cluster", self.cluster.clone()),
            ("offer_timeout", self.offer_timeout.map(|v| v.to_string())),
            ("roles", self.roles.clone()),
            ("weights", self.weights.clone()),
            ("zk", self.zk.as_deref().map(crate::ha::redact_zk)),
            ("quorum", self.quorum.map(|v| v.to_string())),
            (
                "agent_removal_rate_limit",
                self.agent_removal_rate_limit.map(|v| v.to_string()),
            ),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                m.push((k.to_string(), v));
            }
        }
        m.sort();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stout_durations_parse_in_every_unit() {
        let d = |s: &str| s.parse::<StoutDuration>().map(|d| d.0);
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1secs"), Ok(Duration::from_secs(1)));
        assert_eq!(d("1.5mins"), Ok(Duration::from_secs(90)));
        assert_eq!(d("2hrs"), Ok(Duration::from_secs(7200)));
        assert!(d("15").is_err());
        assert!(d("abc").is_err());
        assert!(d("-1secs").is_err());
        assert_eq!(
            d("20000weeks"),
            Err(DurationError::Range("20000weeks".into()))
        );
        // Like stout, an exponent is not part of the number: the unit would be `e300secs`.
        assert_eq!(
            d("1e300secs"),
            Err(DurationError::Syntax("1e300secs".into()))
        );
        assert!(d("100weeks").is_ok());
        assert_eq!(StoutDuration(Duration::from_secs(15)).to_string(), "15secs");
        assert_eq!(
            StoutDuration(Duration::from_millis(500)).to_string(),
            "500ms"
        );
    }

    #[test]
    fn flags_have_mesos_defaults() {
        let f = Flags::parse_from_args(["mesos-master", "--port", "0"]).unwrap();
        assert_eq!(f.port, 0);
        assert_eq!(f.max_agent_ping_timeouts, 5);
        assert_eq!(f.allocation_interval.0, Duration::from_secs(1));
        assert_eq!(f.max_completed_frameworks, 50);
        assert_eq!(f.max_completed_tasks_per_framework, 1000);
        assert_eq!(f.max_unreachable_tasks_per_framework, 1000);
        assert_eq!(f.registry_max_agent_age.0, Duration::from_secs(14 * 86400));
        assert_eq!(f.registry_max_agent_count, 100 * 1024);
        assert_eq!(f.registry_gc_interval.0, Duration::from_secs(15 * 60));
    }
}
