//! The environment an agent launches an executor with (`MESOS_FRAMEWORK_ID`,
//! `MESOS_EXECUTOR_ID`, `MESOS_SLAVE_PID`, ...), read once at executor start.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::Upid;

/// A required variable is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set (is this process launched by a Mesos agent?)")]
    Missing(&'static str),
    #[error("environment variable {name}='{value}' is invalid: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
    },
}

/// What an executor learns from its environment.
#[derive(Debug, Clone)]
pub struct ExecutorEnv {
    pub framework_id: String,
    pub executor_id: String,
    pub slave_id: Option<String>,
    /// `MESOS_SLAVE_PID`: the agent's UPID.
    pub slave_pid: Upid,
    /// `MESOS_DIRECTORY`: the sandbox on the host.
    pub directory: Option<PathBuf>,
    /// `MESOS_SANDBOX`: the sandbox as the executor sees it.
    pub sandbox: Option<PathBuf>,
    pub checkpoint: bool,
    /// `MESOS_HTTP_COMMAND_EXECUTOR=1`.
    pub http_command_executor: bool,
    pub shutdown_grace_period: Duration,
    /// `MESOS_AGENT_ENDPOINT`: where the agent serves the v1 executor API (`ip:port`).
    pub agent_endpoint: Option<std::net::SocketAddr>,
}

impl ExecutorEnv {
    /// From the process environment.
    pub fn from_env() -> Result<ExecutorEnv, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ExecutorEnv, EnvError> {
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(EnvError::Missing(name))
        };
        let pid_text = need("MESOS_SLAVE_PID")?;
        let slave_pid = Upid::resolve(&pid_text).map_err(|e| EnvError::Invalid {
            name: "MESOS_SLAVE_PID",
            value: pid_text.clone(),
            why: e.to_string(),
        })?;
        let flag = |name: &str| get(name).map(|v| v == "1" || v == "true").unwrap_or(false);
        let shutdown_grace_period = match get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") {
            Some(v) => libprocess::duration::parse(&v).map_err(|e| EnvError::Invalid {
                name: "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                value: v.clone(),
                why: e.to_string(),
            })?,
            None => Duration::from_secs(5),
        };
        let agent_endpoint = match get("MESOS_AGENT_ENDPOINT").filter(|v| !v.is_empty()) {
            Some(v) => {
                Some(
                    v.parse()
                        .map_err(|e: std::net::AddrParseError| EnvError::Invalid {
                            name: "MESOS_AGENT_ENDPOINT",
                            value: v.clone(),
                            why: e.to_string(),
                        })?,
                )
            }
            None => None,
        };
        Ok(ExecutorEnv {
            agent_endpoint,
            framework_id: need("MESOS_FRAMEWORK_ID")?,
            executor_id: need("MESOS_EXECUTOR_ID")?,
            slave_id: get("MESOS_SLAVE_ID").filter(|v| !v.is_empty()),
            slave_pid,
            directory: get("MESOS_DIRECTORY").map(PathBuf::from),
            sandbox: get("MESOS_SANDBOX").map(PathBuf::from),
            checkpoint: flag("MESOS_CHECKPOINT"),
            http_command_executor: flag("MESOS_HTTP_COMMAND_EXECUTOR"),
            shutdown_grace_period,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn agent_environment_is_read() {
        let env = ExecutorEnv::from_lookup(lookup(&[
            ("MESOS_FRAMEWORK_ID", "fw-0000"),
            ("MESOS_EXECUTOR_ID", "task-1"),
            ("MESOS_SLAVE_ID", "m-S0"),
            ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
            ("MESOS_CHECKPOINT", "0"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ]))
        .unwrap();
        assert_eq!(env.agent_endpoint, Some("127.0.0.1:5051".parse().unwrap()));
        assert_eq!(env.slave_pid.to_string(), "slave(1)@127.0.0.1:5051");
        assert_eq!(env.executor_id, "task-1");
        assert!(!env.checkpoint);
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(5));
    }

    #[test]
    fn missing_agent_pid_is_an_error() {
        let err = ExecutorEnv::from_lookup(lookup(&[("MESOS_FRAMEWORK_ID", "f")])).unwrap_err();
        assert!(matches!(err, EnvError::Missing("MESOS_SLAVE_PID")));
    }
}
