//! A real ZooKeeper server for tests: Debian's `zookeeper` package (installed by
//! `scripts/test.sh`), started on a free loopback port with a temp data dir, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mesos_zookeeper::zookeeper_client;

use crate::native::{free_port, ChildGuard};

/// The jar of Debian's package (its manifest names the dependencies' jars).
const JAR: &str = "/usr/share/java/zookeeper.jar";

/// One standalone ZooKeeper server. The data dir outlives [`ZooKeeperServer::stop`] so a
/// restart keeps the tree and the sessions; it is removed on drop.
pub struct ZooKeeperServer {
    pub port: u16,
    data: PathBuf,
    server: Option<ChildGuard>,
}

impl ZooKeeperServer {
    /// Starts a server, or returns `None` (after printing SKIPPED) if ZooKeeper is not
    /// installed.
    pub fn start(test: &str) -> Option<ZooKeeperServer> {
        if !Path::new(JAR).is_file() {
            println!("SKIPPED {test}: {JAR} not found (apt-get install zookeeper)");
            eprintln!("SKIPPED {test}: {JAR} not found (apt-get install zookeeper)");
            return None;
        }
        let data = ChildGuard::new_dir("zookeeper-data");
        let mut zk = ZooKeeperServer {
            port: free_port(),
            data,
            server: None,
        };
        zk.start_again();
        Some(zk)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `zk://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{}", self.address(), path)
    }

    /// Expires a client's session the way ZooKeeper's own tests do: a second client attaches
    /// to it and closes it; repeated until the server calls the session expired, so when this
    /// returns the owner has lost it (a slow JVM may time an attach out after moving the
    /// session, leaving it alive). A session already expired at the first try was lost by
    /// its owner on its own; that is reported, and counts as done.
    pub async fn expire_session(&self, session: zookeeper_client::SessionInfo) {
        let mut closed_once = false;
        let mut last = None;
        for _ in 0..20 {
            match zookeeper_client::Client::connector()
                .with_session(session.clone())
                .with_connection_timeout(Duration::from_secs(5))
                .connect(&self.address())
                .await
            {
                Ok(other) => {
                    // Dropping the client sends CloseSession from its session task.
                    drop(other);
                    closed_once = true;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(zookeeper_client::Error::SessionExpired) => {
                    if !closed_once {
                        eprintln!("zookeeper: session {session:?} had already expired");
                    }
                    return;
                }
                Err(e) => {
                    eprintln!("zookeeper: cannot attach to session {session:?} yet: {e}");
                    last = Some(e)
                }
            }
        }
        panic!("session {session:?} did not expire (closed by us: {closed_once}): {last:?}");
    }

    /// Kills the server (SIGKILL: a crash, no clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.kill();
        }
    }

    /// Starts the server on the same port and data dir; waits until it serves.
    pub fn start_again(&mut self) {
        assert!(self.server.is_none(), "ZooKeeper is already running");
        let cfg = self.data.join("zoo.cfg");
        // tickTime 200 ms: sessions may be as short as 400 ms, so expiry tests are quick.
        std::fs::write(
            &cfg,
            format!(
                "tickTime=200\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                 maxSessionTimeout=60000\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok\n",
                self.data.join("data").display(),
                self.port
            ),
        )
        .unwrap();
        let mut cmd = Command::new("java");
        cmd.arg("-Xmx256m")
            .arg("-cp")
            .arg(JAR)
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg);
        let mut server = ChildGuard::spawn("zookeeper", cmd);
        let port = self.port;
        let ok = crate::poll_until(Duration::from_secs(30), || ruok(port));
        if !ok {
            let tail = server.stderr_tail(40);
            server.kill();
            panic!("ZooKeeper did not start on port {port}:\n{tail}");
        }
        self.server = Some(server);
    }
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The `ruok` four-letter command answers `imok` once the server serves.
fn ruok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"ruok").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out == "imok"
}
