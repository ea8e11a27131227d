//! Agent flags, named like the genuine agent's, each also readable from `MESOS_<NAME>`.

use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use libprocess::Upid;

/// Flags of `mesos-agent`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mesos-agent",
    version = "1.11.0",
    rename_all = "snake_case",
    about = "A Mesos agent: offers this machine's resources to a master and runs its tasks."
)]
pub struct Flags {
    /// The master: `host:port`, `master@host:port`, `zk://[user:pass@]host:port[,…]/path`
    /// (follow the leader elected in ZooKeeper), or `file:///path` holding one of these.
    #[arg(long, env = "MESOS_MASTER")]
    pub master: String,

    /// IP address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    pub ip: Ipv4Addr,

    /// Port to listen on.
    #[arg(long, env = "MESOS_PORT", default_value_t = 5051)]
    pub port: u16,

    /// IP address advertised to the master and executors (NAT, containers).
    #[arg(long, env = "MESOS_ADVERTISE_IP")]
    pub advertise_ip: Option<Ipv4Addr>,

    /// Port advertised to the master and executors.
    #[arg(long, env = "MESOS_ADVERTISE_PORT")]
    pub advertise_port: Option<u16>,

    /// Where sandboxes and agent metadata live (required).
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: PathBuf,

    /// Total resources to offer, e.g. `cpus:4;mem:8192;ports:[31000-32000]`; anything not
    /// given is detected.
    #[arg(long, env = "MESOS_RESOURCES")]
    pub resources: Option<String>,

    /// Attributes of this machine, e.g. `rack:r1;zone:east`.
    #[arg(long, env = "MESOS_ATTRIBUTES")]
    pub attributes: Option<String>,

    /// Hostname reported to the master (default: this machine's hostname).
    #[arg(long, env = "MESOS_HOSTNAME")]
    pub hostname: Option<String>,

    /// Directory holding `mesos-executor` (default: the directory of this binary).
    #[arg(long, env = "MESOS_LAUNCHER_DIR")]
    pub launcher_dir: Option<PathBuf>,

    /// How long an executor may take to register before it is killed.
    #[arg(long, env = "MESOS_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    pub executor_registration_timeout: Duration,

    /// Registration retries wait a random time in [0, b]; b starts at twice this factor.
    #[arg(long, env = "MESOS_REGISTRATION_BACKOFF_FACTOR", default_value = "1secs", value_parser = parse_duration)]
    pub registration_backoff_factor: Duration,

    /// Isolation mechanisms, comma separated, by Mesos name (`posix/cpu`, `posix/mem`,
    /// `cgroups/cpu`, `cgroups/mem`, `cgroups/pids`, `namespaces/pid`, `filesystem/posix`,
    /// `disk/du`) or an external isolator's UPID (`id@ip:port`).
    #[arg(long, env = "MESOS_ISOLATION", default_value = "posix/cpu,posix/mem")]
    pub isolation: String,

    /// Where the cgroup controllers are mounted (v1), or the cgroup2 mount (v2).
    #[arg(
        long,
        env = "MESOS_CGROUPS_HIERARCHY",
        default_value = "/sys/fs/cgroup"
    )]
    pub cgroups_hierarchy: PathBuf,

    /// The cgroup (below each controller) that holds every container's cgroup.
    #[arg(long, env = "MESOS_CGROUPS_ROOT", default_value = "mesos")]
    pub cgroups_root: String,

    /// `cgroups/cpu` enforces cpus as a hard CFS quota, not only as shares.
    #[arg(long, env = "MESOS_CGROUPS_ENABLE_CFS", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub cgroups_enable_cfs: bool,

    /// Run each executor as its task's user (the command's, else the framework's) when
    /// the agent runs as root; `filesystem/posix` gives that user the sandbox. As Mesos.
    #[arg(long, env = "MESOS_SWITCH_USER", default_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub switch_user: bool,

    /// `disk/du`: a container whose sandbox outgrows its `disk` resource is destroyed and
    /// its tasks fail with REASON_CONTAINER_LIMITATION_DISK (otherwise usage is only reported).
    #[arg(long, env = "MESOS_ENFORCE_CONTAINER_DISK_QUOTA", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub enforce_container_disk_quota: bool,

    /// `disk/du`: how often each sandbox is measured.
    #[arg(long, env = "MESOS_CONTAINER_DISK_WATCH_INTERVAL", default_value = "15secs", value_parser = parse_duration)]
    pub container_disk_watch_interval: Duration,

    /// Time between asking an executor to shut down and killing it.
    #[arg(long, env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = parse_duration)]
    pub executor_shutdown_grace_period: Duration,

    /// Run the command executor over the v1 HTTP executor API instead of libprocess messages.
    #[arg(long, env = "MESOS_HTTP_COMMAND_EXECUTOR", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub http_command_executor: bool,

    /// Exited executors remembered per framework (for `/state`); the oldest go first.
    #[arg(long, env = "MESOS_MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK",
          default_value_t = crate::history::DEFAULT_MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK)]
    pub max_completed_executors_per_framework: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    libprocess::duration::parse(s).map_err(|e| e.to_string())
}

/// A bad flag value found after parsing.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("--master '{0}' is not host:port, master@host:port or file:///path")]
    Master(String),
    #[error("cannot read --master file {path}: {source}")]
    MasterFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot resolve master host '{0}' to an IPv4 address")]
    Resolve(String),
    #[error(transparent)]
    Isolation(#[from] mesos_isolators::RegistryError),
    #[error("--container_disk_watch_interval must be greater than zero")]
    DiskWatchInterval,
}

impl Flags {
    /// The flags as `name -> value` strings, for `/state`'s `flags`.
    pub fn to_map(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("master".to_string(), self.master.clone()),
            ("ip".into(), self.ip.to_string()),
            ("port".into(), self.port.to_string()),
            ("work_dir".into(), self.work_dir.display().to_string()),
            ("isolation".into(), self.isolation.clone()),
            (
                "cgroups_hierarchy".into(),
                self.cgroups_hierarchy.display().to_string(),
            ),
            ("cgroups_root".into(), self.cgroups_root.clone()),
            ("switch_user".into(), self.switch_user.to_string()),
            (
                "cgroups_enable_cfs".into(),
                self.cgroups_enable_cfs.to_string(),
            ),
            (
                "enforce_container_disk_quota".into(),
                self.enforce_container_disk_quota.to_string(),
            ),
            (
                "container_disk_watch_interval".into(),
                libprocess::duration::format(self.container_disk_watch_interval),
            ),
            (
                "registration_backoff_factor".into(),
                libprocess::duration::format(self.registration_backoff_factor),
            ),
            (
                "executor_registration_timeout".into(),
                libprocess::duration::format(self.executor_registration_timeout),
            ),
            (
                "executor_shutdown_grace_period".into(),
                libprocess::duration::format(self.executor_shutdown_grace_period),
            ),
            (
                "http_command_executor".into(),
                self.http_command_executor.to_string(),
            ),
            (
                "max_completed_executors_per_framework".into(),
                self.max_completed_executors_per_framework.to_string(),
            ),
        ];
        let opt = |v: &mut Vec<(String, String)>, k: &str, x: Option<String>| {
            if let Some(x) = x {
                v.push((k.to_string(), x));
            }
        };
        opt(
            &mut v,
            "advertise_ip",
            self.advertise_ip.map(|x| x.to_string()),
        );
        opt(
            &mut v,
            "advertise_port",
            self.advertise_port.map(|x| x.to_string()),
        );
        opt(&mut v, "resources", self.resources.clone());
        opt(&mut v, "attributes", self.attributes.clone());
        opt(&mut v, "hostname", self.hostname.clone());
        opt(
            &mut v,
            "launcher_dir",
            self.launcher_dir.as_ref().map(|p| p.display().to_string()),
        );
        v
    }

    /// Checks `--isolation` (an unknown name is an error listing the valid ones) and the
    /// `disk/du` watch interval.
    pub fn validate(&self) -> Result<(), FlagError> {
        mesos_isolators::parse_isolation(&self.isolation)?;
        if self.container_disk_watch_interval.is_zero() {
            return Err(FlagError::DiskWatchInterval);
        }
        Ok(())
    }

    /// The containerizer's isolation settings these flags select.
    pub fn isolation_config(&self) -> crate::IsolationConfig {
        crate::IsolationConfig {
            isolation: self.isolation.clone(),
            flags: mesos_isolators::IsolationFlags {
                cgroups: mesos_isolators::cgroups::CgroupsConfig {
                    hierarchy: self.cgroups_hierarchy.clone(),
                    root: self.cgroups_root.clone(),
                    enable_cfs: self.cgroups_enable_cfs,
                },
                switch_user: self.switch_user,
                enforce_container_disk_quota: self.enforce_container_disk_quota,
                poll_interval: self.container_disk_watch_interval,
                ..Default::default()
            },
        }
    }
}

/// Resolves `--master` to the master's UPID (standalone detection).
pub fn master_upid(spec: &str) -> Result<Upid, FlagError> {
    let spec = spec.trim();
    if let Some(path) = spec.strip_prefix("file://") {
        let text = std::fs::read_to_string(path).map_err(|source| FlagError::MasterFile {
            path: path.to_string(),
            source,
        })?;
        if text.trim().starts_with("file://") {
            return Err(FlagError::Master(spec.to_string()));
        }
        return master_upid(text.trim());
    }
    if spec.starts_with("zk://") {
        return Err(FlagError::Master(spec.to_string()));
    }
    let (id, hostport) = match spec.split_once('@') {
        Some((id, rest)) => (id, rest),
        None => ("master", spec),
    };
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| FlagError::Master(spec.to_string()))?;
    let port: u16 = port
        .parse()
        .map_err(|_| FlagError::Master(spec.to_string()))?;
    if id.is_empty() || host.is_empty() {
        return Err(FlagError::Master(spec.to_string()));
    }
    let ip: Ipv4Addr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| {
                addrs.find_map(|a| match a {
                    std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
                    _ => None,
                })
            })
            .ok_or_else(|| FlagError::Resolve(host.to_string()))?,
    };
    Ok(Upid::new(id, SocketAddrV4::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_forms_resolve_to_a_upid() {
        assert_eq!(
            master_upid("127.0.0.1:5050").unwrap().to_string(),
            "master@127.0.0.1:5050"
        );
        assert_eq!(
            master_upid("master@127.0.0.1:5050").unwrap().to_string(),
            "master@127.0.0.1:5050"
        );
        assert_eq!(
            master_upid("localhost:5050").unwrap().to_string(),
            "master@127.0.0.1:5050"
        );
        assert!(master_upid("127.0.0.1").is_err());
        assert!(master_upid("zk://h:2181/mesos").is_err());
    }

    #[test]
    fn master_file_is_read() {
        let dir = std::env::temp_dir().join(format!("agent-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("master");
        std::fs::write(&f, "master@127.0.0.1:6060\n").unwrap();
        let upid = master_upid(&format!("file://{}", f.display())).unwrap();
        assert_eq!(upid.to_string(), "master@127.0.0.1:6060");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_match_mesos() {
        let f = Flags::try_parse_from([
            "mesos-agent",
            "--master=127.0.0.1:5050",
            "--work_dir=/tmp/x",
        ])
        .unwrap();
        assert_eq!(f.port, 5051);
        assert_eq!(f.executor_registration_timeout, Duration::from_secs(60));
        assert_eq!(f.registration_backoff_factor, Duration::from_secs(1));
        assert_eq!(f.max_completed_executors_per_framework, 150);
        assert!(f.validate().is_ok());
        let bad = Flags::try_parse_from([
            "mesos-agent",
            "--master=m:1",
            "--work_dir=/x",
            "--isolation=cgroups/memory",
        ])
        .unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("unknown isolator 'cgroups/memory'"), "{err}");
        assert!(err.contains("cgroups/mem, cgroups/pids"), "{err}");
    }

    #[test]
    fn disk_quota_flags_reach_the_disk_du_isolator_like_mesos() {
        let f = Flags::try_parse_from(["mesos-agent", "--master=m:1", "--work_dir=/x"]).unwrap();
        let iso = f.isolation_config().flags;
        assert!(!iso.enforce_container_disk_quota);
        assert_eq!(iso.poll_interval, Duration::from_secs(15));
        let f = Flags::try_parse_from([
            "mesos-agent",
            "--master=m:1",
            "--work_dir=/x",
            "--enforce_container_disk_quota=true",
            "--container_disk_watch_interval=2secs",
        ])
        .unwrap();
        let iso = f.isolation_config().flags;
        assert!(iso.enforce_container_disk_quota);
        assert_eq!(iso.poll_interval, Duration::from_secs(2));
        assert!(f
            .to_map()
            .contains(&("enforce_container_disk_quota".into(), "true".into())));
        let zero = Flags::try_parse_from([
            "mesos-agent",
            "--master=m:1",
            "--work_dir=/x",
            "--container_disk_watch_interval=0secs",
        ])
        .unwrap();
        assert!(matches!(zero.validate(), Err(FlagError::DiskWatchInterval)));
    }
}
