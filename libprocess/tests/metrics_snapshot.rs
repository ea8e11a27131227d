//! `/metrics/snapshot` over HTTP: flat JSON rendered by serde_json, and `?jsonp=` validated
//! like every other JSON endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;

use libprocess::{Config, Runtime};

fn get(addr: std::net::SocketAddrV4, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn metrics_snapshot_is_json_and_jsonp_callbacks_are_validated() {
    let rt = Runtime::start(Config::local()).unwrap();
    rt.metrics().gauge("test/\"quoted\"").set(f64::NAN);
    rt.metrics().counter("test/count").add(3);
    let addr = rt.address();
    let (plain, wrapped, bad) = tokio::task::spawn_blocking(move || {
        (
            get(addr, "/metrics/snapshot"),
            get(addr, "/metrics/snapshot?jsonp=cb"),
            get(addr, "/metrics/snapshot?jsonp=cb();alert"),
        )
    })
    .await
    .unwrap();
    assert_eq!(plain.0, 200);
    let body = plain.1.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["test/count"], 3.0);
    assert!(json["test/\"quoted\""].is_null());
    assert_eq!(wrapped.0, 200);
    assert!(wrapped.1.contains("\r\n\r\ncb({"), "{}", wrapped.1);
    assert_eq!(bad.0, 400);
    rt.shutdown();
}

#[tokio::test]
async fn metrics_prometheus_serves_the_snapshot_in_text_format() {
    let rt = Runtime::start(Config::local()).unwrap();
    rt.metrics().counter("master/tasks_finished").add(2);
    rt.metrics().gauge("master/cpus_total").set(4.5);
    let addr = rt.address();
    let (status, text) = tokio::task::spawn_blocking(move || get(addr, "/metrics/prometheus"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert!(text.contains("\nmaster_tasks_finished 2\n"), "{text}");
    assert!(text.contains("\nmaster_cpus_total 4.5\n"), "{text}");
    rt.shutdown();
}

/// Queues events on itself from inside a handler (so none can run yet) and reports what
/// its mailbox holds then.
struct Busy {
    seen: Option<tokio::sync::oneshot::Sender<(usize, usize)>>,
}

impl libprocess::Process for Busy {
    fn initialize(&mut self, ctx: &mut libprocess::Ctx<'_, Self>) {
        ctx.install_raw("noop", |_, _, _, _| {});
        ctx.install_raw("go", |me, ctx, _, _| {
            let me_pid = ctx.pid().clone();
            for _ in 0..3 {
                ctx.runtime()
                    .send(&me_pid, &me_pid, "noop", bytes::Bytes::new());
            }
            for _ in 0..2 {
                ctx.me().dispatch("noop", |_, _| {});
            }
            let depth = ctx.queue_depth();
            let counts = (
                depth.messages.load(std::sync::atomic::Ordering::Acquire),
                depth.dispatches.load(std::sync::atomic::Ordering::Acquire),
            );
            if let Some(tx) = me.seen.take() {
                let _ = tx.send(counts);
            }
        });
    }
}

#[tokio::test]
async fn queue_depth_counts_messages_and_dispatches_waiting_in_a_mailbox() {
    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pid = rt.spawn("busy", Busy { seen: Some(tx) }).unwrap();
    rt.send(pid.upid(), pid.upid(), "go", bytes::Bytes::new());
    let (messages, dispatches) = tokio::time::timeout(std::time::Duration::from_secs(10), rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (messages, dispatches),
        (3, 2),
        "queued behind the running handler"
    );
    // Once they ran, nothing waits.
    let depth = pid.call("depth", |_, ctx| ctx.queue_depth()).await.unwrap();
    assert_eq!(depth.messages.load(std::sync::atomic::Ordering::Acquire), 0);
    assert_eq!(
        depth.dispatches.load(std::sync::atomic::Ordering::Acquire),
        0
    );
    rt.shutdown();
}
