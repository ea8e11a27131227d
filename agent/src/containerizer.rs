//! The posix launcher: an executor runs as the leader of its own process group, in its
//! sandbox, with stdout/stderr in sandbox files and the Mesos executor environment.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use libprocess::Upid;
use mesos_executors::child::{self, Exit, Spawned};
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
            libprocess::duration::format(l.shutdown_grace_period),
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

/// An owned launch request, for sending to the [`Containerizer`] process.
pub struct LaunchSpec {
    pub executor: ExecutorInfo,
    pub framework_id: String,
    pub agent_id: String,
    pub agent_pid: Upid,
    pub directory: std::path::PathBuf,
    pub checkpoint: bool,
    pub shutdown_grace_period: Duration,
    pub http_command_executor: bool,
}

impl LaunchSpec {
    fn as_launch(&self) -> Launch<'_> {
        Launch {
            executor: &self.executor,
            framework_id: &self.framework_id,
            agent_id: &self.agent_id,
            agent_pid: &self.agent_pid,
            directory: &self.directory,
            checkpoint: self.checkpoint,
            shutdown_grace_period: self.shutdown_grace_period,
            http_command_executor: self.http_command_executor,
        }
    }
}

/// A launched container: its process group and how it ended.
pub struct Launched {
    pub pid: u32,
    pub exit: tokio::sync::oneshot::Receiver<Exit>,
}

/// The containerizer process (`mesos-containerizer(N)`): launches executors' containers with
/// the posix launcher (a new process group each) and owns them until they exit. The agent
/// asks it to launch and destroy; it reports each container's exit. Isolators will hook in
/// here (prepare before launch, cleanup after exit).
#[derive(Default)]
pub struct Containerizer {
    /// Container id to process group.
    containers: std::collections::HashMap<String, u32>,
}

impl libprocess::Process for Containerizer {
    /// Containers do not outlive their containerizer (nothing recovers them).
    fn finalize(&mut self, _ctx: &mut libprocess::Ctx<'_, Self>) {
        for pgid in self.containers.values() {
            destroy(*pgid);
        }
    }
}

impl Containerizer {
    /// Launches a container; its exit is delivered through [`Launched::exit`].
    pub fn launch(
        &mut self,
        ctx: &mut libprocess::Ctx<'_, Self>,
        container_id: String,
        spec: LaunchSpec,
    ) -> Result<Launched, LaunchError> {
        let spawned = launch(&spec.as_launch())?;
        self.containers.insert(container_id.clone(), spawned.pid);
        let (tx, rx) = tokio::sync::oneshot::channel();
        ctx.then(spawned.exit, move |me, _ctx, exit| {
            me.containers.remove(&container_id);
            let _ = tx.send(exit.unwrap_or(Exit {
                raw: -1,
                code: None,
                signal: None,
            }));
        });
        Ok(Launched {
            pid: spawned.pid,
            exit: rx,
        })
    }

    /// Kills a container's whole process group (its exit is then reported as usual).
    pub fn destroy(&mut self, container_id: &str) {
        if let Some(pgid) = self.containers.get(container_id) {
            destroy(*pgid);
        }
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

    #[tokio::test]
    async fn the_containerizer_process_launches_reports_exits_and_destroys() {
        let dir = std::env::temp_dir().join(format!("agent-containerizer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
        let cz = rt
            .spawn("mesos-containerizer(1)", Containerizer::default())
            .unwrap();
        let spec = |cmd: &str| LaunchSpec {
            executor: ExecutorInfo {
                executor_id: ExecutorId { value: "e".into() },
                command: Some(CommandInfo {
                    value: Some(cmd.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            framework_id: "f".into(),
            agent_id: "a".into(),
            agent_pid: "slave(1)@127.0.0.1:5051".parse().unwrap(),
            directory: dir.clone(),
            checkpoint: false,
            shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
        };
        let quick = spec("exit 7");
        let done = cz
            .call("launch", move |c, ctx| c.launch(ctx, "c1".into(), quick))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.exit.await.unwrap().code, Some(7));

        let slow = spec("sleep 30");
        let running = cz
            .call("launch", move |c, ctx| c.launch(ctx, "c2".into(), slow))
            .await
            .unwrap()
            .unwrap();
        cz.dispatch("destroy", |c, _| c.destroy("c2"));
        let exit = tokio::time::timeout(Duration::from_secs(10), running.exit)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(exit.signal, Some(libc::SIGKILL));
        let left = cz.call("count", |c, _| c.containers.len()).await.unwrap();
        assert_eq!(left, 0, "exited containers are forgotten");
        rt.shutdown();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
