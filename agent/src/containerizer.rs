//! The posix launcher: an executor runs as the leader of its own process group, in its
//! sandbox, with stdout/stderr in sandbox files and the Mesos executor environment.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use libprocess::Upid;
use mesos_executors::child::{self, Spawned};
use mesos_proto::mesos::ExecutorInfo;

/// Why an executor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("executor has no command")]
    NoCommand,
    #[error("cannot open sandbox file {path}: {source}")]
    Sandbox {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start '{command}': {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
}

/// What an executor launch needs besides its `ExecutorInfo`.
pub struct Launch<'a> {
    pub executor: &'a ExecutorInfo,
    pub framework_id: &'a str,
    pub agent_id: &'a str,
    pub agent_pid: &'a Upid,
    pub directory: &'a Path,
    pub checkpoint: bool,
    pub shutdown_grace_period: Duration,
    /// `MESOS_HTTP_COMMAND_EXECUTOR`.
    pub http_command_executor: bool,
}

/// The variables an executor is started with (PROTOCOL.md §2, "Agent ↔ v0 executor").
pub fn executor_environment(l: &Launch<'_>) -> Vec<(String, String)> {
    let bool01 = |b: bool| if b { "1" } else { "0" }.to_string();
    let mut env = vec![
        ("MESOS_FRAMEWORK_ID".to_string(), l.framework_id.to_string()),
        (
            "MESOS_EXECUTOR_ID".into(),
            l.executor.executor_id.value.clone(),
        ),
        ("MESOS_SLAVE_ID".into(), l.agent_id.to_string()),
        ("MESOS_SLAVE_PID".into(), l.agent_pid.to_string()),
        (
            "MESOS_AGENT_ENDPOINT".into(),
            l.agent_pid.address().to_string(),
        ),
        ("MESOS_DIRECTORY".into(), l.directory.display().to_string()),
        ("MESOS_SANDBOX".into(), l.directory.display().to_string()),
        ("MESOS_CHECKPOINT".into(), bool01(l.checkpoint)),
        (
            "MESOS_HTTP_COMMAND_EXECUTOR".into(),
            bool01(l.http_command_executor),
        ),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            mesos_executors::duration::format(l.shutdown_grace_period),
        ),
        (
            "LIBPROCESS_IP".into(),
            l.agent_pid.address().ip().to_string(),
        ),
        ("LIBPROCESS_PORT".into(), "0".into()),
    ];
    if l.checkpoint {
        env.push(("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into()));
        env.push(("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into()));
    }
    if let Some(vars) = l
        .executor
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
    {
        for v in &vars.variables {
            env.push((v.name.clone(), v.value.clone().unwrap_or_default()));
        }
    }
    env
}

/// Starts the executor; its stdout/stderr go to `<sandbox>/stdout` and `<sandbox>/stderr`.
pub fn launch(l: &Launch<'_>) -> Result<Spawned, LaunchError> {
    let command = l.executor.command.as_ref().ok_or(LaunchError::NoCommand)?;
    let mut cmd =
        mesos_executors::child::command_for(command.value(), command.shell(), &command.arguments);
    // The agent's own configuration must not leak into the executor's runtime.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("MESOS_") || k.starts_with("LIBPROCESS_") {
                cmd.env_remove(k);
            }
        }
    }
    cmd.envs(executor_environment(l));
    let open = |name: &str| {
        let path = l.directory.join(name);
        File::create(&path).map_err(|source| LaunchError::Sandbox {
            path: path.display().to_string(),
            source,
        })
    };
    cmd.current_dir(l.directory)
        .stdin(Stdio::null())
        .stdout(open("stdout")?)
        .stderr(open("stderr")?);
    child::spawn_in_group(cmd).map_err(|source| LaunchError::Spawn {
        command: command.value().to_string(),
        source,
    })
}

/// Kills an executor's whole process group.
pub fn destroy(pgid: u32) {
    if let Err(e) = child::signal_group(pgid, libc::SIGKILL) {
        tracing::debug!(pgid, error = %e, "SIGKILL to executor group failed (already gone?)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{CommandInfo, ExecutorId};

    #[tokio::test]
    async fn executor_runs_in_its_sandbox_with_the_mesos_environment() {
        let dir = std::env::temp_dir().join(format!("agent-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            command: Some(CommandInfo {
                value: Some("echo $MESOS_EXECUTOR_ID $MESOS_SLAVE_PID $LIBPROCESS_PORT $MESOS_CHECKPOINT; pwd; echo err >&2".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pid: Upid = "slave(1)@127.0.0.1:5051".parse().unwrap();
        let l = Launch {
            executor: &executor,
            framework_id: "f",
            agent_id: "a",
            agent_pid: &pid,
            directory: &dir,
            checkpoint: false,
            shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
        };
        let env = executor_environment(&l);
        assert!(env.contains(&(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            "5secs".into()
        )));
        assert!(env.contains(&("MESOS_AGENT_ENDPOINT".into(), "127.0.0.1:5051".into())));
        let s = launch(&l).unwrap();
        assert_eq!(s.exit.await.unwrap().code, Some(0));
        let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("e1 slave(1)@127.0.0.1:5051 0 0"));
        assert_eq!(
            Path::new(lines.next().unwrap()).canonicalize().unwrap(),
            dir.canonicalize().unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("stderr")).unwrap(),
            "err\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
