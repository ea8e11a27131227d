//! The posix launcher: an executor runs as the leader of its own process group, in its
//! sandbox, with stdout/stderr in sandbox files and the Mesos executor environment, inside
//! the namespaces its isolators ask for; started held until it is isolated, as the leader
//! of its own session and process group.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use libprocess::Upid;
use mesos_executors::child::{self, Exit};
use mesos_isolators::namespaces;
use mesos_isolators::procs::{self, ProcessTracker};
use mesos_isolators::LaunchInfo;
use mesos_proto::mesos::ExecutorInfo;

use super::spawn;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid as NixPid;

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
    #[error("cannot run the executor as user '{user}': {message}")]
    User { user: String, message: String },
    #[error("cannot start '{command}': {source}")]
    Spawn {
        command: String,
        source: super::spawn::SpawnError,
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
    /// Run as this user (`--switch_user`), applied only when the agent runs as root.
    pub user: Option<&'a str>,
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

/// The posix launcher's child before it runs the executor: it waits on a pipe for the
/// go-ahead, so isolators can put it in their cgroups before it can fork (the isolators'
/// launcher contract).
pub struct Held {
    pub pid: u32,
    pub gate: Gate,
    pub exit: tokio::sync::oneshot::Receiver<Exit>,
}

/// What releases a held child. Dropped without [`Gate::release`], the child exits 1
/// without running anything.
pub struct Gate(Option<std::io::PipeWriter>);

impl Gate {
    /// Lets the held child exec the executor.
    pub fn release(&mut self) -> std::io::Result<()> {
        match self.0.take() {
            Some(mut gate) => gate.write_all(b"g"),
            None => Ok(()),
        }
    }
}

/// What the executor's process runs: its command (`/bin/sh -c <value>`, or the value with
/// its arguments as argv), under the isolators' command prefix, inside the namespaces they
/// asked for (through util-linux `unshare`).
fn executor_argv(
    command: &mesos_proto::mesos::CommandInfo,
    info: &LaunchInfo,
) -> (OsString, Vec<OsString>) {
    let (mut program, mut argv): (OsString, Vec<OsString>) = if command.shell() {
        (
            "/bin/sh".into(),
            vec!["sh".into(), "-c".into(), command.value().into()],
        )
    } else {
        let argv = if command.arguments.is_empty() {
            vec![command.value().into()]
        } else {
            command.arguments.iter().map(OsString::from).collect()
        };
        (command.value().into(), argv)
    };
    // A prefix or `unshare` runs the program by name: argv[0] becomes the program.
    let wrap = |prefix: Vec<OsString>, program: OsString, argv: Vec<OsString>| {
        let mut out = prefix;
        out.push(program);
        out.extend(argv.into_iter().skip(1));
        out
    };
    if let Some((first, rest)) = info.command_prefix.split_first() {
        let mut prefix: Vec<OsString> = vec![first.into()];
        prefix.extend(rest.iter().map(OsString::from));
        argv = wrap(prefix, program, argv);
        program = first.into();
    }
    if !info.namespaces.is_empty() {
        let mut prefix: Vec<OsString> = vec![namespaces::UNSHARE.into()];
        prefix.extend(
            namespaces::unshare_args(&info.namespaces)
                .into_iter()
                .map(OsString::from),
        );
        prefix.push("--".into());
        argv = wrap(prefix, program, argv);
        program = namespaces::UNSHARE.into();
    }
    (program, argv)
}

/// The executor's whole environment: the agent's, minus its own Mesos configuration, plus
/// the executor's variables and the isolators'.
fn full_environment(l: &Launch<'_>, info: &LaunchInfo) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
        .filter(|(k, _)| {
            k.to_str()
                .is_none_or(|k| !k.starts_with("MESOS_") && !k.starts_with("LIBPROCESS_"))
        })
        .collect();
    for (k, v) in executor_environment(l) {
        env.insert(k.into(), v.into());
    }
    for (k, v) in &info.environment {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}

/// Starts the executor held (see [`Held`]) as the leader of its own session and process
/// group, inside the namespaces `info` asks for, under its command prefix and with its
/// environment; stdout/stderr go to `<sandbox>/stdout` and `<sandbox>/stderr`. Released, the
/// held process execs the executor (or `unshare`/the prefix) itself ([`spawn`]).
pub fn spawn_held(l: &Launch<'_>, info: &LaunchInfo) -> Result<Held, LaunchError> {
    let command = l.executor.command.as_ref().ok_or(LaunchError::NoCommand)?;
    let (program, argv) = executor_argv(command, info);
    let open = |name: &str| {
        let path = l.directory.join(name);
        File::create(&path).map_err(|source| LaunchError::Sandbox {
            path: path.display().to_string(),
            source,
        })
    };
    let exec = spawn::Exec {
        program,
        argv,
        env: full_environment(l, info),
        cwd: l.directory.to_path_buf(),
        stdout: open("stdout")?,
        stderr: open("stderr")?,
        ids: switch_to(l.user)?,
    };
    let child = spawn::spawn(exec).map_err(|source| LaunchError::Spawn {
        command: command.value().to_string(),
        source,
    })?;
    Ok(Held {
        pid: child.pid,
        gate: Gate(Some(child.gate)),
        exit: child.exit,
    })
}

/// The ids to run the executor as: `user`'s, when the agent runs as root (only root may
/// switch); `None` to run as the agent. An unknown user fails the launch, as in Mesos.
fn switch_to(user: Option<&str>) -> Result<Option<(u32, u32)>, LaunchError> {
    let Some(user) = user else { return Ok(None) };
    if !nix::unistd::geteuid().is_root() {
        tracing::debug!(
            user,
            "agent is not root: the executor runs as the agent's user"
        );
        return Ok(None);
    }
    let error = |message: String| LaunchError::User {
        user: user.to_string(),
        message,
    };
    let found = nix::unistd::User::from_name(user)
        .map_err(|e| error(format!("cannot look the user up: {e}")))?
        .ok_or_else(|| error("no such user".into()))?;
    if found.uid == nix::unistd::geteuid() && found.gid == nix::unistd::getegid() {
        // Already that user: nothing to switch.
        return Ok(None);
    }
    Ok(Some((found.uid.as_raw(), found.gid.as_raw())))
}

/// The posix launcher's kill: SIGKILL to every descendant of `pid` (found through procfs,
/// so processes that left the group are reached) and to its process group. Processes that
/// double-forked away from the tree are reached only through cgroups (the cgroups
/// isolators' cleanup).
pub fn kill_tree(pid: u32) {
    let mut tracker = ProcessTracker::new(pid);
    for _ in 0..3 {
        let members = tracker.members(&procs::snapshot());
        let live: Vec<i32> = members
            .iter()
            .filter(|p| !p.zombie)
            .map(|p| p.pid)
            .collect();
        if live.is_empty() {
            break;
        }
        for p in live {
            let _ = signal::kill(NixPid::from_raw(p), Signal::SIGKILL);
        }
    }
    if let Err(e) = child::signal_group(pid, libc::SIGKILL) {
        tracing::debug!(pgid = pid, error = %e, "SIGKILL to executor group failed (already gone?)");
    }
}

/// An owned launch request, for sending to the containerizer process.
#[derive(Clone)]
pub struct LaunchSpec {
    pub executor: ExecutorInfo,
    pub framework_id: String,
    pub agent_id: String,
    pub agent_pid: Upid,
    pub directory: std::path::PathBuf,
    pub checkpoint: bool,
    pub shutdown_grace_period: Duration,
    pub http_command_executor: bool,
    /// The user to run as (`--switch_user`), for isolators such as `filesystem/posix`.
    pub user: Option<String>,
}

impl LaunchSpec {
    pub fn as_launch(&self) -> Launch<'_> {
        Launch {
            executor: &self.executor,
            framework_id: &self.framework_id,
            agent_id: &self.agent_id,
            agent_pid: &self.agent_pid,
            directory: &self.directory,
            checkpoint: self.checkpoint,
            shutdown_grace_period: self.shutdown_grace_period,
            http_command_executor: self.http_command_executor,
            user: self.user.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{CommandInfo, ExecutorId};

    #[tokio::test]
    async fn a_held_executor_leads_its_session_and_runs_only_after_release_with_the_mesos_environment(
    ) {
        let dir = std::env::temp_dir().join(format!("agent-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            command: Some(CommandInfo {
                value: Some("echo $MESOS_EXECUTOR_ID $MESOS_SLAVE_PID $LIBPROCESS_PORT $MESOS_CHECKPOINT $EXTRA; pwd; echo err >&2".into()),
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
            user: None,
        };
        let env = executor_environment(&l);
        assert!(env.contains(&(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            "5secs".into()
        )));
        assert!(env.contains(&("MESOS_AGENT_ENDPOINT".into(), "127.0.0.1:5051".into())));
        let mut info = LaunchInfo::default();
        info.environment.insert("EXTRA".into(), "x".into());
        let mut held = spawn_held(&l, &info).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            std::fs::read_to_string(dir.join("stdout")).unwrap(),
            "",
            "nothing runs before release"
        );
        // pgrp and session (fields 5 and 6 of stat) are the executor's own pid.
        let ids = |pid: u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            (f.get(2).cloned(), f.get(3).cloned())
        };
        let own = Some(held.pid.to_string());
        let mut seen = ids(held.pid);
        for _ in 0..200 {
            if seen == (own.clone(), own.clone()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            seen = ids(held.pid);
        }
        assert_eq!(seen, (own.clone(), own), "own process group and session");
        held.gate.release().unwrap();
        assert_eq!(held.exit.await.unwrap().code, Some(0));
        let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("e1 slave(1)@127.0.0.1:5051 0 0 x"));
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

    #[test]
    fn the_executor_argv_nests_the_command_in_its_prefix_then_in_unshare_with_no_shell_between() {
        let shell = CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        };
        let (program, argv) = executor_argv(&shell, &LaunchInfo::default());
        assert_eq!(program, "/bin/sh");
        assert_eq!(argv, ["sh", "-c", "echo hi"]);
        let plain = CommandInfo {
            value: Some("/bin/echo".into()),
            shell: Some(false),
            arguments: vec!["my-echo".into(), "a".into()],
            ..Default::default()
        };
        let (program, argv) = executor_argv(&plain, &LaunchInfo::default());
        assert_eq!(
            (program.as_os_str(), argv.as_slice()),
            ("/bin/echo".as_ref(), &["my-echo".into(), "a".into()][..])
        );
        let info = LaunchInfo {
            command_prefix: vec!["nice".into(), "-n1".into()],
            namespaces: vec![mesos_isolators::Namespace::Pid],
            ..Default::default()
        };
        let (program, argv) = executor_argv(&plain, &info);
        assert_eq!(program, namespaces::UNSHARE);
        let tail: Vec<&str> = argv
            .iter()
            .skip_while(|a| *a != "--")
            .filter_map(|a| a.to_str())
            .collect();
        assert_eq!(tail, ["--", "nice", "-n1", "/bin/echo", "a"]);
        assert!(argv.iter().any(|a| a == "--mount-proc"));
    }

    #[test]
    fn switching_to_the_agents_own_user_sets_no_ids_so_spawn_keeps_its_fast_path() {
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap();
        assert_eq!(switch_to(Some(&me.name)).unwrap(), None);
        assert_eq!(switch_to(None).unwrap(), None);
        if nix::unistd::geteuid().is_root() {
            let nobody = nix::unistd::User::from_name("nobody").unwrap();
            if let Some(n) = nobody {
                assert_eq!(
                    switch_to(Some("nobody")).unwrap(),
                    Some((n.uid.as_raw(), n.gid.as_raw()))
                );
            }
        }
    }

    #[tokio::test]
    async fn a_held_executor_dropped_without_release_never_runs() {
        let dir = std::env::temp_dir().join(format!("agent-launch-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            command: Some(CommandInfo {
                value: Some("echo ran".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pid: Upid = "slave(1)@127.0.0.1:5051".parse().unwrap();
        let spec = LaunchSpec {
            executor,
            framework_id: "f".into(),
            agent_id: "a".into(),
            agent_pid: pid,
            directory: dir.clone(),
            checkpoint: false,
            shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            user: None,
        };
        let held = spawn_held(&spec.as_launch(), &LaunchInfo::default()).unwrap();
        let Held { gate, exit, .. } = held;
        drop(gate);
        assert_eq!(exit.await.unwrap().code, Some(1));
        assert_eq!(std::fs::read_to_string(dir.join("stdout")).unwrap(), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
