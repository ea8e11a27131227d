//! Runtime behaviour across two runtimes (two ports, real TCP) in one test process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Matcher, Process, Reply, Response, Runtime, Upid};
use tokio::sync::mpsc;

/// A small protobuf message for typed handlers.
#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(uint64, required, tag = "1")]
    seq: u64,
    #[prost(string, optional, tag = "2")]
    note: Option<String>,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "test";
}

#[derive(Debug, PartialEq)]
enum Seen {
    Ping(Upid, u64),
    Raw(Upid, String, Bytes),
    Exited(Upid),
    Timer(&'static str),
}

/// Records whatever reaches it into a channel the test reads.
struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    raw: Vec<&'static str>,
}

impl Process for Recorder {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<Ping>(|me, _ctx, from, ping| {
            let _ = me.tx.send(Seen::Ping(from, ping.seq));
        });
        for name in self.raw.clone() {
            ctx.install_raw(name, move |me, _ctx, from, body| {
                let _ = me.tx.send(Seen::Raw(from, name.to_string(), body));
            });
        }
        ctx.route("/hello", |_, ctx, req| -> Reply {
            Response::ok(format!(
                "hello {} rest={} q={:?}",
                ctx.pid().id,
                req.rest,
                req.query("x")
            ))
            .into()
        });
        ctx.route("/hello/deeper", |_, _, _| -> Reply {
            Response::ok("deeper").into()
        });
    }

    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        let _ = self.tx.send(Seen::Exited(pid.clone()));
    }
}

fn recorder(rt: &Runtime, id: &str) -> (libprocess::Pid<Recorder>, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pid = rt
        .spawn(
            id,
            Recorder {
                tx,
                raw: vec!["raw.Thing"],
            },
        )
        .expect("spawn");
    (pid, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("timed out waiting for a delivery")
        .expect("channel closed")
}

/// A process that only sends, from a given id.
struct Sender;
impl Process for Sender {}

fn encode(p: &Ping) -> Bytes {
    Bytes::from(prost::Message::encode_to_vec(p))
}

#[tokio::test]
async fn messages_between_runtimes_arrive_in_order_with_their_sender() {
    let a = Runtime::start(Config::local()).unwrap();
    let b = Runtime::start(Config::local()).unwrap();
    let sender = a.spawn("sender", Sender).unwrap();
    let (pid, mut rx) = recorder(&b, "receiver");
    for seq in 0..500u64 {
        a.send(
            sender.upid(),
            pid.upid(),
            "test.Ping",
            encode(&Ping { seq, note: None }),
        );
    }
    for seq in 0..500u64 {
        assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), seq));
    }
    assert!(a.metrics().snapshot()["libprocess/messages_sent"] >= 500.0);
    a.shutdown();
    b.shutdown();
}

#[tokio::test]
async fn local_delivery_does_not_touch_the_network() {
    let rt = Runtime::start(Config::local()).unwrap();
    let sender = rt.spawn("sender", Sender).unwrap();
    let (pid, mut rx) = recorder(&rt, "receiver");
    rt.send(
        sender.upid(),
        pid.upid(),
        "test.Ping",
        encode(&Ping { seq: 7, note: None }),
    );
    assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), 7));
    let snap = rt.metrics().snapshot();
    assert_eq!(
        snap.get("libprocess/messages_sent").copied().unwrap_or(0.0),
        0.0
    );
    rt.shutdown();
}

#[tokio::test]
async fn generated_ids_count_from_one_per_prefix() {
    let rt = Runtime::start(Config::local()).unwrap();
    assert_eq!(rt.generate_id("slave"), "slave(1)");
    assert_eq!(rt.generate_id("slave"), "slave(2)");
    assert_eq!(rt.generate_id("slave-observer"), "slave-observer(1)");
    assert!(matches!(
        rt.spawn("metrics", Sender),
        Err(libprocess::Error::IdInUse(_))
    ));
    rt.shutdown();
}

#[tokio::test]
async fn body_missing_a_required_field_is_dropped_and_the_process_keeps_running() {
    let a = Runtime::start(Config::local()).unwrap();
    let b = Runtime::start(Config::local()).unwrap();
    let sender = a.spawn("sender", Sender).unwrap();
    let (pid, mut rx) = recorder(&b, "receiver");
    // A validator like mesos-proto's: `seq` (field 1) is required.
    b.set_validator(|name, body| {
        if name == "test.Ping" && !body.first().is_some_and(|b| *b == 0x08) {
            return Err("missing required field test.Ping.seq".into());
        }
        Ok(())
    });
    a.send(
        sender.upid(),
        pid.upid(),
        "test.Ping",
        Bytes::from_static(&[0x12, 0x01, b'x']),
    );
    a.send(
        sender.upid(),
        pid.upid(),
        "test.Ping",
        Bytes::from_static(&[0xff, 0xff, 0xff]),
    );
    a.send(
        sender.upid(),
        pid.upid(),
        "test.Unknown",
        Bytes::from_static(b"zz"),
    );
    a.send(
        sender.upid(),
        pid.upid(),
        "test.Ping",
        encode(&Ping {
            seq: 42,
            note: None,
        }),
    );
    assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), 42));
    let snap = b.metrics().snapshot();
    assert_eq!(snap["libprocess/messages_dropped_invalid"], 2.0);
    assert_eq!(snap["libprocess/messages_unknown"], 1.0);
    a.shutdown();
    b.shutdown();
}

#[tokio::test]
async fn link_reports_exited_when_the_remote_runtime_goes_away() {
    let a = Runtime::start(Config::local()).unwrap();
    let b = Runtime::start(Config::local()).unwrap();
    let (watcher, mut rx) = recorder(&a, "watcher");
    let target = b.spawn("target", Sender).unwrap();
    let target_upid = target.upid().clone();
    let t = target_upid.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&t));
    // Prove the link's connection is up before the peer dies.
    b.clock().settle().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.shutdown();
    assert_eq!(next(&mut rx).await, Seen::Exited(target_upid));
    a.shutdown();
}

#[tokio::test]
async fn link_to_an_unreachable_address_reports_exited() {
    let a = Runtime::start(Config::local()).unwrap();
    let (watcher, mut rx) = recorder(&a, "watcher");
    // Nothing listens on port 1.
    let nobody = Upid::parse("master@127.0.0.1:1").unwrap();
    let n = nobody.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&n));
    assert_eq!(next(&mut rx).await, Seen::Exited(nobody));
    a.shutdown();
}

#[tokio::test]
async fn local_link_reports_exited_on_terminate_and_for_missing_processes() {
    let rt = Runtime::start(Config::local()).unwrap();
    let (watcher, mut rx) = recorder(&rt, "watcher");
    let target = rt.spawn("target", Sender).unwrap();
    let t = target.upid().clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&t));
    rt.clock().settle().await;
    target.terminate();
    assert_eq!(next(&mut rx).await, Seen::Exited(target.upid().clone()));
    let ghost = rt.upid("ghost");
    let g = ghost.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&g));
    assert_eq!(next(&mut rx).await, Seen::Exited(ghost));
    rt.shutdown();
}

/// Tells a recorder after a delay, using the runtime clock.
struct Timed {
    tx: mpsc::UnboundedSender<Seen>,
}
impl Process for Timed {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.delay(Duration::from_secs(75), "ping_timeout", |me, _| {
            let _ = me.tx.send(Seen::Timer("ping_timeout"));
        });
    }
}

#[tokio::test]
async fn delayed_dispatch_fires_only_when_the_paused_clock_is_advanced() {
    let rt = Runtime::start(Config::local()).unwrap();
    rt.clock().pause();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn("timed", Timed { tx }).unwrap();
    rt.clock().settle().await;
    rt.clock().advance(Duration::from_secs(74));
    rt.clock().settle().await;
    assert!(rx.try_recv().is_err(), "fired before its deadline");
    rt.clock().advance(Duration::from_secs(1));
    rt.clock().settle().await;
    assert_eq!(rx.try_recv().ok(), Some(Seen::Timer("ping_timeout")));
    rt.shutdown();
}

#[tokio::test]
async fn drop_filter_loses_exactly_the_next_matching_message() {
    let a = Runtime::start(Config::local()).unwrap();
    let b = Runtime::start(Config::local()).unwrap();
    let sender = a.spawn("sender", Sender).unwrap();
    let (pid, mut rx) = recorder(&b, "receiver");
    let dropped = b
        .filters()
        .drop_next(Matcher::message("test.Ping").to(pid.upid()));
    for seq in 1..=3u64 {
        a.send(
            sender.upid(),
            pid.upid(),
            "test.Ping",
            encode(&Ping { seq, note: None }),
        );
    }
    assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), 2));
    assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), 3));
    let ev = dropped.await.unwrap();
    assert_eq!(ev.name(), "test.Ping");
    a.shutdown();
    b.shutdown();
}

#[tokio::test]
async fn hold_filter_delays_messages_until_released() {
    let rt = Runtime::start(Config::local()).unwrap();
    let sender = rt.spawn("sender", Sender).unwrap();
    let (pid, mut rx) = recorder(&rt, "receiver");
    let held = rt.filters().hold(Matcher::message("raw.Thing"));
    rt.send(
        sender.upid(),
        pid.upid(),
        "raw.Thing",
        Bytes::from_static(b"1"),
    );
    rt.send(
        sender.upid(),
        pid.upid(),
        "test.Ping",
        encode(&Ping { seq: 9, note: None }),
    );
    assert_eq!(next(&mut rx).await, Seen::Ping(sender.upid().clone(), 9));
    assert_eq!(held.count(), 1);
    rt.filters().release(held);
    assert_eq!(
        next(&mut rx).await,
        Seen::Raw(
            sender.upid().clone(),
            "raw.Thing".into(),
            Bytes::from_static(b"1")
        )
    );
    rt.shutdown();
}

#[tokio::test]
async fn dispatch_filter_drops_a_named_dispatch() {
    let rt = Runtime::start(Config::local()).unwrap();
    let (pid, mut rx) = recorder(&rt, "receiver");
    rt.filters()
        .drop_next(Matcher::dispatch("poke").to(pid.upid()));
    let me = pid.upid().clone();
    pid.dispatch("poke", move |r, _| {
        let _ = r.tx.send(Seen::Exited(me));
    });
    let value = pid
        .call("other", |_, ctx| ctx.pid().id.clone())
        .await
        .unwrap();
    assert_eq!(value, "receiver");
    assert!(rx.try_recv().is_err());
    rt.shutdown();
}

fn http_get(addr: std::net::SocketAddrV4, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn http_routes_pick_the_longest_prefix_and_unknown_ids_go_to_the_delegate() {
    let rt = Runtime::start(Config {
        delegate: Some("receiver".into()),
        ..Config::local()
    })
    .unwrap();
    let (_pid, _rx) = recorder(&rt, "receiver");
    let addr = rt.address();
    let (s, b) = tokio::task::spawn_blocking(move || http_get(addr, "/receiver/hello/a/b?x=1"))
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(b, "hello receiver rest=a/b q=Some(\"1\")");
    let (s, b) = tokio::task::spawn_blocking(move || http_get(addr, "/receiver/hello/deeper/"))
        .await
        .unwrap();
    assert_eq!((s, b.as_str()), (200, "deeper"));
    let (s, b) = tokio::task::spawn_blocking(move || http_get(addr, "/hello"))
        .await
        .unwrap();
    assert_eq!((s, b.as_str()), (200, "hello receiver rest= q=None"));
    let (s, _) = tokio::task::spawn_blocking(move || http_get(addr, "/receiver/nope"))
        .await
        .unwrap();
    assert_eq!(s, 404);
    let (s, _) =
        tokio::task::spawn_blocking(move || http_get(addr, "/receiver/../metrics/snapshot"))
            .await
            .unwrap();
    assert_eq!(s, 404);
    let (s, b) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics/snapshot"))
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert!(
        b.starts_with('{') && b.contains("libprocess/connections_accepted"),
        "{b}"
    );
    rt.shutdown();
}
