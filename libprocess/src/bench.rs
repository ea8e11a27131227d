//! The two sides of the transport demo and benchmark: a `pong` peer and a `driver`.
//!
//! The peer counts `bench.Ping` messages and acknowledges every `ack_every`th (one-way
//! throughput with a bounded window), and answers `bench.Echo` with `bench.Echo` (round
//! trips). The driver runs on its runtime's thread, so what is measured is the transport,
//! not a hop to the caller's thread.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::process::{Ctx, Pid, Process};
use crate::Upid;

/// The benchmark's protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(uint64, required, tag = "1")]
    pub seq: u64,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub payload: Option<Vec<u8>>,
    /// For `bench.Ack`: how many pings the peer has seen.
    #[prost(uint64, optional, tag = "3")]
    pub count: Option<u64>,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "bench";
}

pub const PING: &str = "bench.Ping";
pub const ACK: &str = "bench.Ack";
pub const ECHO: &str = "bench.Echo";
pub const RESET: &str = "bench.Reset";

/// The receiving side.
pub struct Peer {
    count: u64,
    ack_every: u64,
}

impl Peer {
    pub fn new(ack_every: u64) -> Self {
        Peer {
            count: 0,
            ack_every: ack_every.max(1),
        }
    }
}

impl Process for Peer {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<Ping>(|me, ctx, from, _ping| {
            me.count += 1;
            if me.count % me.ack_every == 0 {
                let ack = Ping {
                    seq: 0,
                    payload: None,
                    count: Some(me.count),
                };
                ctx.send_raw(&from, ACK, Bytes::from(prost::Message::encode_to_vec(&ack)));
            }
        });
        ctx.install_raw(ECHO, |_, ctx, from, body| ctx.send_raw(&from, ECHO, body));
        ctx.install_raw(RESET, |me, _, _, _| me.count = 0);
    }
}

/// The measuring side.
#[derive(Default)]
pub struct Driver {
    flood: Option<Flood>,
    rtt: Option<Rtt>,
}

struct Flood {
    peer: Upid,
    body: Bytes,
    total: u64,
    sent: u64,
    window: u64,
    acked: u64,
    started: Instant,
    done: Option<oneshot::Sender<Duration>>,
}

struct Rtt {
    peer: Upid,
    body: Bytes,
    left: u64,
    sent_at: Instant,
    samples: Vec<Duration>,
    done: Option<oneshot::Sender<Vec<Duration>>>,
}

impl Process for Driver {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw(ACK, |me, ctx, _, body| {
            let count = <Ping as prost::Message>::decode(body)
                .ok()
                .and_then(|p| p.count)
                .unwrap_or(0);
            me.on_ack(ctx, count);
        });
        ctx.install_raw(ECHO, |me, ctx, _, _| me.on_echo(ctx));
    }
}

impl Driver {
    fn pump(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(f) = self.flood.as_mut() else { return };
        while f.sent < f.total && f.sent - f.acked < f.window {
            ctx.send_raw(&f.peer, PING, f.body.clone());
            f.sent += 1;
        }
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Self>, count: u64) {
        let Some(f) = self.flood.as_mut() else { return };
        f.acked = f.acked.max(count);
        if f.acked >= f.total {
            let elapsed = f.started.elapsed();
            if let Some(done) = f.done.take() {
                let _ = done.send(elapsed);
            }
            self.flood = None;
            return;
        }
        self.pump(ctx);
    }

    fn on_echo(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(r) = self.rtt.as_mut() else { return };
        r.samples.push(r.sent_at.elapsed());
        r.left -= 1;
        if r.left == 0 {
            if let Some(done) = r.done.take() {
                let _ = done.send(std::mem::take(&mut r.samples));
            }
            self.rtt = None;
            return;
        }
        r.sent_at = Instant::now();
        ctx.send_raw(&r.peer, ECHO, r.body.clone());
    }
}

/// A protobuf `bench.Ping` body of about `size` bytes.
pub fn ping_body(size: usize) -> Bytes {
    let payload = vec![0xabu8; size.saturating_sub(8)];
    Bytes::from(prost::Message::encode_to_vec(&Ping {
        seq: 1,
        payload: Some(payload),
        count: None,
    }))
}

/// Sends `total` pings of `body` to `peer` (which must ack every `window / 4`), keeping at
/// most `window` unacknowledged; returns the time until the last is acknowledged.
pub async fn flood(
    driver: &Pid<Driver>,
    peer: &Upid,
    body: Bytes,
    total: u64,
    window: u64,
) -> Duration {
    let (tx, rx) = oneshot::channel();
    let peer = peer.clone();
    driver.dispatch("flood", move |me, ctx| {
        ctx.send_raw(&peer, RESET, Bytes::new());
        me.flood = Some(Flood {
            peer,
            body,
            total,
            sent: 0,
            window,
            acked: 0,
            started: Instant::now(),
            done: Some(tx),
        });
        me.pump(ctx);
    });
    rx.await.unwrap_or_default()
}

/// `n` sequential round trips; returns each one's latency.
pub async fn round_trips(driver: &Pid<Driver>, peer: &Upid, body: Bytes, n: u64) -> Vec<Duration> {
    let (tx, rx) = oneshot::channel();
    let peer = peer.clone();
    driver.dispatch("round_trips", move |me, ctx| {
        ctx.send_raw(&peer, ECHO, body.clone());
        me.rtt = Some(Rtt {
            peer,
            body,
            left: n.max(1),
            sent_at: Instant::now(),
            samples: Vec::new(),
            done: Some(tx),
        });
    });
    rx.await.unwrap_or_default()
}

/// Reads the peer's UPID from the first stdout line of a `ping-pong serve` child.
pub fn read_peer_line(line: &str) -> Option<Upid> {
    line.trim()
        .strip_prefix("peer ")
        .and_then(|u| Upid::parse(u).ok())
}

/// Percentile of durations in microseconds.
pub fn percentile_us(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    let v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    crate::metrics::percentile(&v, q)
}
