//! What peers cannot do to the master with numbers and rates: absurd resources in an
//! agent's (re-)registration, durations like NaN or 1e300, histories that grow without end,
//! and v1 subscribers that never read their event stream.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::time::Duration;

use common::{advance, master, metric, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use libprocess::Matcher;
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    ExecutorToFrameworkMessage, FrameworkRegisteredMessage, RegisterSlaveMessage,
    ReregisterSlaveMessage, SlaveRegisteredMessage, SlaveReregisteredMessage,
};
use mesos_proto::mesos::internal::{
    FrameworkErrorMessage, ResourceOffersMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    framework_info, offer, task_status, value, CommandInfo, ExecutorId, Filters, FrameworkId,
    FrameworkInfo, Offer, Resource, SlaveId, SlaveInfo, TaskId, TaskInfo,
};

fn slave_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "localhost".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

fn register_message(info: SlaveInfo) -> RegisterSlaveMessage {
    RegisterSlaveMessage {
        slave: info,
        version: Some("1.11.0".into()),
        ..Default::default()
    }
}

async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, String) {
    let mut agent = peer(&m.runtime, id, AGENT_MESSAGES);
    agent.send(m.upid(), &register_message(slave_info()));
    let (_, reg) = agent.expect::<SlaveRegisteredMessage>().await;
    (agent, reg.slave_id.value)
}

async fn subscribe_v0(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, String) {
    let mut sched = peer(&m.runtime, id, SCHEDULER_MESSAGES);
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    sched.send(m.upid(), &call);
    let (_, reg) = sched.expect::<FrameworkRegisteredMessage>().await;
    (sched, reg.framework_id.value)
}

fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "bounds".into(),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn with_resources(resources: Vec<Resource>) -> SlaveInfo {
    SlaveInfo {
        resources,
        ..slave_info()
    }
}

#[tokio::test]
async fn agents_registering_invalid_resources_are_dropped_and_valid_ones_still_register() {
    let m = master(&[]);
    let inverted = Resource {
        name: "ports".into(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vec![value::Range {
                begin: 32000,
                end: 31000,
            }],
        }),
        ..Default::default()
    };
    let bad = [
        vec![scalar("cpus", f64::NAN)],
        vec![scalar("cpus", 1e16)],
        vec![scalar("cpus", -4.0)],
        vec![scalar("mem", f64::INFINITY)],
        vec![scalar("cpus", 1.0), inverted],
    ];
    for (i, resources) in bad.into_iter().enumerate() {
        let mut agent = peer(&m.runtime, &format!("slave({})", i + 10), AGENT_MESSAGES);
        agent.send(m.upid(), &register_message(with_resources(resources)));
        assert!(
            agent
                .maybe::<SlaveRegisteredMessage>(Duration::from_millis(200))
                .await
                .is_none(),
            "registration {i} was accepted"
        );
    }
    assert_eq!(metric(&m.runtime, "master/slave_registrations"), 0.0);
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 0.0);
    register_agent(&m, "slave(1)").await;
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn agents_reregistering_invalid_resources_are_dropped() {
    let m = master(&[]);
    let mut agent = peer(&m.runtime, "slave(1)", AGENT_MESSAGES);
    let mut info = with_resources(vec![scalar("cpus", f64::NAN)]);
    info.id = Some(SlaveId {
        value: "unknown-S7".into(),
    });
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info.clone(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    assert!(agent
        .maybe::<SlaveReregisteredMessage>(Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 0.0);
    info.resources = slave_info().resources;
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave: info,
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, rereg) = agent.expect::<SlaveReregisteredMessage>().await;
    assert_eq!(rereg.slave_id.value, "unknown-S7");
    advance(&m.runtime, Duration::from_millis(1)).await;
    m.shutdown();
}

/// Opens a v1 SUBSCRIBE stream (protobuf events) on a raw socket and reads only the
/// response head: afterwards the test decides when, if ever, to read.
fn open_unread_subscription(addr: SocketAddrV4) -> TcpStream {
    let body = serde_json::json!({
        "type": "SUBSCRIBE",
        "subscribe": { "framework_info": {
            "user": "test", "name": "never-reads", "failover_timeout": 3600.0
        } }
    })
    .to_string();
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let head = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).expect("write");
    sock.write_all(body.as_bytes()).expect("write body");
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(sock.read(&mut b).expect("read head"), 1);
        got.push(b[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    sock
}

/// Reads until the chunked response ends (`0\r\n\r\n`); the bytes read, or None if the
/// stream was still open when reads timed out.
fn read_to_end_of_stream(mut sock: TcpStream) -> Option<usize> {
    sock.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let mut total = 0usize;
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Some(total),
            Ok(n) => {
                total += n;
                tail.extend_from_slice(&buf[..n]);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
                if tail.ends_with(b"\r\n0\r\n\r\n") {
                    return Some(total);
                }
            }
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_v1_subscriber_that_never_reads_is_disconnected_once_its_unread_events_exceed_the_budget()
{
    const BUDGET: usize = 1 << 20;
    const MESSAGE: usize = 512 * 1024;
    const MESSAGES: usize = 64;
    let m = master(&[&format!("--http_framework_max_queued_bytes={BUDGET}")]);
    let addr = m.address();
    let sock = tokio::task::spawn_blocking(move || open_unread_subscription(addr))
        .await
        .unwrap();
    let mut subscribed = false;
    for _ in 0..500 {
        if metric(&m.runtime, "master/frameworks_connected") == 1.0 {
            subscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(subscribed, "the subscription never registered");
    let fid = {
        let state =
            tokio::task::spawn_blocking(move || common::http(addr, "GET", "/state", &[], b""))
                .await
                .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&state.body).unwrap();
        json["frameworks"][0]["id"].as_str().unwrap().to_string()
    };

    // An executor floods the framework with messages it never reads: 32 MiB in all. The
    // master relays executor messages only from the registered agent they name.
    let (agent, agent_id) = register_agent(&m, "slave(1)").await;
    for i in 0..MESSAGES {
        agent.send(
            m.upid(),
            &ExecutorToFrameworkMessage {
                slave_id: SlaveId {
                    value: agent_id.clone(),
                },
                framework_id: FrameworkId { value: fid.clone() },
                executor_id: ExecutorId {
                    value: format!("e{i}"),
                },
                data: vec![b'x'; MESSAGE],
            },
        );
    }
    let mut disconnected = false;
    for _ in 0..1000 {
        if metric(&m.runtime, "master/frameworks_disconnected") == 1.0 {
            disconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(disconnected, "the slow subscriber was never disconnected");
    assert_eq!(metric(&m.runtime, "master/frameworks_connected"), 0.0);

    // The stream was ended: the subscriber gets what was queued (its budget plus what the
    // kernel buffers held), then the end of the response; nowhere near all 32 MiB.
    let read = tokio::task::spawn_blocking(move || read_to_end_of_stream(sock))
        .await
        .unwrap();
    let read = read.expect("the master never ended the slow subscriber's stream");
    assert!(
        read < MESSAGES * MESSAGE / 2,
        "read {read} bytes: the master queued far beyond its budget"
    );
    m.shutdown();
}

fn call_of(framework_id: &str, t: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        r#type: Some(t as i32),
        ..Default::default()
    }
}

/// Advances the clock an allocation interval at a time until offers arrive.
async fn next_offers(m: &MasterHandle, sched: &mut PeerHandle) -> ResourceOffersMessage {
    for _ in 0..20 {
        advance(&m.runtime, Duration::from_secs(1)).await;
        if let Some(offers) = sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await
        {
            return offers;
        }
    }
    panic!("no offers after 20 allocation intervals");
}

/// Launches `n` small command tasks from one offer.
async fn launch(m: &MasterHandle, sched: &mut PeerHandle, fid: &str, n: usize) {
    let offers = next_offers(m, sched).await;
    let offer: &Offer = &offers.offers[0];
    let tasks = (0..n)
        .map(|i| TaskInfo {
            name: format!("t{i}"),
            task_id: TaskId {
                value: format!("t{i}"),
            },
            slave_id: offer.slave_id.clone(),
            resources: Resources::parse("cpus:0.1;mem:16", "*")
                .unwrap()
                .to_protos_pre(),
            command: Some(CommandInfo {
                value: Some("sleep 1000".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let mut c = call_of(fid, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch { task_infos: tasks }),
            ..Default::default()
        }],
        filters: None,
    });
    sched.send(m.upid(), &c);
    advance(&m.runtime, Duration::from_millis(1)).await;
}

async fn state(m: &MasterHandle) -> serde_json::Value {
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || common::http(addr, "GET", "/state", &[], b""))
        .await
        .unwrap();
    serde_json::from_slice(&r.body).expect("JSON /state")
}

fn len(v: &serde_json::Value) -> usize {
    v.as_array().map(|a| a.len()).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn completed_frameworks_and_their_completed_tasks_are_capped_by_the_flags() {
    let m = master(&[
        "--max_completed_frameworks=1",
        "--max_completed_tasks_per_framework=2",
    ]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    for k in 0..2 {
        let (mut sched, fid) = subscribe_v0(&m, &format!("scheduler-{k}"), framework_info()).await;
        launch(&m, &mut sched, &fid, 5).await;
        sched.send(m.upid(), &call_of(&fid, call::Type::Teardown));
        advance(&m.runtime, Duration::from_millis(1)).await;
    }
    let s = state(&m).await;
    let completed = &s["completed_frameworks"];
    assert_eq!(len(completed), 1, "{completed}");
    assert_eq!(len(&completed[0]["completed_tasks"]), 2);
    assert_eq!(completed[0]["completed_tasks"][1]["state"], "TASK_KILLED");
    m.shutdown();
}

#[tokio::test]
async fn tasks_of_an_unreachable_agent_are_listed_as_unreachable_up_to_the_flag() {
    let m = master(&[
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=2",
        "--max_unreachable_tasks_per_framework=2",
    ]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let mut info = framework_info();
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::PartitionAware as i32),
    });
    let (mut sched, fid) = subscribe_v0(&m, "scheduler-1", info).await;
    launch(&m, &mut sched, &fid, 5).await;
    assert_eq!(len(&state(&m).await["frameworks"][0]["tasks"]), 5);
    m.runtime
        .filters()
        .drop_all(Matcher::message("mesos.internal.PongSlaveMessage"));
    for _ in 0..4 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);
    let s = state(&m).await;
    let f = &s["frameworks"][0];
    assert_eq!(len(&f["tasks"]), 0, "{f}");
    assert_eq!(len(&f["unreachable_tasks"]), 2, "{f}");
    assert_eq!(f["unreachable_tasks"][0]["state"], "TASK_UNREACHABLE");
    assert_eq!(metric(&m.runtime, "master/tasks_unreachable"), 2.0);
    m.shutdown();
}

async fn make_unreachable(m: &MasterHandle, agents: &[&str]) {
    let mut peers = Vec::new();
    for a in agents {
        peers.push(register_agent(m, a).await);
    }
    for (p, _) in &peers {
        m.runtime
            .filters()
            .drop_all(Matcher::message("mesos.internal.PongSlaveMessage").from(p.upid()));
    }
    for _ in 0..4 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn unreachable_agents_beyond_registry_max_agent_count_are_forgotten() {
    let m = master(&[
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=2",
        "--registry_max_agent_count=2",
    ]);
    make_unreachable(&m, &["slave(1)", "slave(2)", "slave(3)", "slave(4)"]).await;
    assert_eq!(metric(&m.runtime, "master/slave_removals"), 4.0);
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 2.0);
    assert_eq!(state(&m).await["unreachable_slaves"], 2);
    m.shutdown();
}

#[tokio::test]
async fn unreachable_agents_older_than_registry_max_agent_age_are_forgotten() {
    let m = master(&[
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=2",
        "--registry_max_agent_age=10secs",
    ]);
    make_unreachable(&m, &["slave(1)"]).await;
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);
    advance(&m.runtime, Duration::from_secs(30)).await;
    make_unreachable(&m, &["slave(2)"]).await;
    assert_eq!(metric(&m.runtime, "master/slave_removals"), 2.0);
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn failover_timeouts_beyond_stout_durations_are_refused_and_negative_ones_accepted() {
    let m = master(&[]);
    for (i, bad) in [1e300, f64::INFINITY, f64::NAN].into_iter().enumerate() {
        let mut sched = peer(
            &m.runtime,
            &format!("scheduler-bad-{i}"),
            SCHEDULER_MESSAGES,
        );
        let mut info = framework_info();
        info.failover_timeout = Some(bad);
        sched.send(
            m.upid(),
            &Call {
                r#type: Some(call::Type::Subscribe as i32),
                subscribe: Some(call::Subscribe {
                    framework_info: info,
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let (_, error) = sched.expect::<FrameworkErrorMessage>().await;
        assert!(
            error.message.contains("failover_timeout") && error.message.contains("is invalid"),
            "{}",
            error.message
        );
    }
    let mut info = framework_info();
    info.failover_timeout = Some(-5.0);
    let (_sched, _fid) = subscribe_v0(&m, "scheduler-negative", info).await;
    assert_eq!(metric(&m.runtime, "master/frameworks_active"), 1.0);
    m.shutdown();
}

async fn decline_all(m: &MasterHandle, sched: &mut PeerHandle, fid: &str, refuse: f64) {
    let offers = next_offers(m, sched).await;
    let mut c = call_of(fid, call::Type::Decline);
    c.decline = Some(call::Decline {
        offer_ids: offers.offers.iter().map(|o| o.id.clone()).collect(),
        filters: Some(Filters {
            refuse_seconds: Some(refuse),
        }),
    });
    sched.send(m.upid(), &c);
    advance(&m.runtime, Duration::from_millis(1)).await;
}

#[tokio::test]
async fn declines_with_nan_infinite_or_huge_refuse_seconds_filter_for_the_default_five_seconds() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe_v0(&m, "scheduler-1", framework_info()).await;
    for refuse in [f64::NAN, f64::INFINITY, 1e300, -3.0, i64::MIN as f64] {
        decline_all(&m, &mut sched, &fid, refuse).await;
        // Filtered for 5 s: nothing over the next 3 allocation intervals...
        for _ in 0..3 {
            advance(&m.runtime, Duration::from_secs(1)).await;
        }
        assert!(
            sched
                .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
                .await
                .is_none(),
            "re-offered too early after refuse_seconds {refuse}"
        );
        // ...and offered again once the 5 s are over (next_offers waits for it).
    }
    let _ = next_offers(&m, &mut sched).await;
    m.shutdown();
}

#[tokio::test]
async fn tasks_with_nan_negative_or_huge_resources_get_task_error_with_the_reason() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe_v0(&m, "scheduler-1", framework_info()).await;
    for (i, cpus) in [f64::NAN, -1.0, 1e16, f64::INFINITY]
        .into_iter()
        .enumerate()
    {
        let offers = next_offers(&m, &mut sched).await;
        let offer = &offers.offers[0];
        let task = TaskInfo {
            name: format!("bad{i}"),
            task_id: TaskId {
                value: format!("bad{i}"),
            },
            slave_id: offer.slave_id.clone(),
            resources: vec![scalar("cpus", cpus)],
            command: Some(CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = call_of(&fid, call::Type::Accept);
        c.accept = Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch {
                    task_infos: vec![task],
                }),
                ..Default::default()
            }],
            filters: Some(Filters {
                refuse_seconds: Some(0.0),
            }),
        });
        sched.send(m.upid(), &c);
        let (_, update) = sched.expect::<StatusUpdateMessage>().await;
        let status = update.update.status;
        assert_eq!(status.task_id.value, format!("bad{i}"));
        assert_eq!(status.state(), mesos_proto::mesos::TaskState::TaskError);
        assert_eq!(status.reason(), task_status::Reason::TaskInvalid);
        let message = status.message.unwrap_or_default();
        assert!(
            message.contains("Task uses invalid resources"),
            "cpus {cpus}: {message}"
        );
    }
    m.shutdown();
}

#[tokio::test]
async fn the_registry_gc_forgets_unreachable_agents_past_their_age_without_new_ones() {
    let m = master(&[
        "--agent_ping_timeout=1secs",
        "--max_agent_ping_timeouts=2",
        "--registry_max_agent_age=10secs",
        "--registry_gc_interval=5secs",
    ]);
    make_unreachable(&m, &["slave(1)"]).await;
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);
    for _ in 0..4 {
        advance(&m.runtime, Duration::from_secs(5)).await;
    }
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 0.0);
    assert_eq!(state(&m).await["unreachable_slaves"], 0);
    m.shutdown();
}

#[tokio::test]
async fn tasks_leave_unreachable_tasks_when_their_agent_reregisters_with_them() {
    let m = master(&["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2"]);
    let (agent, agent_id) = register_agent(&m, "slave(1)").await;
    let mut info = framework_info();
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::PartitionAware as i32),
    });
    let (mut sched, fid) = subscribe_v0(&m, "scheduler-1", info.clone()).await;
    launch(&m, &mut sched, &fid, 3).await;
    m.runtime
        .filters()
        .drop_all(Matcher::message("mesos.internal.PongSlaveMessage"));
    for _ in 0..3 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    let before = state(&m).await;
    assert_eq!(len(&before["frameworks"][0]["unreachable_tasks"]), 3);

    let tasks: Vec<mesos_proto::mesos::Task> = (0..3)
        .map(|i| mesos_proto::mesos::Task {
            name: format!("t{i}"),
            task_id: TaskId {
                value: format!("t{i}"),
            },
            framework_id: FrameworkId { value: fid.clone() },
            slave_id: SlaveId {
                value: agent_id.clone(),
            },
            state: mesos_proto::mesos::TaskState::TaskRunning as i32,
            resources: Resources::parse("cpus:0.1;mem:16", "*")
                .unwrap()
                .to_protos_pre(),
            ..Default::default()
        })
        .collect();
    info.id = Some(FrameworkId { value: fid.clone() });
    let mut slave = slave_info();
    slave.id = Some(SlaveId {
        value: agent_id.clone(),
    });
    let mut agent = agent;
    agent.send(
        m.upid(),
        &ReregisterSlaveMessage {
            slave,
            tasks,
            frameworks: vec![info],
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    agent.expect::<SlaveReregisteredMessage>().await;
    let after = state(&m).await;
    let f = &after["frameworks"][0];
    assert_eq!(len(&f["unreachable_tasks"]), 0, "{f}");
    assert_eq!(len(&f["tasks"]), 3, "{f}");
    m.shutdown();
}
