//! Child processes in their own process group (so a kill reaches everything they started),
//! with their exit watched on a helper thread and delivered as a future.

use std::process::{Child, Command, ExitStatus};

use tokio::sync::oneshot;

/// How a child ended, as a wait(2) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The raw wait status (what `ExitedExecutorMessage.status` carries).
    pub raw: i32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn from_status(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            raw: status.into_raw(),
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// Mesos's wording: "exited with status N" / "terminated with signal NAME".
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("terminated with signal {}", signal_name(sig)),
            _ => format!("ended with wait status {}", self.raw),
        }
    }
}

/// A spawned child: its pid (also its process group id) and its exit.
pub struct Spawned {
    pub pid: u32,
    pub exit: oneshot::Receiver<Exit>,
}

/// The process a `CommandInfo` describes: `/bin/sh -c <value>` when `shell` (the default),
/// else `value` executed with `arguments` as its argv (argv[0] included, as execvp's).
pub fn command_for(value: &str, shell: bool, arguments: &[String]) -> Command {
    if shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(value);
        return c;
    }
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(value);
    if let Some(first) = arguments.first() {
        c.arg0(first);
    }
    c.args(arguments.iter().skip(1));
    c
}

/// Spawns `cmd` as the leader of a new process group and watches it.
pub fn spawn_in_group(mut cmd: Command) -> std::io::Result<Spawned> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let child = cmd.spawn()?;
    Ok(watch(child))
}

/// Watches an already spawned child on a helper thread.
pub fn watch(mut child: Child) -> Spawned {
    let pid = child.id();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("wait-{pid}"))
        .spawn(move || {
            let exit = match child.wait() {
                Ok(status) => Exit::from_status(status),
                Err(e) => {
                    tracing::warn!(pid, error = %e, "wait failed");
                    Exit {
                        raw: -1,
                        code: None,
                        signal: None,
                    }
                }
            };
            let _ = tx.send(exit);
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!(pid, error = %e, "cannot start the wait thread"));
    Spawned { pid, exit: rx }
}

/// Sends `signal` to the process group led by `pgid`. Errors (e.g. the group is gone) are
/// returned for logging only.
#[allow(unsafe_code)]
pub fn signal_group(pgid: u32, signal: i32) -> std::io::Result<()> {
    let pgid =
        i32::try_from(pgid).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    if pgid <= 1 {
        // Never signal "every process" (-1) or our own group (0).
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill(2) has no memory effects; a negative pid targets exactly that group.
    let rc = unsafe { libc::kill(-pgid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The description `strsignal(3)` gives (what Mesos prints: "terminated with signal Killed").
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "Hangup",
        libc::SIGINT => "Interrupt",
        libc::SIGQUIT => "Quit",
        libc::SIGABRT => "Aborted",
        libc::SIGKILL => "Killed",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGALRM => "Alarm clock",
        libc::SIGTERM => "Terminated",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGUSR2 => "User defined signal 2",
        _ => return format!("Unknown signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_signal_every_process() {
        assert!(signal_group(1, libc::SIGTERM).is_err());
        assert!(signal_group(0, libc::SIGTERM).is_err());
    }

    #[tokio::test]
    async fn exit_of_a_grouped_child_is_reported() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exit 3"]);
        let s = spawn_in_group(cmd).unwrap();
        let exit = s.exit.await.unwrap();
        assert_eq!(exit.code, Some(3));
        assert_eq!(exit.describe(), "exited with status 3");
    }

    #[tokio::test]
    async fn group_kill_reports_the_signal() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "sleep 30"]);
        let s = spawn_in_group(cmd).unwrap();
        signal_group(s.pid, libc::SIGKILL).unwrap();
        let exit = s.exit.await.unwrap();
        assert_eq!(exit.signal, Some(libc::SIGKILL));
        assert_eq!(exit.describe(), "terminated with signal Killed");
    }
}
