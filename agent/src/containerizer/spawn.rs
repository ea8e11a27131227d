//! The launch helper: starts a process held, in its own session, and execs the program
//! directly once released; no intermediate `setsid` or shell.
//!
//! Why not std: `Command::spawn` returns only after the child has exec'd, so a child that
//! waits for the parent (who must first put its pid in cgroups) cannot be built from
//! `pre_exec`; and a plain `fork` of the agent (large, multi-threaded) copies its page
//! tables and makes every page copy-on-write while the child waits. So this module does what
//! glibc's `posix_spawn` does, plus a wait: a dedicated thread clones the child with
//! `CLONE_VM | CLONE_VFORK` (shared memory, that thread suspended until the child execs or
//! exits), and the child, using only raw system calls on data prepared before the clone:
//! resets signal handlers, calls `setsid`, redirects stdio, changes directory, reports its
//! pid, blocks reading the gate pipe, switches user, restores the signal mask and execs.
//! The same thread then reaps the child.
//!
//! The only `unsafe` code of the agent's launch path is here, in [`spawn`] (the clone and
//! the wait) and [`child_main`] (what runs in the child before exec).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{PipeReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mesos_executors::child::Exit;
use tokio::sync::oneshot;

/// What to run: `program` (searched in `PATH` when it has no `/`), its full argv (argv[0]
/// included), its whole environment, its working directory and standard streams, and the
/// ids to switch to (gid then uid; supplementary groups dropped).
pub struct Exec {
    pub program: OsString,
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub stdout: File,
    pub stderr: File,
    pub ids: Option<(u32, u32)>,
}

/// Why a child could not be started held.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{what} contains a NUL byte")]
    Nul { what: &'static str },
    #[error("cannot prepare the launch: {0}")]
    Io(#[from] std::io::Error),
    #[error("the child failed to {step}: {source}")]
    Child {
        step: &'static str,
        source: std::io::Error,
    },
    #[error("the child ended before it was ready")]
    Vanished,
}

/// A started child, held before exec until its gate is released.
pub struct HeldChild {
    pub pid: u32,
    pub gate: std::io::PipeWriter,
    pub exit: oneshot::Receiver<Exit>,
}

/// The steps of the child before it is ready, in order (reported with a failure).
const STEPS: [&str; 6] = [
    "start a new session",
    "redirect stdin",
    "redirect stdout/stderr",
    "close the descriptors it inherited",
    "enter its working directory",
    "report its pid",
];

/// The child's stack: it runs only a few system-call wrappers.
const CHILD_STACK: usize = 256 * 1024;

/// What the child reads, all prepared (and owned) by the launching thread, which stays
/// suspended, keeping it alive, until the child has exec'd or exited.
struct ChildArgs {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    stdin: libc::c_int,
    stdout: libc::c_int,
    stderr: libc::c_int,
    gate: libc::c_int,
    report: libc::c_int,
    ids: Option<(libc::uid_t, libc::gid_t)>,
    /// The mask to exec with (the launching thread's before it blocked every signal).
    mask: libc::sigset_t,
    exec_failed: *const u8,
    exec_failed_len: usize,
}

/// A report on the pipe: `[kind, value, step]`; kind 0 ready (value = pid), 1 failed in
/// the child (value = errno at `step`), 2 the clone failed (value = errno).
type Report = [i32; 3];

fn cstring(s: &OsStr, what: &'static str) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| SpawnError::Nul { what })
}

/// Where `program` is: as given when it names a path, else the first executable file of
/// that name in `path` (the child's `PATH`); as given when none is found, so exec reports it.
fn resolve(program: &OsStr, path: Option<&OsStr>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.as_bytes().contains(&b'/') {
        return PathBuf::from(program);
    }
    let path = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Starts `exec` held: the returned child leads its own session and process group, has its
/// streams and directory set, and runs nothing until `gate` is written to (dropped unwritten,
/// the child exits 1). Its exit arrives on `exit`.
#[allow(unsafe_code)]
pub fn spawn(exec: Exec) -> Result<HeldChild, SpawnError> {
    let path = exec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let program = cstring(resolve(&exec.program, path).as_os_str(), "the program")?;
    let argv = exec
        .argv
        .iter()
        .map(|a| cstring(a, "an argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let envs = exec
        .env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            cstring(&kv, "an environment variable")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = cstring(exec.cwd.as_os_str(), "the working directory")?;
    let exec_failed = format!(
        "Failed to execute '{}'\n",
        Path::new(&exec.program).display()
    )
    .into_bytes();
    // Every descriptor the child dup2s from is >= 3 (std's try_clone), so no redirection
    // overwrites a source still to be used.
    let stdin: OwnedFd = File::open("/dev/null")?.into();
    let stdin = stdin.try_clone()?;
    let stdout: OwnedFd = exec.stdout.into();
    let stdout = stdout.try_clone()?;
    let stderr: OwnedFd = exec.stderr.into();
    let stderr = stderr.try_clone()?;
    let (gate_r, gate_w) = std::io::pipe()?;
    let (mut report_r, report_w) = std::io::pipe()?;
    // Also >= 3, so the redirections cannot overwrite them.
    let gate_r = OwnedFd::from(gate_r).try_clone()?;
    let report_w = OwnedFd::from(report_w).try_clone()?;
    let (exit_tx, exit_rx) = oneshot::channel();

    let thread = move || {
        let argv_ptrs: Vec<*const libc::c_char> = argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let env_ptrs: Vec<*const libc::c_char> = envs
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let mut stack = vec![0u8; CHILD_STACK];
        // SAFETY: sigset_t is plain data; sigfillset/pthread_sigmask only write the sets
        // passed. Every signal is blocked in this thread across the clone so that no agent
        // handler can run in the child (which shares the agent's memory) before it has
        // reset them; the previous mask is restored right after.
        let mut args = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            ChildArgs {
                program: program.as_ptr(),
                argv: argv_ptrs.as_ptr(),
                envp: env_ptrs.as_ptr(),
                cwd: cwd.as_ptr(),
                stdin: stdin.as_raw_fd(),
                stdout: stdout.as_raw_fd(),
                stderr: stderr.as_raw_fd(),
                gate: gate_r.as_raw_fd(),
                report: report_w.as_raw_fd(),
                ids: exec.ids,
                mask: old,
                exec_failed: exec_failed.as_ptr(),
                exec_failed_len: exec_failed.len(),
            }
        };
        // The stack grows down from its 16-byte aligned top.
        let top = stack.as_mut_ptr_range().end as usize & !15;
        // SAFETY: `child_main` touches only `args` and the memory it points to, all owned
        // by this thread, which CLONE_VFORK suspends until the child has exec'd or exited;
        // the child runs on its own stack (`stack`, alive as long). Without CLONE_SIGHAND
        // the child's signal handlers are its own copy. SIGCHLD makes it an ordinary child
        // for waitpid.
        let pid = unsafe {
            let pid = libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &mut args as *mut ChildArgs as *mut libc::c_void,
            );
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            libc::pthread_sigmask(libc::SIG_SETMASK, &args.mask, std::ptr::null_mut());
            if pid < 0 {
                let report: Report = [2, errno, 0];
                let _ = File::from(report_w).write_all(&report_bytes(report));
                return;
            }
            pid
        };
        // The child has exec'd or exited: its copies of these are its own now.
        drop((report_w, gate_r, stdin, stdout, stderr, stack));
        let mut status: libc::c_int = 0;
        let exit = loop {
            // SAFETY: waitpid writes only `status`.
            let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
            if rc == pid {
                use std::os::unix::process::ExitStatusExt;
                break Exit::from_status(std::process::ExitStatus::from_raw(status));
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!(pid, %error, "wait failed");
                break Exit {
                    raw: -1,
                    code: None,
                    signal: None,
                };
            }
        };
        let _ = exit_tx.send(exit);
    };
    std::thread::Builder::new()
        .name("launch".into())
        .spawn(thread)?;
    let report = read_report(&mut report_r)?;
    match report {
        [0, pid, _] => Ok(HeldChild {
            pid: u32::try_from(pid).map_err(|_| SpawnError::Vanished)?,
            gate: gate_w,
            exit: exit_rx,
        }),
        [2, errno, _] => Err(SpawnError::Child {
            step: "be created",
            source: std::io::Error::from_raw_os_error(errno),
        }),
        [_, errno, step] => Err(SpawnError::Child {
            step: usize::try_from(step)
                .ok()
                .and_then(|s| STEPS.get(s))
                .copied()
                .unwrap_or("start"),
            source: std::io::Error::from_raw_os_error(errno),
        }),
    }
}

fn report_bytes(r: Report) -> [u8; 12] {
    let mut b = [0u8; 12];
    for (chunk, v) in b.chunks_exact_mut(4).zip(r) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    b
}

/// The first report: the child's (ready or failed) or the launching thread's (no child).
/// End of file: the child died before reporting and the thread dropped its end.
fn read_report(r: &mut PipeReader) -> Result<Report, SpawnError> {
    let mut b = [0u8; 12];
    match r.read_exact(&mut b) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(SpawnError::Vanished)
        }
        Err(e) => return Err(e.into()),
    }
    let mut out = [0i32; 3];
    for (v, chunk) in out.iter_mut().zip(b.chunks_exact(4)) {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        *v = i32::from_ne_bytes(word);
    }
    Ok(out)
}

/// The child between clone and exec. It shares the agent's memory and the launching
/// thread's TLS (that thread is suspended), so it calls no allocator, takes no lock and
/// changes credentials through raw system calls (glibc's `setuid` would signal every agent
/// thread). It never returns: it execs or `_exit`s.
#[allow(unsafe_code)]
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: see `spawn`; `arg` points to the suspended thread's `ChildArgs`.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        // The agent's handlers live in memory the child shares until exec: defaults.
        for sig in 1..=64 {
            let mut old: libc::sigaction = std::mem::zeroed();
            if sig == libc::SIGKILL
                || sig == libc::SIGSTOP
                || libc::sigaction(sig, std::ptr::null(), &mut old) != 0
            {
                continue;
            }
            if old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        if libc::syscall(libc::SYS_setsid) < 0 {
            child_fail(a.report, 0);
        }
        if libc::dup2(a.stdin, 0) < 0 {
            child_fail(a.report, 1);
        }
        if libc::dup2(a.stdout, 1) < 0 || libc::dup2(a.stderr, 2) < 0 {
            child_fail(a.report, 2);
        }
        // Until exec the child holds every descriptor the agent had (CLOEXEC acts only at
        // exec), among them other held children's gates, whose end of file would never come:
        // keep only the gate and the report pipe.
        let (lo, hi) = (a.gate.min(a.report), a.gate.max(a.report));
        let close = |first: libc::c_int, last: libc::c_uint| {
            libc::syscall(libc::SYS_close_range, first as libc::c_uint, last, 0u32)
        };
        if (lo > 3 && close(3, (lo - 1) as libc::c_uint) < 0)
            || (hi > lo + 1 && close(lo + 1, (hi - 1) as libc::c_uint) < 0)
            || close(hi + 1, libc::c_uint::MAX) < 0
        {
            child_fail(a.report, 3);
        }
        if libc::chdir(a.cwd) != 0 {
            child_fail(a.report, 4);
        }
        let pid = libc::syscall(libc::SYS_getpid) as i32;
        let ready = report_bytes([0, pid, 0]);
        if libc::write(a.report, ready.as_ptr().cast(), ready.len()) != ready.len() as isize {
            child_fail(a.report, 5);
        }
        // Held: one byte from the parent once it has isolated us; end of file: give up.
        let mut go = [0u8; 1];
        loop {
            let n = libc::read(a.gate, go.as_mut_ptr().cast(), 1);
            if n > 0 {
                break;
            }
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            libc::_exit(1);
        }
        if let Some((uid, gid)) = a.ids {
            let no_groups: *const libc::gid_t = std::ptr::null();
            if libc::syscall(libc::SYS_setgroups, 0, no_groups) < 0
                || libc::syscall(libc::SYS_setgid, gid) < 0
                || libc::syscall(libc::SYS_setuid, uid) < 0
            {
                const MSG: &[u8] = b"Failed to switch user\n";
                libc::write(2, MSG.as_ptr().cast(), MSG.len());
                libc::_exit(127);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &a.mask, std::ptr::null_mut());
        libc::execve(a.program, a.argv, a.envp);
        libc::write(2, a.exec_failed.cast(), a.exec_failed_len);
        libc::_exit(127)
    }
}

/// The child reports a failed step and exits.
#[allow(unsafe_code)]
unsafe fn child_fail(report: libc::c_int, step: i32) -> ! {
    // SAFETY: (child side, see `child_main`) errno is the suspended thread's; write and
    // _exit are plain system calls.
    unsafe {
        let errno = *libc::__errno_location();
        let bytes = report_bytes([1, errno, step]);
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A fresh directory removed at drop.
    struct Dir(PathBuf);
    impl Dir {
        fn new() -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("agent-spawn-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn exec(dir: &Path, argv: &[&str]) -> Exec {
        Exec {
            program: argv[0].into(),
            argv: argv.iter().map(OsString::from).collect(),
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("X".into(), "y".into()),
            ],
            cwd: dir.to_path_buf(),
            stdout: File::create(dir.join("stdout")).unwrap(),
            stderr: File::create(dir.join("stderr")).unwrap(),
            ids: None,
        }
    }

    fn stat_fields(pid: u32) -> Vec<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        rest.split_whitespace().map(str::to_string).collect()
    }

    #[tokio::test]
    async fn a_held_child_leads_its_session_before_release_then_execs_the_program_itself() {
        let dir = Dir::new();
        let mut held = spawn(exec(dir.path(), &["sh", "-c", "echo $X $$; pwd"])).unwrap();
        let fields = stat_fields(held.pid);
        let own = held.pid.to_string();
        assert_eq!(
            fields.get(2),
            Some(&own),
            "own process group before release"
        );
        assert_eq!(fields.get(3), Some(&own), "own session before release");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
            ""
        );
        held.gate.write_all(b"g").unwrap();
        let exit = held.exit.await.unwrap();
        assert_eq!(exit.code, Some(0));
        let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        let mut lines = out.lines();
        // The shell is the held pid itself: nothing between the launcher and the program.
        assert_eq!(lines.next(), Some(format!("y {}", held.pid).as_str()));
        assert_eq!(
            Path::new(lines.next().unwrap()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[tokio::test]
    async fn a_child_whose_gate_is_dropped_exits_1_without_running() {
        let dir = Dir::new();
        let held = spawn(exec(dir.path(), &["sh", "-c", "echo ran"])).unwrap();
        drop(held.gate);
        assert_eq!(held.exit.await.unwrap().code, Some(1));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
            ""
        );
    }

    #[tokio::test]
    async fn a_held_child_does_not_keep_another_held_childs_gate_open() {
        let (d1, d2) = (Dir::new(), Dir::new());
        let first = spawn(exec(d1.path(), &["sh", "-c", "echo ran"])).unwrap();
        // Cloned while the first child's gate is open in the agent.
        let mut second = spawn(exec(d2.path(), &["sh", "-c", "echo ran"])).unwrap();
        drop(first.gate);
        let exit = tokio::time::timeout(Duration::from_secs(10), first.exit)
            .await
            .expect("the first child saw its gate close although the second is still held");
        assert_eq!(exit.unwrap().code, Some(1));
        second.gate.write_all(b"g").unwrap();
        assert_eq!(second.exit.await.unwrap().code, Some(0));
        assert_eq!(
            std::fs::read_to_string(d2.path().join("stdout")).unwrap(),
            "ran\n"
        );
    }

    #[tokio::test]
    async fn a_missing_program_exits_127_with_the_reason_in_stderr() {
        let dir = Dir::new();
        let mut held = spawn(exec(dir.path(), &["no-such-program-xyz"])).unwrap();
        held.gate.write_all(b"g").unwrap();
        assert_eq!(held.exit.await.unwrap().code, Some(127));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
            "Failed to execute 'no-such-program-xyz'\n"
        );
    }

    #[test]
    fn a_missing_working_directory_is_reported_at_spawn() {
        let dir = Dir::new();
        let mut e = exec(dir.path(), &["true"]);
        e.cwd = dir.path().join("gone");
        match spawn(e) {
            Err(SpawnError::Child { step, source }) => {
                assert_eq!(step, "enter its working directory");
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected a child failure, got {:?}", other.map(|h| h.pid)),
        }
    }

    #[test]
    fn a_nul_byte_in_an_argument_is_an_error_not_a_panic() {
        let dir = Dir::new();
        let mut e = exec(dir.path(), &["true"]);
        e.argv.push(OsString::from("a\0b"));
        assert!(matches!(spawn(e), Err(SpawnError::Nul { .. })));
    }
}
