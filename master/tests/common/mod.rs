//! Helpers for in-process master tests: a master in its own runtime, and peer processes
//! (an agent, a v0 scheduler) in the same runtime that record what they receive.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Pid, Process, Runtime, Upid};
use mesos_master::{Flags, MasterHandle};
use mesos_proto::mesos::internal::PongSlaveMessage;
use tokio::sync::mpsc;

/// A message a peer received.
#[derive(Debug, Clone)]
pub struct Got {
    pub from: Upid,
    pub name: String,
    pub body: Bytes,
}

impl Got {
    pub fn decode<M: prost::Message + Default>(&self) -> M {
        M::decode(self.body.as_ref()).expect("decodable message")
    }
}

/// A process that records the named messages it receives; as an agent it answers pings.
pub struct Peer {
    tx: mpsc::UnboundedSender<Got>,
    names: Vec<&'static str>,
}

impl Process for Peer {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in self.names.clone() {
            ctx.install_raw(name, move |me, ctx, from, body| {
                if name == "mesos.internal.PingSlaveMessage" {
                    ctx.send(&from, &PongSlaveMessage {});
                }
                let _ = me.tx.send(Got {
                    from,
                    name: name.to_string(),
                    body,
                });
            });
        }
    }
}

pub struct PeerHandle {
    pub pid: Pid<Peer>,
    pub rx: mpsc::UnboundedReceiver<Got>,
    pub rt: Runtime,
}

impl PeerHandle {
    pub fn upid(&self) -> &Upid {
        self.pid.upid()
    }

    pub fn send<M: prost::Message + prost::Name>(&self, to: &Upid, m: &M) {
        self.rt.send(
            self.pid.upid(),
            to,
            &M::full_name(),
            Bytes::from(m.encode_to_vec()),
        );
    }

    pub fn send_raw(&self, to: &Upid, name: &str, body: Bytes) {
        self.rt.send(self.pid.upid(), to, name, body);
    }

    /// The next message named `name` (others are skipped), within 10 s of real time.
    pub async fn expect<M: prost::Message + prost::Name + Default>(&mut self) -> (Upid, M) {
        let name = M::full_name();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let g = self.rx.recv().await.expect("peer channel open");
                if g.name == name {
                    return g;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {name}"));
        (got.from.clone(), got.decode())
    }

    /// A message named `M` if one is already queued or arrives within `wait`.
    pub async fn maybe<M: prost::Message + prost::Name + Default>(
        &mut self,
        wait: Duration,
    ) -> Option<M> {
        let name = M::full_name();
        tokio::time::timeout(wait, async {
            loop {
                let g = self.rx.recv().await?;
                if g.name == name {
                    return Some(g.decode());
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Drops everything received so far.
    pub fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

pub const AGENT_MESSAGES: &[&str] = &[
    "mesos.internal.SlaveRegisteredMessage",
    "mesos.internal.SlaveReregisteredMessage",
    "mesos.internal.PingSlaveMessage",
    "mesos.internal.RunTaskMessage",
    "mesos.internal.RunTaskGroupMessage",
    "mesos.internal.KillTaskMessage",
    "mesos.internal.ShutdownFrameworkMessage",
    "mesos.internal.StatusUpdateAcknowledgementMessage",
    "mesos.internal.FrameworkToExecutorMessage",
    "mesos.internal.UpdateFrameworkMessage",
];

pub const SCHEDULER_MESSAGES: &[&str] = &[
    "mesos.internal.FrameworkRegisteredMessage",
    "mesos.internal.FrameworkReregisteredMessage",
    "mesos.internal.FrameworkErrorMessage",
    "mesos.internal.ResourceOffersMessage",
    "mesos.internal.RescindResourceOfferMessage",
    "mesos.internal.StatusUpdateMessage",
    "mesos.internal.LostSlaveMessage",
    "mesos.internal.ExitedExecutorMessage",
    "mesos.internal.ExecutorToFrameworkMessage",
];

pub fn peer(rt: &Runtime, id: &str, names: &[&'static str]) -> PeerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let pid = rt
        .spawn(
            id,
            Peer {
                tx,
                names: names.to_vec(),
            },
        )
        .expect("spawn peer");
    PeerHandle {
        pid,
        rx,
        rt: rt.clone(),
    }
}

/// A master with the given extra flags in a fresh loopback runtime (clock paused).
pub fn master(extra: &[&str]) -> MasterHandle {
    let rt = Runtime::start(Config {
        delegate: Some("master".into()),
        ..Config::local()
    })
    .expect("runtime");
    rt.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
    rt.clock().pause();
    let mut args = vec!["mesos-master"];
    args.extend_from_slice(extra);
    let flags = Flags::parse_from_args(args).expect("flags");
    mesos_master::master::spawn(&rt, flags).expect("master")
}

/// Advances the paused clock and lets every resulting delivery run.
pub async fn advance(rt: &Runtime, by: Duration) {
    rt.clock().advance(by);
    rt.clock().settle().await;
}

/// A metric from the runtime's snapshot (0 if absent).
pub fn metric(rt: &Runtime, name: &str) -> f64 {
    rt.metrics().snapshot().get(name).copied().unwrap_or(0.0)
}

/// A blocking HTTP/1.1 request with `Connection: close`; returns status, headers, body.
pub fn http(
    addr: SocketAddrV4,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> mesos_tests::wire::HttpMessage {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    mesos_tests::wire::split_responses(&buf)
        .expect("response")
        .into_iter()
        .next()
        .expect("one response")
}

/// An open streaming response (chunked), read record by record.
pub struct Stream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    sock: TcpStream,
    buf: bytes::BytesMut,
    chunks: libprocess::chunked::ChunkedDecoder,
    records: libprocess::recordio::Decoder,
}

impl Stream {
    pub fn open(addr: SocketAddrV4, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Stream {
        let mut sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).expect("write");
        sock.write_all(body).expect("write body");
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut tmp = [0u8; 4096];
            let n = sock.read(&mut tmp).expect("read head");
            assert!(n > 0, "connection closed before the response head");
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        buf.drain(..head_end);
        Stream {
            status,
            headers,
            sock,
            buf: bytes::BytesMut::from(&buf[..]),
            chunks: libprocess::chunked::ChunkedDecoder::new(1 << 20),
            records: libprocess::recordio::Decoder::default(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 4096];
        let n = self.sock.read(&mut tmp).expect("read stream");
        assert!(n > 0, "stream closed");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    /// The next RecordIO record.
    pub fn record(&mut self) -> Vec<u8> {
        loop {
            if let Some(record) = self.records.next_record().expect("RecordIO") {
                return record.to_vec();
            }
            let mut body = bytes::BytesMut::new();
            self.chunks
                .decode(&mut self.buf, &mut body)
                .expect("chunked body");
            if body.is_empty() {
                self.fill();
            }
            self.records.feed(&body);
        }
    }

    /// The next record as JSON.
    pub fn json(&mut self) -> serde_json::Value {
        serde_json::from_slice(&self.record()).expect("JSON record")
    }

    /// Reads (and discards) what is left until the response ends: `true` when it ended (the
    /// last chunk, or the connection closed), `false` if still open after the read timeout.
    pub fn ends(&mut self) -> bool {
        loop {
            let mut body = bytes::BytesMut::new();
            match self.chunks.decode(&mut self.buf, &mut body) {
                Ok(_) if self.chunks.is_done() => return true,
                Ok(_) => {}
                Err(e) => panic!("bad chunked body: {e:?}"),
            }
            if body.is_empty() {
                let mut tmp = [0u8; 4096];
                match self.sock.read(&mut tmp) {
                    Ok(0) => return true,
                    Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                    Err(_) => return false,
                }
            }
        }
    }
}
