//! Wire conformance against bytes captured from GENUINE Mesos 1.11 processes
//! (`tests/data/*.bin`, copied from shared/wire/captures: native-driver/s7-genuine-master
//! and native-agent/a1-register-run, a2-reregister).
//!
//! For every captured libprocess message: the head is the genuine one, the body decodes as
//! the named protobuf with its required fields; our encoder reproduces the request byte for
//! byte; and our runtime, fed the captured bytes verbatim over TCP, delivers every message
//! to the right process with the right sender, name and body and answers 202 in order.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_proto::mesos::{internal, scheduler};
use mesos_tests::data;
use mesos_tests::wire::{
    complete_responses, split_requests, split_responses, Framing, HttpMessage,
};

/// One captured TCP direction.
struct Capture {
    /// The c2s (requests) file in tests/data.
    c2s: &'static str,
    /// The matching s2c (responses) file.
    s2c: &'static str,
    /// The receiver's advertised address (where the requests were going).
    dest: &'static str,
    requests: usize,
    responses: usize,
}

const CAPTURES: &[Capture] = &[
    // Genuine scheduler driver -> genuine master (5 Calls; the TEARDOWN's 202 was not
    // captured: the driver closed first).
    Capture {
        c2s: "s7-sched-to-master-conn-1.c2s.bin",
        s2c: "s7-sched-to-master-conn-1.s2c.bin",
        dest: "127.0.0.1:25071",
        requests: 5,
        responses: 4,
    },
    // Genuine master -> genuine scheduler driver.
    Capture {
        c2s: "s7-master-to-sched-conn-1.c2s.bin",
        s2c: "s7-master-to-sched-conn-1.s2c.bin",
        dest: "127.0.0.1:25081",
        requests: 4,
        responses: 4,
    },
    // Genuine agent -> genuine master.
    Capture {
        c2s: "a1-to-master-conn-1.c2s.bin",
        s2c: "a1-to-master-conn-1.s2c.bin",
        dest: "127.0.0.1:26071",
        requests: 10,
        responses: 10,
    },
    // Genuine scheduler driver -> genuine master (with an agent: ACCEPT, ACKNOWLEDGE...).
    Capture {
        c2s: "a1-to-master-conn-2.c2s.bin",
        s2c: "a1-to-master-conn-2.s2c.bin",
        dest: "127.0.0.1:26071",
        requests: 6,
        responses: 6,
    },
    // Genuine master (and its slave-observer) -> genuine agent.
    Capture {
        c2s: "a1-to-agent-conn-1.c2s.bin",
        s2c: "a1-to-agent-conn-1.s2c.bin",
        dest: "127.0.0.1:26081",
        requests: 11,
        responses: 11,
    },
    // Restarted genuine agent -> genuine master (re-registration).
    Capture {
        c2s: "a2-to-master-conn-2.c2s.bin",
        s2c: "a2-to-master-conn-2.s2c.bin",
        dest: "127.0.0.1:26071",
        requests: 3,
        responses: 3,
    },
    // Genuine master -> restarted genuine agent.
    Capture {
        c2s: "a2-to-agent-conn-2.c2s.bin",
        s2c: "a2-to-agent-conn-2.s2c.bin",
        dest: "127.0.0.1:26081",
        requests: 2,
        responses: 2,
    },
];

fn requests(file: &str) -> Vec<HttpMessage> {
    let bytes = data(file);
    let reqs = split_requests(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    let joined: Vec<u8> = reqs.iter().flat_map(|r| r.raw.iter().copied()).collect();
    assert_eq!(
        joined, bytes,
        "{file}: the split requests do not cover the file exactly"
    );
    reqs
}

fn from_of(req: &HttpMessage) -> Upid {
    Upid::parse(req.header("Libprocess-From").expect("Libprocess-From")).expect("sender UPID")
}

/// Checks the required fields and decodes into the concrete prost type for `name`.
/// Panics on a name this table does not know (new captures must extend it).
fn decode_typed(name: &str, body: &[u8]) -> Result<String, String> {
    macro_rules! typed {
        ($($t:ty),* $(,)?) => {
            $(
                if name == <$t as prost::Name>::full_name() {
                    return mesos_proto::decode::<$t>(body)
                        .map(|m| format!("{m:?}"))
                        .map_err(|e| e.to_string());
                }
            )*
        };
    }
    typed!(
        scheduler::Call,
        internal::FrameworkRegisteredMessage,
        internal::ResourceOffersMessage,
        internal::StatusUpdateMessage,
        internal::RegisterSlaveMessage,
        internal::ReregisterSlaveMessage,
        internal::SlaveRegisteredMessage,
        internal::SlaveReregisteredMessage,
        internal::UpdateSlaveMessage,
        internal::PingSlaveMessage,
        internal::PongSlaveMessage,
        internal::RunTaskMessage,
        internal::StatusUpdateAcknowledgementMessage,
        internal::ShutdownFrameworkMessage,
    );
    panic!("no typed decoder listed for {name}");
}

#[test]
fn every_captured_message_has_the_genuine_head_and_a_valid_body() {
    let mut total = 0;
    for cap in CAPTURES {
        let reqs = requests(cap.c2s);
        assert_eq!(reqs.len(), cap.requests, "{}", cap.c2s);
        for (i, req) in reqs.iter().enumerate() {
            let at = format!("{} message {}", cap.c2s, i + 1);
            assert_eq!(req.method, "POST", "{at}");
            assert_eq!(req.version, 1, "{at}: HTTP/1.1");
            let (id, name) = req
                .message_target()
                .unwrap_or_else(|| panic!("{at}: path {}", req.path));
            assert!(
                !id.is_empty() && !name.contains('/'),
                "{at}: path {}",
                req.path
            );
            assert!(
                req.raw
                    .starts_with(format!("POST /{id}/{name} HTTP/1.1\r\n").as_bytes()),
                "{at}"
            );

            let expected_names: &[&str] = if req.body.is_empty() {
                &["User-Agent", "Libprocess-From", "Connection", "Host"]
            } else {
                &[
                    "User-Agent",
                    "Libprocess-From",
                    "Connection",
                    "Host",
                    "Transfer-Encoding",
                ]
            };
            assert_eq!(
                req.header_names(),
                expected_names,
                "{at}: header names and order"
            );
            let from = req.header("Libprocess-From").unwrap();
            assert_eq!(
                req.header("User-Agent").unwrap(),
                format!("libprocess/{from}"),
                "{at}"
            );
            assert_eq!(req.header("Connection").unwrap(), "Keep-Alive", "{at}");
            assert_eq!(req.header("Host").unwrap(), "", "{at}");
            let sender = from_of(req);
            assert!(!sender.is_none(), "{at}");
            assert_eq!(
                sender.to_string(),
                from,
                "{at}: the sender renders back identically"
            );

            match &req.framing {
                Framing::None => assert!(req.body.is_empty(), "{at}"),
                Framing::Chunked(sizes) => {
                    assert_eq!(req.header("Transfer-Encoding").unwrap(), "chunked", "{at}");
                    assert_eq!(
                        sizes,
                        &[format!("{:x}", req.body.len()), "0".to_string()],
                        "{at}: one chunk"
                    );
                }
                other => panic!("{at}: unexpected framing {other:?}"),
            }

            mesos_proto::check(name, &req.body).unwrap_or_else(|e| panic!("{at}: {e}"));
            decode_typed(name, &req.body).unwrap_or_else(|e| panic!("{at}: {e}"));
            total += 1;
        }
    }
    assert_eq!(total, CAPTURES.iter().map(|c| c.requests).sum::<usize>());
}

#[test]
fn our_encoder_reproduces_every_captured_request_byte_for_byte() {
    for cap in CAPTURES {
        let dest: std::net::SocketAddrV4 = cap.dest.parse().unwrap();
        for (i, req) in requests(cap.c2s).iter().enumerate() {
            let (id, name) = req.message_target().unwrap();
            let msg = libprocess::Message {
                from: from_of(req),
                to: Upid::new(id, dest),
                name: name.to_string(),
                body: Bytes::from(req.body.clone()),
            };
            let ours = libprocess::encoder::encode(&msg);
            assert!(
                ours[..] == req.raw[..],
                "{} message {}: ours differs from genuine\n ours: {:?}\ngenuine: {:?}",
                cap.c2s,
                i + 1,
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&req.raw)
            );
        }
    }
}

#[test]
fn captured_202_responses_have_the_genuine_shape() {
    for cap in CAPTURES {
        let bytes = data(cap.s2c);
        let resps = split_responses(&bytes).unwrap_or_else(|e| panic!("{}: {e}", cap.s2c));
        assert_eq!(resps.len(), cap.responses, "{}", cap.s2c);
        for r in &resps {
            assert_eq!(
                (r.version, r.status, r.reason.as_str()),
                (1, 202, "Accepted"),
                "{}",
                cap.s2c
            );
            assert_eq!(r.header_names(), ["Date", "Content-Length"], "{}", cap.s2c);
            assert_eq!(r.header("Content-Length"), Some("0"));
            assert!(r.body.is_empty());
        }
    }
}

// ---- key fields of the main messages ----

fn find<'a>(reqs: &'a [HttpMessage], name: &str) -> Vec<&'a HttpMessage> {
    reqs.iter()
        .filter(|r| r.message_target().map(|(_, n)| n) == Some(name))
        .collect()
}

#[test]
fn driver_calls_subscribe_then_carry_the_framework_id() {
    use scheduler::call::Type;
    for file in [
        "s7-sched-to-master-conn-1.c2s.bin",
        "a1-to-master-conn-2.c2s.bin",
    ] {
        let reqs = requests(file);
        let calls: Vec<scheduler::Call> = reqs
            .iter()
            .map(|r| mesos_proto::decode::<scheduler::Call>(&r.body).unwrap())
            .collect();
        for r in &reqs {
            assert_eq!(
                r.message_target().unwrap(),
                ("master", "mesos.scheduler.Call"),
                "{file}"
            );
            assert!(from_of(r).id.starts_with("scheduler-"), "{file}");
        }
        let sub = &calls[0];
        assert_eq!(sub.r#type(), Type::Subscribe, "{file}");
        assert!(
            sub.framework_id.is_none(),
            "{file}: no framework id on first SUBSCRIBE"
        );
        let info = &sub.subscribe.as_ref().expect("subscribe").framework_info;
        assert_eq!(info.user, "root", "{file}");
        assert_eq!(info.name, "native-interop", "{file}");
        assert!(
            sub.subscribe.as_ref().unwrap().offer_constraints.is_some(),
            "{file}"
        );
        assert_eq!(calls.last().unwrap().r#type(), Type::Teardown, "{file}");
        let fid = calls[1]
            .framework_id
            .as_ref()
            .expect("framework id after SUBSCRIBE")
            .value
            .clone();
        for c in &calls[1..] {
            assert_eq!(
                c.framework_id.as_ref().map(|f| f.value.as_str()),
                Some(fid.as_str()),
                "{file}"
            );
        }
        let types: Vec<Type> = calls.iter().map(|c| c.r#type()).collect();
        assert!(
            types.contains(&Type::Accept) && types.contains(&Type::Acknowledge),
            "{file}: {types:?}"
        );
    }
}

#[test]
fn master_framework_registered_names_the_master_pid_it_sends_from() {
    let reqs = requests("s7-master-to-sched-conn-1.c2s.bin");
    let reg = find(&reqs, "mesos.internal.FrameworkRegisteredMessage");
    assert_eq!(reg.len(), 1);
    let from = from_of(reg[0]);
    assert_eq!(from.to_string(), "master@127.0.0.1:25071");
    let (to, _) = reg[0].message_target().unwrap();
    assert!(to.starts_with("scheduler-"));
    let m: internal::FrameworkRegisteredMessage = mesos_proto::decode(&reg[0].body).unwrap();
    let mi = &m.master_info;
    assert_eq!(mi.pid.as_deref(), Some("master@127.0.0.1:25071"));
    assert_eq!(
        mi.ip, 16777343,
        "127.0.0.1 as network-order bytes read little-endian"
    );
    assert_eq!(mi.port, 25071);
    assert_eq!(mi.version.as_deref(), Some("1.11.0"));
    let addr = mi.address.as_ref().expect("address");
    assert_eq!((addr.ip.as_deref(), addr.port), (Some("127.0.0.1"), 25071));
    assert!(!m.framework_id.value.is_empty());

    let offers = find(&reqs, "mesos.internal.ResourceOffersMessage");
    assert_eq!(offers.len(), 1);
    let o: internal::ResourceOffersMessage = mesos_proto::decode(&offers[0].body).unwrap();
    assert!(!o.offers.is_empty());
    assert_eq!(o.pids.len(), o.offers.len());
    assert!(o.pids.iter().all(|p| p.starts_with("slave(1)@")));
    assert_eq!(find(&reqs, "mesos.internal.StatusUpdateMessage").len(), 2);
}

#[test]
fn agent_registers_with_version_and_pongs_the_observer_with_an_empty_body() {
    let reqs = requests("a1-to-master-conn-1.c2s.bin");
    assert!(reqs
        .iter()
        .all(|r| from_of(r).to_string() == "slave(1)@127.0.0.1:26081"));
    let first = &reqs[0];
    assert_eq!(
        first.message_target().unwrap(),
        ("master", "mesos.internal.RegisterSlaveMessage")
    );
    assert_eq!(first.body.len(), 176);
    let reg: internal::RegisterSlaveMessage = mesos_proto::decode(&first.body).unwrap();
    assert_eq!(reg.version.as_deref(), Some("1.11.0"));
    assert!(reg.slave.id.is_none(), "no agent id on first registration");
    assert_eq!(reg.slave.port, Some(26081));
    assert_eq!(reg.slave.checkpoint, Some(true));
    assert_eq!(reg.agent_capabilities.len(), 8);
    assert_eq!(
        reg.resource_version_uuid.as_ref().map(|u| u.value.len()),
        Some(16)
    );

    let pongs = find(&reqs, "mesos.internal.PongSlaveMessage");
    assert_eq!(pongs.len(), 5);
    for p in pongs {
        assert_eq!(p.message_target().unwrap().0, "slave-observer(1)");
        assert!(p.body.is_empty());
        assert_eq!(p.framing, Framing::None);
        assert!(p.raw.ends_with(b"Host: \r\n\r\n"));
    }
    let updates = find(&reqs, "mesos.internal.StatusUpdateMessage");
    assert_eq!(updates.len(), 3);
    for u in updates {
        let m: internal::StatusUpdateMessage = mesos_proto::decode(&u.body).unwrap();
        assert_eq!(m.pid.as_deref(), Some("slave(1)@127.0.0.1:26081"));
    }
}

#[test]
fn master_pings_come_from_the_slave_observer() {
    let reqs = requests("a1-to-agent-conn-1.c2s.bin");
    assert!(reqs
        .iter()
        .all(|r| r.message_target().unwrap().0 == "slave(1)"));
    let pings = find(&reqs, "mesos.internal.PingSlaveMessage");
    assert_eq!(pings.len(), 5);
    for p in pings {
        assert_eq!(from_of(p).to_string(), "slave-observer(1)@127.0.0.1:26071");
        let m: internal::PingSlaveMessage = mesos_proto::decode(&p.body).unwrap();
        assert!(m.connected);
    }
    let others: BTreeSet<String> = reqs
        .iter()
        .filter(|r| !r.path.ends_with("PingSlaveMessage"))
        .map(|r| from_of(r).to_string())
        .collect();
    assert_eq!(
        others,
        BTreeSet::from(["master@127.0.0.1:26071".to_string()])
    );
    let registered = find(&reqs, "mesos.internal.SlaveRegisteredMessage");
    let m: internal::SlaveRegisteredMessage = mesos_proto::decode(&registered[0].body).unwrap();
    assert!(!m.slave_id.value.is_empty());
}

#[test]
fn restarted_agent_reregisters_with_its_checkpointed_id() {
    let reqs = requests("a2-to-master-conn-2.c2s.bin");
    let rr = find(&reqs, "mesos.internal.ReregisterSlaveMessage");
    assert_eq!(rr.len(), 1);
    let m: internal::ReregisterSlaveMessage = mesos_proto::decode(&rr[0].body).unwrap();
    let id = m
        .slave
        .id
        .as_ref()
        .expect("checkpointed agent id")
        .value
        .clone();
    assert_eq!(m.version.as_deref(), Some("1.11.0"));
    let back = requests("a2-to-agent-conn-2.c2s.bin");
    let ok = find(&back, "mesos.internal.SlaveReregisteredMessage");
    let m: internal::SlaveReregisteredMessage = mesos_proto::decode(&ok[0].body).unwrap();
    assert_eq!(m.slave_id.value, id);
}

// ---- our runtime fed the genuine bytes ----

/// What a recorder saw: (receiver id, sender, name, body).
type Seen = (String, Upid, String, Vec<u8>);

struct Recorder {
    tx: mpsc::Sender<Seen>,
    names: Vec<String>,
}

impl Process for Recorder {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in self.names.clone() {
            let n = name.clone();
            ctx.install_raw(&name, move |me, ctx, from, body| {
                let _ = me
                    .tx
                    .send((ctx.pid().id.clone(), from, n.clone(), body.to_vec()));
            });
        }
    }
}

/// Writes `bytes` to a fresh connection (in `piece`-byte writes), reads until `expect`
/// responses arrived; returns the raw response bytes.
fn feed(port: u16, bytes: &[u8], piece: usize, expect: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    for chunk in bytes.chunks(piece) {
        s.write_all(chunk).unwrap();
        if piece < bytes.len() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while complete_responses(&got) < expect && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    // Anything arriving within another 70 ms would be a stray response.
    s.set_read_timeout(Some(Duration::from_millis(70))).unwrap();
    if let Ok(n) = s.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

fn runtime_delivers_capture(piece: Option<usize>) {
    for cap in CAPTURES {
        let bytes = data(cap.c2s);
        let reqs = requests(cap.c2s);
        let rt = Runtime::start(Config::local()).unwrap();
        rt.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
        let (tx, rx) = mpsc::channel();
        let mut expected: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for r in &reqs {
            let (id, name) = r.message_target().unwrap();
            expected.entry(id.to_string()).or_default().push((
                id.to_string(),
                from_of(r),
                name.to_string(),
                r.body.clone(),
            ));
        }
        let names: Vec<String> = reqs
            .iter()
            .map(|r| r.message_target().unwrap().1.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for id in expected.keys() {
            rt.spawn(
                id.clone(),
                Recorder {
                    tx: tx.clone(),
                    names: names.clone(),
                },
            )
            .unwrap();
        }
        let got = feed(
            rt.address().port(),
            &bytes,
            piece.unwrap_or(bytes.len()),
            reqs.len(),
        );
        let resps =
            split_responses(&got).unwrap_or_else(|e| panic!("{}: our responses: {e}", cap.c2s));
        assert_eq!(
            resps.len(),
            reqs.len(),
            "{}: one response per message",
            cap.c2s
        );
        for r in &resps {
            assert_eq!(
                (r.status, r.reason.as_str()),
                (202, "Accepted"),
                "{}: {r:?}",
                cap.c2s
            );
            assert!(r.body.is_empty(), "{}", cap.c2s);
        }
        let mut seen: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..reqs.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let s = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{}: a message was not delivered", cap.c2s));
            seen.entry(s.0.clone()).or_default().push(s);
        }
        assert_eq!(
            seen, expected,
            "{}: deliveries per receiver, in order",
            cap.c2s
        );
        let snap = rt.metrics().snapshot();
        for k in [
            "libprocess/messages_unknown",
            "libprocess/messages_dropped_no_process",
            "libprocess/requests_bad_body",
        ] {
            assert_eq!(snap.get(k).copied().unwrap_or(0.0), 0.0, "{}: {k}", cap.c2s);
        }
        rt.shutdown();
    }
}

#[test]
fn runtime_accepts_captured_bytes_in_one_write() {
    runtime_delivers_capture(None);
}

#[test]
fn runtime_accepts_captured_bytes_dribbled_in_small_pieces() {
    runtime_delivers_capture(Some(29));
}

/// Our runtime's 202 to a message has the same status line as genuine libprocess's and no
/// body; print its exact head for the record.
#[test]
fn our_202_matches_the_genuine_status_line() {
    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, _rx) = mpsc::channel();
    rt.spawn(
        "slave(1)",
        Recorder {
            tx,
            names: vec!["mesos.internal.PingSlaveMessage".into()],
        },
    )
    .unwrap();
    let reqs = requests("a1-to-agent-conn-1.c2s.bin");
    let got = feed(rt.address().port(), &reqs[0].raw, usize::MAX, 1);
    let resps = split_responses(&got).unwrap();
    let genuine = split_responses(&data("a1-to-agent-conn-1.s2c.bin")).unwrap();
    assert_eq!(resps.len(), 1);
    println!("our 202: {:?}", String::from_utf8_lossy(&resps[0].raw));
    assert!(resps[0].raw.starts_with(b"HTTP/1.1 202 Accepted\r\n"));
    assert!(genuine[0].raw.starts_with(b"HTTP/1.1 202 Accepted\r\n"));
    // Genuine framing: an explicit zero length (or no body framing at all).
    match resps[0].header("Content-Length") {
        Some(len) => assert_eq!(len, "0"),
        None => assert!(resps[0].header("Transfer-Encoding").is_none()),
    }
    rt.shutdown();
}

/// Genuine libprocess answers a message to an unknown process `404 Not Found` and keeps the
/// connection (checked against native-local-cluster: `404`, then `202` for the next
/// message on the same connection). Ours must do the same, in order.
#[test]
fn unknown_receiver_gets_404_and_the_connection_carries_on() {
    let rt = Runtime::start(Config::local()).unwrap();
    let (tx, rx) = mpsc::channel();
    rt.spawn(
        "slave-observer(1)",
        Recorder {
            tx,
            names: vec!["mesos.internal.PongSlaveMessage".into()],
        },
    )
    .unwrap();
    let reqs = requests("a1-to-master-conn-1.c2s.bin");
    let pong = reqs
        .iter()
        .find(|r| r.path.ends_with("PongSlaveMessage"))
        .unwrap();
    let to_nobody = String::from_utf8(pong.raw.clone())
        .unwrap()
        .replace("/slave-observer(1)/", "/nosuchprocess/");
    let mut wire = to_nobody.into_bytes();
    wire.extend_from_slice(&pong.raw);
    let got = feed(rt.address().port(), &wire, usize::MAX, 2);
    let resps = split_responses(&got).unwrap();
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 202]);
    let (id, from, name, body) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (id.as_str(), name.as_str()),
        ("slave-observer(1)", "mesos.internal.PongSlaveMessage")
    );
    assert_eq!(from.to_string(), "slave(1)@127.0.0.1:26081");
    assert!(body.is_empty());
    rt.shutdown();
}
