//! Outbound connections to peers that never read or never accept cost bounded memory: the
//! queue cap, the write timeout and the connect timeout each drop the connection, discard
//! what was queued (counted) and tell linked processes `exited`.

use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Limits, Process, Runtime, Upid};
use tokio::sync::mpsc;

struct Watcher(mpsc::UnboundedSender<Upid>);

impl Process for Watcher {
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        let _ = self.0.send(pid.clone());
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("loopback v4 expected"),
    }
}

/// A peer that accepts connections and never reads from them. Returns its address and a
/// channel that reports each accepted connection.
fn deaf_peer() -> (SocketAddrV4, std_mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = v4(listener.local_addr().unwrap());
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            held.push(stream);
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

fn start(limits: Limits) -> (Runtime, mpsc::UnboundedReceiver<Upid>) {
    let rt = Runtime::start(Config {
        limits,
        ..Config::local()
    })
    .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    rt.spawn("watcher", Watcher(tx)).unwrap();
    (rt, rx)
}

fn link(rt: &Runtime, peer: &Upid) {
    rt.link(&rt.upid("watcher"), peer);
}

const BODY: usize = 64 * 1024;

#[tokio::test]
async fn a_peer_that_never_reads_is_dropped_once_its_queue_exceeds_the_cap() {
    let (addr, accepted) = deaf_peer();
    let (rt, mut exited) = start(Limits {
        max_queued_bytes: 1024 * 1024,
        ..Limits::default()
    });
    let peer = Upid::new("deaf", addr);
    link(&rt, &peer);
    accepted.recv_timeout(Duration::from_secs(5)).unwrap();

    let me = rt.upid("sender");
    let body = Bytes::from(vec![b'x'; BODY]);
    let mut sent = 0usize;
    // 256 MiB at most: far more than the kernel's socket buffers can absorb.
    let got = loop {
        assert!(sent < 4096, "no overflow after {sent} messages");
        rt.send(&me, &peer, "x.Y", body.clone());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Ok(pid) = exited.try_recv() {
            break pid;
        }
    };
    assert_eq!(got, peer);
    let snap = rt.metrics().snapshot();
    assert_eq!(snap["libprocess/outbound_queue_overflows"], 1.0);
    assert!(snap["libprocess/outbound_messages_dropped"] >= 1.0);
    rt.shutdown();
}

#[tokio::test]
async fn a_write_that_stalls_past_the_write_timeout_drops_the_connection() {
    let (addr, accepted) = deaf_peer();
    let write_timeout = Duration::from_secs(60);
    let (rt, mut exited) = start(Limits {
        write_timeout,
        ..Limits::default()
    });
    rt.clock().pause();
    let peer = Upid::new("deaf", addr);
    link(&rt, &peer);
    accepted.recv_timeout(Duration::from_secs(5)).unwrap();

    let me = rt.upid("sender");
    let body = Bytes::from(vec![b'x'; BODY]);
    let mut sent = 0usize;
    // Writes complete while the kernel buffers have room; once they are full a write stalls
    // and only advancing the clock past the write timeout gives up on it.
    let got = loop {
        assert!(sent < 2048, "no write timeout after {sent} messages");
        rt.send(&me, &peer, "x.Y", body.clone());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
        rt.clock().advance(write_timeout + Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(1)).await;
        if let Ok(pid) = exited.try_recv() {
            break pid;
        }
    };
    assert_eq!(got, peer);
    let snap = rt.metrics().snapshot();
    assert!(!snap.contains_key("libprocess/outbound_queue_overflows"));
    rt.shutdown();
}

#[tokio::test]
async fn a_link_to_a_peer_that_never_accepts_gets_exited_after_the_connect_timeout() {
    // A listening socket with a backlog of 0 whose one slot is taken: further SYNs are
    // dropped, so connects hang (only loopback is used).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = v4(listener.local_addr().unwrap());
    let _filler = TcpStream::connect(addr).unwrap();
    let probe = TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_millis(200));
    assert!(probe.is_err(), "the backlog is not full; cannot test");

    let connect_timeout = Duration::from_secs(30);
    let (rt, mut exited) = start(Limits {
        connect_timeout,
        ..Limits::default()
    });
    rt.clock().pause();
    let peer = Upid::new("unreachable", addr);
    link(&rt, &peer);
    rt.send(
        &rt.upid("sender"),
        &peer,
        "x.Y",
        Bytes::from_static(b"lost"),
    );
    // Until the connect timeout elapses (in virtual time), nothing happens.
    tokio::time::sleep(Duration::from_millis(50)).await;
    rt.clock().advance(connect_timeout - Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        exited.try_recv().is_err(),
        "exited before the connect timeout"
    );
    rt.clock().advance(Duration::from_secs(2));
    let got = tokio::time::timeout(Duration::from_secs(5), exited.recv())
        .await
        .expect("no exited after the connect timeout")
        .unwrap();
    assert_eq!(got, peer);
    assert_eq!(
        rt.metrics().snapshot()["libprocess/outbound_messages_dropped"],
        1.0
    );
    drop(listener);
    rt.shutdown();
}
