//! `namespaces/pid`: the executor runs in its own PID namespace, with `/proc` remounted in
//! a private mount namespace so it sees only its own processes and cannot signal the
//! agent's.
//!
//! The isolator only asks for the namespaces (`LaunchInfo.namespaces`); the launcher
//! applies them with [`wrap_command`] / [`spawn_in_new_pid_ns`], which run the command
//! under util-linux `unshare --pid --fork --mount --mount-proc --kill-child` (this crate
//! forbids `unsafe`, which an in-process `clone`/`pre_exec` would need). The pid the
//! launcher gets is `unshare`'s; the executor is its only child, PID 1 in the namespace,
//! and dies with it (`--kill-child`).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use crate::isolator::{now_secs, ready, sorted, Isolator, IsolatorError, IsolatorFuture};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation, Namespace};

/// The helper binary that creates namespaces.
pub const UNSHARE: &str = "unshare";

/// The `namespaces/pid` isolator.
#[derive(Debug, Default)]
pub struct PidNamespace {
    containers: HashSet<ContainerId>,
}

impl Isolator for PidNamespace {
    fn name(&self) -> &str {
        "namespaces/pid"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.iter())
    }

    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        self.containers
            .extend(states.into_iter().map(|s| s.container_id));
        ready(Ok(()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        _: &ExecutorInfo,
        _: &Path,
        _: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if !self.containers.insert(c.clone()) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        ready(Ok(Some(LaunchInfo {
            namespaces: vec![Namespace::Pid, Namespace::Mount],
            ..Default::default()
        })))
    }

    fn isolate(&mut self, c: &ContainerId, _: u32) -> IsolatorFuture<()> {
        ready(self.known(c))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.known(c) {
            Ok(()) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }

    fn update(&mut self, c: &ContainerId, _: &[Resource]) -> IsolatorFuture<()> {
        ready(self.known(c))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        ready(self.known(c).map(|()| ResourceStatistics {
            timestamp: now_secs(),
            ..Default::default()
        }))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.remove(c);
        ready(Ok(()))
    }
}

impl PidNamespace {
    fn known(&self, c: &ContainerId) -> Result<(), IsolatorError> {
        if self.containers.contains(c) {
            Ok(())
        } else {
            Err(IsolatorError::UnknownContainer(c.clone()))
        }
    }
}

/// `unshare` flags for a set of namespaces (a PID namespace always gets a fresh `/proc`).
pub fn unshare_args(namespaces: &[Namespace]) -> Vec<&'static str> {
    let mut args = Vec::new();
    for ns in namespaces {
        match ns {
            Namespace::Pid => args.extend(["--pid", "--fork", "--kill-child"]),
            Namespace::Mount => args.push("--mount"),
            Namespace::Net => args.push("--net"),
            Namespace::Ipc => args.push("--ipc"),
            Namespace::Uts => args.push("--uts"),
        }
    }
    if namespaces.contains(&Namespace::Pid) {
        if !namespaces.contains(&Namespace::Mount) {
            args.push("--mount");
        }
        // Remount /proc privately so the executor sees its own namespace's pids.
        args.push("--mount-proc");
    }
    args
}

/// Rewrites `command` to run inside new `namespaces`, keeping its program, arguments,
/// environment and working directory. No namespaces: the command unchanged.
pub fn wrap_command(command: &Command, namespaces: &[Namespace]) -> Command {
    if namespaces.is_empty() {
        let mut same = Command::new(command.get_program());
        copy_setup(command, &mut same);
        same.args(command.get_args());
        return same;
    }
    let mut wrapped = Command::new(UNSHARE);
    wrapped
        .args(unshare_args(namespaces))
        .arg("--")
        .arg(command.get_program());
    wrapped.args(command.get_args());
    copy_setup(command, &mut wrapped);
    wrapped
}

fn copy_setup(from: &Command, to: &mut Command) {
    for (key, value) in from.get_envs() {
        match value {
            Some(v) => to.env(key, v),
            None => to.env_remove(key),
        };
    }
    if let Some(dir) = from.get_current_dir() {
        to.current_dir(dir);
    }
}

/// Starts `command` as PID 1 of a new PID namespace with a private `/proc`. Standard
/// streams are inherited (a `Command`'s stdio cannot be copied); to redirect them, set
/// them on [`wrap_command`]'s result instead.
pub fn spawn_in_new_pid_ns(command: &Command) -> std::io::Result<Child> {
    wrap_command(command, &[Namespace::Pid, Namespace::Mount]).spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_namespace_always_comes_with_a_private_proc() {
        let args = unshare_args(&[Namespace::Pid]);
        for flag in ["--pid", "--fork", "--mount", "--mount-proc", "--kill-child"] {
            assert!(args.contains(&flag), "{flag} missing from {args:?}");
        }
        assert!(unshare_args(&[Namespace::Net]) == vec!["--net"]);
    }

    #[test]
    fn wrapping_keeps_arguments_environment_and_directory() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hi"])
            .env("A", "1")
            .current_dir("/tmp");
        let wrapped = wrap_command(&cmd, &[Namespace::Pid, Namespace::Mount]);
        assert_eq!(wrapped.get_program(), UNSHARE);
        let args: Vec<_> = wrapped
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.ends_with(&["--".into(), "sh".into(), "-c".into(), "echo hi".into()]),
            "{args:?}"
        );
        assert!(wrapped
            .get_envs()
            .any(|(k, v)| k == "A" && v == Some("1".as_ref())));
        assert_eq!(wrapped.get_current_dir(), Some(Path::new("/tmp")));
    }
}
