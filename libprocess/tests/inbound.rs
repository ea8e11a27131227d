//! The inbound side against raw TCP peers: every framing third-party and older libprocess
//! peers use, pipelining, and bad input that must be answered and counted, never fatal.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use tokio::sync::mpsc;

struct Sink {
    tx: mpsc::UnboundedSender<(Upid, String, Bytes)>,
}

impl Process for Sink {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in [
            "mesos.internal.PongSlaveMessage",
            "mesos.scheduler.Call",
            "x.Y",
        ] {
            ctx.install_raw(name, move |me, _, from, body| {
                let _ = me.tx.send((from, name.to_string(), body));
            });
        }
    }
}

fn start() -> (Runtime, mpsc::UnboundedReceiver<(Upid, String, Bytes)>) {
    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    rt.spawn("master", Sink { tx }).unwrap();
    (rt, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(Upid, String, Bytes)>) -> (Upid, String, Bytes) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("timed out")
        .expect("closed")
}

/// Writes `bytes`, then reads until `n` complete responses (status lines) or EOF.
fn exchange(addr: SocketAddrV4, bytes: &[u8], n: usize) -> Vec<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let statuses = statuses(&buf);
        if statuses.len() >= n {
            return statuses;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return statuses,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

fn statuses(buf: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(buf);
    text.match_indices("HTTP/1.")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn accepts_the_0_18_form_http_1_0_with_user_agent_only() {
    let (rt, mut rx) = start();
    let addr = rt.address();
    let req = b"POST /master/x.Y HTTP/1.0\r\nUser-Agent: libprocess/scheduler(1)@127.0.0.1:4000\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(blocking(move || exchange(addr, req, 1)).await, vec![202]);
    let (from, name, body) = next(&mut rx).await;
    assert_eq!(from.to_string(), "scheduler(1)@127.0.0.1:4000");
    assert_eq!(name, "x.Y");
    assert_eq!(&body[..], b"abc");
    rt.shutdown();
}

#[tokio::test]
async fn accepts_the_1_x_chunked_form_and_empty_unframed_bodies_pipelined() {
    let (rt, mut rx) = start();
    let addr = rt.address();
    let from = "slave(1)@127.0.0.1:26081";
    let mut wire = Vec::new();
    // As the genuine agent sends a pong: no framing headers at all.
    wire.extend_from_slice(format!("POST /master/mesos.internal.PongSlaveMessage HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\nConnection: Keep-Alive\r\nHost: \r\n\r\n").as_bytes());
    // As the genuine driver sends a call: one chunk.
    wire.extend_from_slice(format!("POST /master/mesos.scheduler.Call HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\nConnection: Keep-Alive\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\x10\x01\r\n0\r\n\r\n").as_bytes());
    // A third-party peer: Content-Length, different header order, lowercase names.
    wire.extend_from_slice(format!("POST /master/x.Y HTTP/1.1\r\ncontent-length: 2\r\nlibprocess-from: {from}\r\nhost: 127.0.0.1\r\n\r\nhi").as_bytes());
    assert_eq!(
        blocking(move || exchange(addr, &wire, 3)).await,
        vec![202, 202, 202]
    );
    let got: Vec<_> = vec![
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ];
    assert_eq!(got[0].1, "mesos.internal.PongSlaveMessage");
    assert!(got[0].2.is_empty());
    assert_eq!(got[1].1, "mesos.scheduler.Call");
    assert_eq!(&got[1].2[..], b"\x10\x01");
    assert_eq!(&got[2].2[..], b"hi");
    assert!(got.iter().all(|(f, _, _)| f.to_string() == from));
    rt.shutdown();
}

#[tokio::test]
async fn libprocess_from_wins_over_the_user_agent() {
    let (rt, mut rx) = start();
    let addr = rt.address();
    let req = b"POST /master/x.Y HTTP/1.1\r\nHost: \r\nUser-Agent: libprocess/a@127.0.0.1:1\r\nLibprocess-From:  b@127.0.0.1:2 \r\nContent-Length: 0\r\n\r\n";
    assert_eq!(blocking(move || exchange(addr, req, 1)).await, vec![202]);
    assert_eq!(next(&mut rx).await.0.to_string(), "b@127.0.0.1:2");
    rt.shutdown();
}

#[tokio::test]
async fn unknown_process_gets_404_and_the_connection_keeps_working() {
    let (rt, mut rx) = start();
    let addr = rt.address();
    let wire = b"POST /nobody/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 0\r\n\r\n\
POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 1\r\n\r\nz";
    assert_eq!(
        blocking(move || exchange(addr, wire, 2)).await,
        vec![404, 202]
    );
    assert_eq!(&next(&mut rx).await.2[..], b"z");
    rt.shutdown();
}

#[tokio::test]
async fn malformed_input_is_answered_4xx_counted_and_the_process_keeps_running() {
    let rt = Runtime::start(Config {
        max_body: 1024,
        ..Config::local()
    })
    .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn("master", Sink { tx }).unwrap();
    let addr = rt.address();

    // Malformed sender UPID.
    let bad_from = b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: not-a-upid\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        blocking(move || exchange(addr, bad_from, 1)).await,
        vec![400]
    );
    // No message name.
    let no_name = b"POST /master HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        blocking(move || exchange(addr, no_name, 1)).await,
        vec![400]
    );
    // Oversize body, announced and chunked.
    let big = b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 4096\r\n\r\n";
    assert_eq!(blocking(move || exchange(addr, big, 1)).await, vec![413]);
    let mut chunked = b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n".to_vec();
    chunked.extend_from_slice(&[b'a'; 0x800]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(
        blocking(move || exchange(addr, &chunked, 1)).await,
        vec![413]
    );
    // Garbage request line and broken headers: answered 400 by the parser, then closed.
    let garbage = b"\x16\x03\x01 hello there\r\n\r\n";
    assert_eq!(
        blocking(move || exchange(addr, garbage, 1)).await,
        vec![400]
    );
    let bad_header =
        b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From a@127.0.0.1:1\r\n\r\n";
    assert_eq!(
        blocking(move || exchange(addr, bad_header, 1)).await,
        vec![400]
    );
    // Like genuine libprocess, a missing Host is accepted (peers send it empty or not at all).
    let no_host = b"POST /master/x.Y HTTP/1.1\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 2\r\n\r\nnh";
    assert_eq!(
        blocking(move || exchange(addr, no_host, 1)).await,
        vec![202]
    );
    assert_eq!(&next(&mut rx).await.2[..], b"nh");
    let bad_chunk = b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let s = blocking(move || exchange(addr, bad_chunk, 1)).await;
    assert_eq!(s, vec![400]);

    // The process still works.
    let ok = b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(blocking(move || exchange(addr, ok, 1)).await, vec![202]);
    assert_eq!(&next(&mut rx).await.2[..], b"ok");
    let snap = rt.metrics().snapshot();
    assert_eq!(snap["libprocess/messages_bad_sender"], 1.0);
    assert_eq!(snap["libprocess/messages_bad_path"], 1.0);
    assert_eq!(snap["libprocess/requests_too_large"], 2.0);
    assert_eq!(snap["libprocess/requests_malformed"], 3.0);
    rt.shutdown();
}

#[tokio::test]
async fn a_get_with_a_libprocess_user_agent_is_plain_http() {
    let (rt, _rx) = start();
    let addr = rt.address();
    let req = b"GET /metrics/snapshot HTTP/1.1\r\nHost: x\r\nUser-Agent: libprocess/a@127.0.0.1:1\r\nConnection: close\r\n\r\n";
    assert_eq!(blocking(move || exchange(addr, req, 1)).await, vec![200]);
    rt.shutdown();
}

#[tokio::test]
async fn an_idle_inbound_connection_is_never_closed_by_us() {
    let (rt, mut rx) = start();
    let addr = rt.address();
    let mut s = TcpStream::connect(addr).unwrap();
    // No request or keep-alive timeout applies to an idle peer connection.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 1\r\n\r\n1").unwrap();
    assert_eq!(&next(&mut rx).await.2[..], b"1");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(b"POST /master/x.Y HTTP/1.1\r\nHost: x\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 1\r\n\r\n2").unwrap();
    assert_eq!(&next(&mut rx).await.2[..], b"2");
    rt.shutdown();
}
