//! Link/exited against a peer in another OS process that is killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use libprocess::bench::read_peer_line;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use tokio::sync::mpsc;

struct Watcher(mpsc::UnboundedSender<Upid>);

impl Process for Watcher {
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        let _ = self.0.send(pid.clone());
    }
}

#[tokio::test]
async fn linking_process_is_told_exited_when_the_peer_process_is_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ping-pong"))
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start ping-pong serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let peer = read_peer_line(&line).expect("peer upid");

    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = rt.spawn("watcher", Watcher(tx)).unwrap();
    let p = peer.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&p));
    // The link is up once an echo round trip through it completes.
    let driver = rt
        .spawn("ping", libprocess::bench::Driver::default())
        .unwrap();
    let rtts = tokio::time::timeout(
        Duration::from_secs(10),
        libprocess::bench::round_trips(&driver, &peer, bytes::Bytes::from_static(b"x"), 3),
    )
    .await
    .expect("echo through the peer");
    assert_eq!(rtts.len(), 3);
    assert!(rx.try_recv().is_err(), "exited before the peer died");

    child.kill().expect("SIGKILL the peer");
    let _ = child.wait();
    let exited = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no exited")
        .expect("closed");
    assert_eq!(exited, peer);
    rt.shutdown();
}
