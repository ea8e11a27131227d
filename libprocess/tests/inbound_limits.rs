//! Inbound limits against raw TCP clients: a cap on concurrent connections, an idle timeout
//! that spares peers' links, a bounded buffer for input pipelined behind an endless stream,
//! and senders named by host names rejected without a DNS lookup.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Limits, Process, Reply, Response, Runtime, Upid};
use tokio::sync::mpsc;

/// Records messages; `/stream` answers a stream that only ends when the process does.
struct Sink {
    tx: mpsc::UnboundedSender<(Upid, Bytes)>,
    streams: Vec<mpsc::UnboundedSender<Bytes>>,
}

impl Process for Sink {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw("x.Y", |me, _, from, body| {
            let _ = me.tx.send((from, body));
        });
        ctx.route("/stream", |me, _, _| -> Reply {
            let (response, tx) = Response::stream(200);
            let _ = tx.send(Bytes::from_static(b"first"));
            me.streams.push(tx);
            response.into()
        });
    }
}

fn start(
    limits: Limits,
) -> (
    Runtime,
    libprocess::Pid<Sink>,
    mpsc::UnboundedReceiver<(Upid, Bytes)>,
) {
    let rt = Runtime::start(Config {
        limits,
        ..Config::local()
    })
    .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let sink = rt
        .spawn(
            "sink",
            Sink {
                tx,
                streams: Vec::new(),
            },
        )
        .unwrap();
    (rt, sink, rx)
}

fn message(from: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /sink/x.Y HTTP/1.1\r\nHost: \r\nLibprocess-From: {from}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn connect(addr: SocketAddrV4) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until `n` status lines arrived; returns them, or fewer at EOF.
fn statuses(s: &mut TcpStream, n: usize) -> Vec<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        let found: Vec<u16> = text
            .match_indices("HTTP/1.")
            .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
            .collect();
        if found.len() >= n {
            return found;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return found,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

/// True if the server closed `s` (EOF) within a short wait.
fn closed_soon(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut byte = [0u8; 1];
    let closed = matches!(s.read(&mut byte), Ok(0))
        || matches!(s.read(&mut byte), Err(e) if e.kind() == ErrorKind::ConnectionReset);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    closed
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_counted() {
    let (rt, _sink, _rx) = start(Limits {
        max_inbound_connections: 2,
        ..Limits::default()
    });
    let addr = rt.address();
    let snapshot = rt.clone();
    blocking(move || {
        let mut a = connect(addr);
        let mut b = connect(addr);
        for s in [&mut a, &mut b] {
            s.write_all(&message("a@127.0.0.1:1", "x")).unwrap();
            assert_eq!(statuses(s, 1), vec![202]);
        }
        let mut c = connect(addr);
        let _ = c.write_all(&message("a@127.0.0.1:1", "x"));
        assert_eq!(statuses(&mut c, 1), Vec::<u16>::new(), "over the cap");
        assert_eq!(
            snapshot.metrics().snapshot()["libprocess/connections_refused"],
            1.0
        );
        // A closed connection gives its place back.
        drop(a);
        let admitted = (0..100).any(|_| {
            let mut d = connect(addr);
            if d.write_all(&message("a@127.0.0.1:1", "x")).is_err() {
                return false;
            }
            statuses(&mut d, 1) == vec![202]
        });
        assert!(admitted, "no place freed by a closed connection");
        // The admitted connections still work.
        b.write_all(&message("a@127.0.0.1:1", "y")).unwrap();
        assert_eq!(statuses(&mut b, 1), vec![202]);
    })
    .await;
    rt.shutdown();
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout_but_a_peers_link_is_not() {
    let idle = Duration::from_secs(30);
    let (rt, _sink, mut rx) = start(Limits {
        inbound_idle_timeout: Some(idle),
        ..Limits::default()
    });
    rt.clock().pause();
    let addr = rt.address();
    let mut silent = connect(addr);
    let mut link = connect(addr);
    link.write_all(&message("a@127.0.0.1:1", "1")).unwrap();
    let mut link = blocking(move || {
        assert_eq!(statuses(&mut link, 1), vec![202]);
        link
    })
    .await;
    assert_eq!(&rx.recv().await.unwrap().1[..], b"1");

    // Not before the timeout (in virtual time) ...
    rt.clock().advance(idle - Duration::from_secs(1));
    let (still_open, mut silent) = blocking(move || (!closed_soon(&mut silent), silent)).await;
    assert!(still_open, "closed before the idle timeout");
    // ... but once it elapsed. The timer restarts with each read, so advance until it fires.
    let mut closed = false;
    for _ in 0..20 {
        rt.clock().advance(idle);
        let (c, s) = blocking(move || (closed_soon(&mut silent), silent)).await;
        silent = s;
        if c {
            closed = true;
            break;
        }
    }
    assert!(closed, "the silent connection was never closed");
    assert_eq!(
        rt.metrics().snapshot()["libprocess/connections_idle_closed"],
        1.0
    );
    // The connection that carried a message is a peer's link: it stays.
    link.write_all(&message("a@127.0.0.1:1", "2")).unwrap();
    let link_status = blocking(move || statuses(&mut link, 1)).await;
    assert_eq!(link_status, vec![202]);
    assert_eq!(&rx.recv().await.unwrap().1[..], b"2");
    rt.shutdown();
}

#[tokio::test]
async fn input_pipelined_behind_an_endless_stream_is_not_buffered_without_bound() {
    let (rt, sink, _rx) = start(Limits::default());
    let addr = rt.address();
    let mut s = connect(addr);
    s.write_all(b"GET /sink/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (mut s, head) = blocking(move || {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        (s, String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // Flood the connection without reading. A server that keeps reading into its buffer
    // takes all 64 MiB; one that stops reading leaves the client blocked at the size of the
    // kernel's socket buffers.
    const FLOOD: usize = 64 * 1024 * 1024;
    let (written, s2) = blocking(move || {
        s.set_nonblocking(true).unwrap();
        let junk = vec![b'j'; 64 * 1024];
        let mut written = 0usize;
        let mut stalls = 0;
        while written < FLOOD && stalls < 50 {
            match s.write(&junk) {
                Ok(n) => {
                    written += n;
                    stalls = 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    stalls += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("write failed: {e}"),
            }
        }
        s.set_nonblocking(false).unwrap();
        (written, s)
    })
    .await;
    assert!(
        written < FLOOD / 2,
        "the server buffered {written} bytes pipelined behind a stream"
    );
    // The stream still flows while reading is paused.
    sink.dispatch("push", |me, _| {
        for tx in &me.streams {
            let _ = tx.send(Bytes::from_static(b"second"));
        }
    });
    let mut s = s2;
    let got = blocking(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&buf).contains("second") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await;
    assert!(got.contains("second"), "{got}");
    rt.shutdown();
}

#[tokio::test]
async fn a_sender_named_by_a_host_name_is_rejected_at_once_and_deliveries_continue() {
    let (rt, _sink, mut rx) = start(Limits::default());
    let addr = rt.address();
    let mut s = connect(addr);
    let mut wire = message("a@localhost:1", "by-name");
    wire.extend_from_slice(&message("b@some-host.invalid:1", "by-invalid-name"));
    wire.extend_from_slice(&message("c@127.0.0.1:1", "by-ip"));
    s.write_all(&wire).unwrap();
    let got = blocking(move || statuses(&mut s, 3)).await;
    assert_eq!(got, vec![400, 400, 202]);
    let (from, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from.to_string(), "c@127.0.0.1:1");
    assert_eq!(&body[..], b"by-ip");
    assert_eq!(
        rt.metrics().snapshot()["libprocess/messages_bad_sender"],
        2.0
    );
    rt.shutdown();
}

#[tokio::test]
async fn a_stream_the_client_never_reads_is_cut_off_after_the_write_timeout() {
    let write_timeout = Duration::from_secs(60);
    let (rt, sink, _rx) = start(Limits {
        write_timeout,
        ..Limits::default()
    });
    rt.clock().pause();
    let mut s = connect(rt.address());
    s.write_all(b"GET /sink/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The stream is open once the handler ran.
    for _ in 0..500 {
        if streams(&sink).await.unwrap().0 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(streams(&sink).await.unwrap(), (1, false));
    // The client never reads: once the kernel buffers are full a write stalls, and only the
    // write timeout (in virtual time) ends it, closing the stream for its producer.
    let chunk = Bytes::from(vec![b'e'; 256 * 1024]);
    let mut cut = false;
    for _ in 0..400 {
        let c = chunk.clone();
        sink.dispatch("push", move |me, _| {
            for tx in &me.streams {
                let _ = tx.send(c.clone());
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        rt.clock().advance(write_timeout + Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(1)).await;
        if streams(&sink).await.unwrap().1 {
            cut = true;
            break;
        }
    }
    assert!(cut, "the unread stream was never cut off");
    assert_eq!(
        rt.metrics().snapshot()["libprocess/http_write_timeouts"],
        1.0
    );
    drop(s);
    rt.shutdown();
}

async fn streams(sink: &libprocess::Pid<Sink>) -> Result<(usize, bool), libprocess::Error> {
    sink.call("streams", |me, _| {
        (me.streams.len(), me.streams.iter().all(|tx| tx.is_closed()))
    })
    .await
}
