//! Running genuine Apache Mesos 1.11 (from `../shared/interop/native`) next to our code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `<workspace>/../shared/interop/native`, if it exists.
pub fn native_dir() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let dir = workspace.join("../shared/interop/native");
    dir.join("setup.sh")
        .is_file()
        .then(|| dir.canonicalize().unwrap_or(dir))
}

/// The native folder, set up (once per test binary). `None` (after printing why) if the
/// shared folder is absent: the caller should return, passing.
pub fn genuine(test: &str) -> Option<PathBuf> {
    let Some(dir) = native_dir() else {
        println!("SKIPPED {test}: ../shared/interop/native not found (genuine Mesos interop needs the shared folder)");
        eprintln!("SKIPPED {test}: ../shared/interop/native not found (genuine Mesos interop needs the shared folder)");
        return None;
    };
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    let result = SETUP.get_or_init(|| {
        // setup.sh is idempotent but takes ~15 s even when done; the run-*.sh scripts
        // themselves only run it when their binary is missing. Do the same, for every
        // binary the tests use.
        let build = PathBuf::from(
            std::env::var("MESOS_NATIVE_BUILD").unwrap_or_else(|_| "/tmp/mesos-native".into()),
        );
        if ["bin/native-scheduler", "bin/native-local-cluster"]
            .iter()
            .all(|b| build.join(b).is_file())
        {
            return Ok(());
        }
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(dir.join("setup.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run setup.sh: {e}"))?;
        eprintln!(
            "genuine Mesos setup.sh took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "setup.sh failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    Some(dir)
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process in its own process group, killed (the whole group) on drop.
pub struct ChildGuard {
    pub name: String,
    child: Option<Child>,
    /// Removed on drop.
    pub dir: PathBuf,
    lines: Option<mpsc::Receiver<String>>,
    stdout: Vec<String>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout piped line by line and stderr to `<dir>/stderr.log`.
    pub fn spawn(name: &str, cmd: Command) -> ChildGuard {
        Self::spawn_in(name, Self::new_dir(name), cmd)
    }

    /// A fresh scratch directory for a child.
    pub fn new_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mesos-tests-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Like [`ChildGuard::spawn`], in a directory from [`ChildGuard::new_dir`].
    pub fn spawn_in(name: &str, dir: PathBuf, mut cmd: Command) -> ChildGuard {
        use std::os::unix::process::CommandExt;
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildGuard {
            name: name.to_string(),
            child: Some(child),
            dir,
            lines: Some(rx),
            stdout: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        if let Some(l) = self.stdout.iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        let rx = self.lines.as_ref()?;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match rx.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the process to exit (bounded); returns its status and whole stdout.
    pub fn wait(&mut self, timeout: Duration) -> Option<(ExitStatus, Vec<String>)> {
        let child = self.child.as_mut()?;
        let mut status = None;
        if !crate::poll_until(timeout, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        }) {
            return None;
        }
        if let Some(rx) = self.lines.take() {
            // The pipe closes once every holder of it has exited.
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
                self.stdout.push(line);
            }
        }
        Some((status?, self.stdout.clone()))
    }

    /// SIGKILL to the whole process group.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn stdout_so_far(&self) -> &[String] {
        &self.stdout
    }

    /// The tail of the child's stderr, for failure messages.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- {} stderr (tail) ---\n{}",
                self.name,
                self.stderr_tail(40)
            );
            eprintln!("--- {} stdout ---\n{}", self.name, self.stdout.join("\n"));
        }
        kill_processes_of(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A genuine master with no agents: `run-local-cluster.sh PORT 0 DURATION`, with its work
/// dir inside the guard's directory (removed on drop).
pub fn start_genuine_master(native: &Path, port: u16, duration_s: u32) -> ChildGuard {
    start_genuine_master_with_env(native, port, duration_s, &[])
}

/// Like [`start_genuine_master`], with extra environment (e.g. `MESOS_AGENT_PING_TIMEOUT`).
pub fn start_genuine_master_with_env(
    native: &Path,
    port: u16,
    duration_s: u32,
    env: &[(&str, &str)],
) -> ChildGuard {
    let dir = ChildGuard::new_dir("genuine-master");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-local-cluster.sh"))
        .arg(port.to_string())
        .arg("0")
        .arg(duration_s.to_string())
        .env("MESOS_WORK_DIR", &work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP")
        .env_remove("MESOS_ZK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    ChildGuard::spawn_in("genuine-master", dir, cmd)
}

/// Polls `GET /master/health` until it answers 200.
pub fn wait_http_ok(port: u16, path: &str, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = String::new();
    let ok = crate::poll_until(timeout, || match http_get(port, path) {
        Ok((200, _)) => true,
        Ok((status, _)) => {
            last = format!("status {status}");
            false
        }
        Err(e) => {
            last = e;
            false
        }
    });
    if ok {
        return Ok(started.elapsed());
    }
    Err(format!(
        "GET {path} on port {port} never answered 200 in {timeout:?} (last: {last})"
    ))
}

/// A one-shot `GET` (Connection: close); returns the status and body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let resp = crate::wire::split_responses(&buf)?;
    let first = resp.into_iter().next().ok_or("no response")?;
    Ok((first.status, first.body))
}

/// Whether this machine has an ESTABLISHED IPv4 TCP connection from 127.0.0.1 to
/// 127.0.0.1:`port` whose local port is not `port` (i.e. a client connection to it), read
/// from /proc/net/tcp.
pub fn established_to(port: u16) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    text.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[3] != "01" {
            return false;
        }
        let port_of = |a: &str| {
            a.rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        };
        port_of(f[2]) == Some(port) && port_of(f[1]) != Some(port)
    })
}

/// SIGKILL to every process whose environment names a path under `dir`: executors (and their
/// tasks) launched from a work dir there live in sessions of their own, so killing the
/// child's process group does not reach them, and an executor whose agent died may never
/// exit on its own (pymesos's does not).
fn kill_processes_of(dir: &Path) {
    let needle = dir.as_os_str().as_encoded_bytes();
    if needle.len() < 8 {
        return; // never match on something as short as "/" or "/tmp"
    }
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.windows(needle.len()).any(|w| w == needle) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}
