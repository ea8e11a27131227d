//! Field-by-field wire conformance of what our master sends to agents and frameworks.
//!
//! `TABLE` lists every compared (message, field): what genuine Mesos 1.11 sends — read from
//! the bytes of a genuine master (`tests/data`, captured from native-driver/s7-genuine-master
//! and native-agent/a1-register-run) or, where no capture holds it, from the 1.11 source
//! named in the row — and how to read ours from the bytes our master sends to peer
//! processes in three scenarios (v0 framework, MULTI_ROLE framework, v1 HTTP framework).
//! The test renders both sides of every row and fails on any difference, printing the
//! whole table.

mod common;

use std::net::SocketAddrV4;
use std::time::Duration;

use common::{advance, http, master, peer, Got, PeerHandle, Stream, AGENT_MESSAGES};
use libprocess::Upid;
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{ExitedExecutorMessage, RegisterSlaveMessage};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    framework_info, offer, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Offer, SlaveInfo, TaskId, TaskInfo, Uuid,
};
use prost::Message as _;
use serde_json::{json, Value};

/// Genuine messages, as JSON, from the captured bytes of genuine 1.11 processes.
struct Captured {
    framework_registered: Value,
    offers: Value,
    slave_registered: Value,
    slave_reregistered: Value,
    run_task: Value,
    /// An agent's status update as the genuine master forwarded it.
    agent_update: Value,
    shutdown_framework: Value,
    /// The genuine agent's registration (for the resource version the master echoes).
    register_slave: Value,
    /// The genuine driver's UPID (sender of its calls to the master).
    scheduler: String,
}

/// Ours, as JSON, from the bytes our master sent.
struct Seen {
    framework_registered: Value,
    offers: Value,
    offers_multi_role: Value,
    slave_registered: Value,
    slave_reregistered: Value,
    run_command: Value,
    /// Whether the update an agent sent reached the framework unchanged, with `pid` = agent.
    forwarded_unchanged: bool,
    forwarded_update: Value,
    run_new_executor: Value,
    run_known_executor: Value,
    run_http_framework: Value,
    invalid_task_update: Value,
    shutdown_framework: Value,
    /// The first ExitedExecutorMessage relayed to the framework.
    executor_exit: Value,
    /// How many of the registered agents got ShutdownFrameworkMessage, of how many.
    shutdown_reach: (usize, usize),
    v1_offers: Value,
    v1_invalid_task_update: Value,
    scheduler: String,
    resource_version: Value,
}

enum Genuine {
    /// Read from genuine bytes.
    Captured(fn(&Captured) -> String),
    /// Not in any capture: the value and the 1.11 source it comes from.
    Source(&'static str, &'static str),
}

struct Row {
    message: &'static str,
    field: &'static str,
    genuine: Genuine,
    ours: fn(&Seen) -> String,
}

/// The sorted names of the fields set in a JSON message.
fn keys(v: &Value) -> String {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k.join(",")
}

/// The sorted union of the fields set in the elements of a JSON array.
fn keys_of_all(v: &Value) -> String {
    let mut k: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| keys(e).split(',').map(String::from).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    k.sort_unstable();
    k.dedup();
    k.join(",")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<absent>".into(),
        other => other.to_string(),
    }
}

/// Whether an offer's url names the agent in `pids[0]` (ip, port and `/<pid id>`).
fn url_names_pid(offers: &Value, pid: &Value) -> String {
    let url = &offers["url"];
    let Ok(pid) = Upid::parse(pid.as_str().unwrap_or("")) else {
        return "pid unparsable".into();
    };
    let same = url["address"]["ip"] == json!(pid.ip.to_string())
        && url["address"]["port"] == json!(pid.port)
        && url["path"] == json!(format!("/{}", pid.id));
    same.to_string()
}

const SRC_OFFER: &str = "src/master/master.cpp Master::offer";
const SRC_LAUNCH: &str = "src/master/master.cpp Master::_accept, isLaunchExecutor";
const SRC_UPDATE: &str =
    "src/master/master.cpp Master::_accept + protobuf::createStatusUpdate (SOURCE_MASTER, no uuid, no executor)";
const SRC_EVOLVE: &str = "src/internal/evolve.cpp evolve(StatusUpdateMessage)";
const SRC_REMOVE: &str = "src/master/master.cpp Master::removeFramework";
const SRC_UPID: &str = "3rdparty/libprocess/src/pid.cpp: UPID() renders as \"@0.0.0.0:0\"";

const TABLE: &[Row] = &[
    Row {
        message: "FrameworkRegisteredMessage",
        field: "master_info: fields set",
        genuine: Genuine::Captured(|c| keys(&c.framework_registered["master_info"])),
        ours: |s| keys(&s.framework_registered["master_info"]),
    },
    Row {
        message: "FrameworkRegisteredMessage",
        field: "master_info.address: fields set",
        genuine: Genuine::Captured(|c| keys(&c.framework_registered["master_info"]["address"])),
        ours: |s| keys(&s.framework_registered["master_info"]["address"]),
    },
    Row {
        message: "FrameworkRegisteredMessage",
        field: "master_info.capabilities",
        genuine: Genuine::Captured(|c| c.framework_registered["master_info"]["capabilities"].to_string()),
        ours: |s| s.framework_registered["master_info"]["capabilities"].to_string(),
    },
    Row {
        message: "FrameworkRegisteredMessage",
        field: "master_info.hostname, address.hostname (master on 127.0.0.1, no --hostname)",
        genuine: Genuine::Captured(|c| {
            let i = &c.framework_registered["master_info"];
            format!("{} {}", text(&i["hostname"]), text(&i["address"]["hostname"]))
        }),
        ours: |s| {
            let i = &s.framework_registered["master_info"];
            format!("{} {}", text(&i["hostname"]), text(&i["address"]["hostname"]))
        },
    },
    Row {
        message: "FrameworkRegisteredMessage",
        field: "master_info.version",
        genuine: Genuine::Captured(|c| text(&c.framework_registered["master_info"]["version"])),
        ours: |s| text(&s.framework_registered["master_info"]["version"]),
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0]: fields set (no allocation_info without MULTI_ROLE)",
        genuine: Genuine::Captured(|c| keys(&c.offers["offers"][0])),
        ours: |s| keys(&s.offers["offers"][0]),
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0].resources[*]: fields set",
        genuine: Genuine::Captured(|c| keys_of_all(&c.offers["offers"][0]["resources"])),
        ours: |s| keys_of_all(&s.offers["offers"][0]["resources"]),
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0].url.address: fields set",
        genuine: Genuine::Captured(|c| keys(&c.offers["offers"][0]["url"]["address"])),
        ours: |s| keys(&s.offers["offers"][0]["url"]["address"]),
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0].url = ip, port and /<id> of pids[0]",
        genuine: Genuine::Captured(|c| url_names_pid(&c.offers["offers"][0], &c.offers["pids"][0])),
        ours: |s| url_names_pid(&s.offers["offers"][0], &s.offers["pids"][0]),
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0].url.scheme, url.path",
        genuine: Genuine::Captured(|c| {
            let url = &c.offers["offers"][0]["url"];
            format!("{} {}", text(&url["scheme"]), text(&url["path"]))
        }),
        ours: |s| {
            let url = &s.offers["offers"][0]["url"];
            format!("{} {}", text(&url["scheme"]), text(&url["path"]))
        },
    },
    Row {
        message: "ResourceOffersMessage",
        field: "offers[0].hostname and url.address.hostname = SlaveInfo.hostname",
        genuine: Genuine::Source("agent-host agent-host", SRC_OFFER),
        ours: |s| {
            let o = &s.offers["offers"][0];
            format!("{} {}", text(&o["hostname"]), text(&o["url"]["address"]["hostname"]))
        },
    },
    Row {
        message: "ResourceOffersMessage (MULTI_ROLE framework)",
        field: "offers[0].allocation_info.role, resources[0].allocation_info.role",
        genuine: Genuine::Source("* *", SRC_OFFER),
        ours: |s| {
            let o = &s.offers_multi_role["offers"][0];
            format!(
                "{} {}",
                text(&o["allocation_info"]["role"]),
                text(&o["resources"][0]["allocation_info"]["role"])
            )
        },
    },
    Row {
        message: "v1 Event OFFERS",
        field: "offers[0]: fields set, url.path",
        genuine: Genuine::Captured(|c| {
            let o = &c.offers["offers"][0];
            // v1 renames slave_id to agent_id; nothing else changes.
            let mut k: Vec<String> =
                keys(o).split(',').map(|k| k.replace("slave_id", "agent_id")).collect();
            k.sort_unstable();
            format!("{} {}", k.join(","), text(&o["url"]["path"]))
        }),
        ours: |s| {
            let o = &s.v1_offers["offers"]["offers"][0];
            format!("{} {}", keys(o), text(&o["url"]["path"]))
        },
    },
    Row {
        message: "SlaveRegisteredMessage",
        field: "fields set; connection fields set",
        genuine: Genuine::Captured(|c| {
            format!("{}; {}", keys(&c.slave_registered), keys(&c.slave_registered["connection"]))
        }),
        ours: |s| format!("{}; {}", keys(&s.slave_registered), keys(&s.slave_registered["connection"])),
    },
    Row {
        message: "SlaveRegisteredMessage",
        field: "connection.total_ping_timeout_seconds (15 s x 5 by default)",
        genuine: Genuine::Source("75.0", "src/master/master.cpp registerSlave; master/constants.hpp"),
        ours: |s| text(&s.slave_registered["connection"]["total_ping_timeout_seconds"]),
    },
    Row {
        message: "SlaveReregisteredMessage",
        field: "fields set; connection fields set",
        genuine: Genuine::Captured(|c| {
            format!("{}; {}", keys(&c.slave_reregistered), keys(&c.slave_reregistered["connection"]))
        }),
        ours: |s| {
            format!("{}; {}", keys(&s.slave_reregistered), keys(&s.slave_reregistered["connection"]))
        },
    },
    Row {
        message: "StatusUpdateMessage (agent update forwarded)",
        field: "update fields set (latest_state kept); status fields set",
        genuine: Genuine::Captured(|c| {
            format!("{}; {}", keys(&c.agent_update["update"]), keys(&c.agent_update["update"]["status"]))
        }),
        ours: |s| {
            format!("{}; {}", keys(&s.forwarded_update["update"]), keys(&s.forwarded_update["update"]["status"]))
        },
    },
    Row {
        message: "StatusUpdateMessage (agent update forwarded)",
        field: "bytes = the agent's message (pid = the agent's UPID)",
        genuine: Genuine::Source("true", "src/master/master.cpp Master::forward (MergeFrom, set_pid)"),
        ours: |s| s.forwarded_unchanged.to_string(),
    },
    Row {
        message: "RunTaskMessage",
        field: "fields set (command task)",
        genuine: Genuine::Captured(|c| keys(&c.run_task)),
        ours: |s| keys(&s.run_command),
    },
    Row {
        message: "RunTaskMessage",
        field: "launch_executor (command task)",
        genuine: Genuine::Captured(|c| text(&c.run_task["launch_executor"])),
        ours: |s| text(&s.run_command["launch_executor"]),
    },
    Row {
        message: "RunTaskMessage",
        field: "launch_executor (first task of an executor; next task of it)",
        genuine: Genuine::Source("true false", SRC_LAUNCH),
        ours: |s| {
            format!(
                "{} {}",
                text(&s.run_new_executor["launch_executor"]),
                text(&s.run_known_executor["launch_executor"])
            )
        },
    },
    Row {
        message: "RunTaskMessage",
        field: "resource_version_uuids = [the agent's RegisterSlaveMessage.resource_version_uuid]",
        genuine: Genuine::Captured(|c| {
            (c.run_task["resource_version_uuids"] == json!([{"uuid": c.register_slave["resource_version_uuid"]}]))
                .to_string()
        }),
        ours: |s| {
            (s.run_command["resource_version_uuids"] == json!([{"uuid": s.resource_version}]))
                .to_string()
        },
    },
    Row {
        message: "RunTaskMessage",
        field: "pid (v0 framework) = the driver's UPID",
        genuine: Genuine::Captured(|c| (text(&c.run_task["pid"]) == c.scheduler).to_string()),
        ours: |s| (text(&s.run_command["pid"]) == s.scheduler).to_string(),
    },
    Row {
        message: "RunTaskMessage",
        field: "pid (HTTP framework)",
        genuine: Genuine::Source("@0.0.0.0:0", SRC_UPID),
        ours: |s| text(&s.run_http_framework["pid"]),
    },
    Row {
        message: "RunTaskMessage",
        field: "framework.id set",
        genuine: Genuine::Captured(|c| (!c.run_task["framework"]["id"].is_null()).to_string()),
        ours: |s| (!s.run_command["framework"]["id"].is_null()).to_string(),
    },
    Row {
        message: "StatusUpdateMessage (master-generated, invalid task)",
        field: "pid; update fields set; status fields set",
        genuine: Genuine::Source(
            "@0.0.0.0:0; framework_id,slave_id,status,timestamp; message,reason,slave_id,source,state,task_id,timestamp",
            SRC_UPDATE,
        ),
        ours: |s| {
            let u = &s.invalid_task_update;
            format!("{}; {}; {}", text(&u["pid"]), keys(&u["update"]), keys(&u["update"]["status"]))
        },
    },
    Row {
        message: "StatusUpdateMessage (master-generated, invalid task)",
        field: "status.source, status.reason, status.timestamp = update.timestamp",
        genuine: Genuine::Source("SOURCE_MASTER REASON_TASK_INVALID true", SRC_UPDATE),
        ours: |s| {
            let u = &s.invalid_task_update["update"];
            format!(
                "{} {} {}",
                text(&u["status"]["source"]),
                text(&u["status"]["reason"]),
                u["status"]["timestamp"] == u["timestamp"]
            )
        },
    },
    Row {
        message: "v1 Event UPDATE (master-generated, invalid task)",
        field: "status fields set",
        genuine: Genuine::Source(
            "agent_id,message,reason,source,state,task_id,timestamp",
            SRC_EVOLVE,
        ),
        ours: |s| keys(&s.v1_invalid_task_update["update"]["status"]),
    },
    Row {
        message: "ExitedExecutorMessage (to the framework)",
        field: "relayed for: executors the master tracks only (not a command task's)",
        genuine: Genuine::Source("ex", "src/master/master.cpp Master::exitedExecutor"),
        ours: |s| text(&s.executor_exit["executor_id"]["value"]),
    },
    Row {
        message: "ShutdownFrameworkMessage",
        field: "fields set",
        genuine: Genuine::Captured(|c| keys(&c.shutdown_framework)),
        ours: |s| keys(&s.shutdown_framework),
    },
    Row {
        message: "ShutdownFrameworkMessage",
        field: "sent to: every registered agent (of 2: one with tasks, one without)",
        genuine: Genuine::Source("2 of 2", SRC_REMOVE),
        ours: |s| format!("{} of {}", s.shutdown_reach.0, s.shutdown_reach.1),
    },
];

// ---- genuine side -----------------------------------------------------------------------

fn captured_messages(file: &str) -> Vec<mesos_tests::wire::HttpMessage> {
    mesos_tests::wire::split_requests(&mesos_tests::data(file)).expect("captured requests")
}

/// The body of the first captured message named `name` in `file`.
fn captured_body(file: &str, name: &str) -> Vec<u8> {
    let full = format!("mesos.internal.{name}");
    captured_messages(file)
        .into_iter()
        .find(|m| m.message_target().is_some_and(|(_, n)| n == full))
        .unwrap_or_else(|| panic!("no {name} in {file}"))
        .body
}

/// The JSON of the first captured message named `name` in `file`.
fn captured(file: &str, name: &str) -> Value {
    let body = captured_body(file, name);
    mesos_proto::json::bytes_to_json(&format!("mesos.internal.{name}"), &body)
        .expect("genuine body decodes")
}

fn genuine() -> Captured {
    let s7 = "s7-master-to-sched-conn-1.c2s.bin";
    let to_agent = "a1-to-agent-conn-1.c2s.bin";
    let scheduler = captured_messages("a1-to-master-conn-2.c2s.bin")
        .first()
        .and_then(|m| m.header("Libprocess-From").map(String::from))
        .expect("the driver's first call");
    Captured {
        framework_registered: captured(s7, "FrameworkRegisteredMessage"),
        offers: captured(s7, "ResourceOffersMessage"),
        slave_registered: captured(to_agent, "SlaveRegisteredMessage"),
        slave_reregistered: captured("a2-to-agent-conn-2.c2s.bin", "SlaveReregisteredMessage"),
        run_task: captured(to_agent, "RunTaskMessage"),
        shutdown_framework: captured(to_agent, "ShutdownFrameworkMessage"),
        register_slave: captured("a1-to-master-conn-1.c2s.bin", "RegisterSlaveMessage"),
        agent_update: captured(s7, "StatusUpdateMessage"),
        scheduler,
    }
}

// ---- our side ---------------------------------------------------------------------------

const RESOURCE_VERSION: [u8; 16] = *b"0123456789abcdef";

/// The next message named `name` a peer got, as JSON of its bytes.
async fn raw(p: &mut PeerHandle, name: &str) -> Got {
    let full = format!("mesos.internal.{name}");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let g = p.rx.recv().await.expect("peer open");
            if g.name == full {
                return g;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {name}"))
}

fn json_of(g: &Got) -> Value {
    mesos_proto::json::bytes_to_json(&g.name, &g.body).expect("our body decodes")
}

fn agent_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "agent-host".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, Value) {
    let mut agent = peer(&m.runtime, id, AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: agent_info(),
            version: Some("1.11.0".into()),
            resource_version_uuid: Some(Uuid {
                value: RESOURCE_VERSION.to_vec(),
            }),
            ..Default::default()
        },
    );
    let reg = json_of(&raw(&mut agent, "SlaveRegisteredMessage").await);
    (agent, reg)
}

async fn subscribe(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, Value) {
    let mut sched = peer(&m.runtime, id, common::SCHEDULER_MESSAGES);
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
    let reg = json_of(&raw(&mut sched, "FrameworkRegisteredMessage").await);
    (sched, reg)
}

fn info(multi_role: bool) -> FrameworkInfo {
    let mut info = FrameworkInfo {
        user: "test".into(),
        name: "conformance".into(),
        ..Default::default()
    };
    if multi_role {
        info.roles = vec!["*".into()];
        info.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::MultiRole as i32),
        });
    }
    info
}

/// Advances the clock an allocation interval at a time until offers arrive.
async fn offers(m: &MasterHandle, sched: &mut PeerHandle) -> Got {
    for _ in 0..20 {
        advance(&m.runtime, Duration::from_secs(1)).await;
        while let Ok(g) = sched.rx.try_recv() {
            if g.name.ends_with("ResourceOffersMessage") {
                return g;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no offers after 20 allocation intervals");
}

fn task(id: &str, offer: &Offer, executor: Option<&str>, command: bool) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: offer.slave_id.clone(),
        resources: Resources::parse("cpus:0.5;mem:64", "*")
            .unwrap()
            .to_protos_pre(),
        command: command.then(|| CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        executor: executor.map(|e| ExecutorInfo {
            executor_id: ExecutorId { value: e.into() },
            command: Some(CommandInfo {
                value: Some("run-executor".into()),
                ..Default::default()
            }),
            resources: Resources::parse("cpus:0.1;mem:32", "*")
                .unwrap()
                .to_protos_pre(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn accept(framework_id: &str, offer: &Offer, tasks: Vec<TaskInfo>) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..Default::default()
    }
}

fn first_offer(g: &Got) -> Offer {
    mesos_proto::mesos::internal::ResourceOffersMessage::decode(g.body.as_ref())
        .expect("offers")
        .offers
        .remove(0)
}

/// A v1 framework over HTTP: its OFFERS event, the UPDATE for an invalid task and the
/// RunTaskMessage of a valid one.
async fn v1_scenario() -> (Value, Value, Value) {
    let m = master(&[]);
    let (mut agent, _) = register_agent(&m, "slave(1)").await;
    let addr: SocketAddrV4 = m.address();
    let body =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "t", "name": "v1"}}})
            .to_string();
    let reader = tokio::task::spawn_blocking(move || {
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ];
        let mut s = Stream::open(addr, "/api/v1/scheduler", &headers, body.as_bytes());
        let stream_id = s.header("Mesos-Stream-Id").unwrap_or("").to_string();
        let subscribed = s.json();
        loop {
            let e = s.json();
            if e["type"] == "OFFERS" {
                return (s, stream_id, subscribed, e);
            }
        }
    });
    for _ in 0..20 {
        if reader.is_finished() {
            break;
        }
        advance(&m.runtime, Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut s, stream_id, subscribed, offers) = reader.await.expect("v1 offers");
    let fid = text(&subscribed["subscribed"]["framework_id"]["value"]);
    let o = &offers["offers"]["offers"][0];
    let accept = json!({
        "framework_id": {"value": fid},
        "type": "ACCEPT",
        "accept": {"offer_ids": [o["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            {"name": "ok", "task_id": {"value": "ok"}, "agent_id": o["agent_id"],
             "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}],
             "command": {"value": "true"}},
            {"name": "bad", "task_id": {"value": "bad"}, "agent_id": o["agent_id"],
             "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}]}
        ]}}]}
    })
    .to_string();
    let update = tokio::task::spawn_blocking(move || {
        let reply = http(
            addr,
            "POST",
            "/api/v1/scheduler",
            &[
                ("Content-Type", "application/json"),
                ("Mesos-Stream-Id", &stream_id),
            ],
            accept.as_bytes(),
        );
        assert_eq!(reply.status, 202);
        loop {
            let e = s.json();
            if e["type"] == "UPDATE" {
                return e;
            }
        }
    })
    .await
    .expect("v1 update");
    let run = json_of(&raw(&mut agent, "RunTaskMessage").await);
    m.shutdown();
    (offers, update, run)
}

async fn multi_role_offers() -> Value {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, _) = subscribe(&m, "scheduler-1", info(true)).await;
    let offers = json_of(&offers(&m, &mut sched).await);
    m.shutdown();
    offers
}

async fn ours() -> Seen {
    let m = master(&[]);
    let (mut agent1, slave_registered) = register_agent(&m, "slave(1)").await;
    let (mut sched, framework_registered) = subscribe(&m, "scheduler-1", info(false)).await;
    let fid = text(&framework_registered["framework_id"]["value"]);
    let first = offers(&m, &mut sched).await;
    let offer = first_offer(&first);
    let tasks = vec![
        task("cmd", &offer, None, true),
        task("e1", &offer, Some("ex"), false),
        // Invalid (both command and executor): the master's update names no executor.
        task("bad", &offer, Some("ex-bad"), true),
    ];
    sched.send(m.upid(), &accept(&fid, &offer, tasks));
    let run_command = json_of(&raw(&mut agent1, "RunTaskMessage").await);
    let run_new_executor = json_of(&raw(&mut agent1, "RunTaskMessage").await);
    let invalid_task_update = json_of(&raw(&mut sched, "StatusUpdateMessage").await);
    let again = first_offer(&offers(&m, &mut sched).await);
    sched.send(
        m.upid(),
        &accept(&fid, &again, vec![task("e2", &again, Some("ex"), false)]),
    );
    let run_known_executor = json_of(&raw(&mut agent1, "RunTaskMessage").await);
    // A genuine agent's update (captured), re-addressed to our task, through our master.
    let mut sent = mesos_proto::mesos::internal::StatusUpdateMessage::decode(
        captured_body("s7-master-to-sched-conn-1.c2s.bin", "StatusUpdateMessage").as_slice(),
    )
    .expect("captured update");
    sent.update.framework_id = FrameworkId { value: fid.clone() };
    sent.update.slave_id = Some(offer.slave_id.clone());
    sent.update.executor_id = Some(ExecutorId {
        value: "cmd".into(),
    });
    sent.update.status.slave_id = Some(offer.slave_id.clone());
    sent.update.status.executor_id = Some(ExecutorId {
        value: "cmd".into(),
    });
    sent.update.status.task_id = TaskId {
        value: "cmd".into(),
    };
    sent.pid = Some(agent1.upid().to_string());
    agent1.send(m.upid(), &sent);
    let forwarded = raw(&mut sched, "StatusUpdateMessage").await;
    let forwarded_unchanged = forwarded.body.as_ref() == sent.encode_to_vec().as_slice();
    let forwarded_update = json_of(&forwarded);
    // The agent reports two exits: the command task's executor (which the master never
    // tracks) first, then "ex".
    for executor in ["cmd", "ex"] {
        agent1.send(
            m.upid(),
            &ExitedExecutorMessage {
                slave_id: offer.slave_id.clone(),
                framework_id: FrameworkId { value: fid.clone() },
                executor_id: ExecutorId {
                    value: executor.into(),
                },
                status: 0,
            },
        );
    }
    let executor_exit = json_of(&raw(&mut sched, "ExitedExecutorMessage").await);

    let (mut agent2, registered2) = register_agent(&m, "slave(2)").await;
    // An agent with nothing to reconcile re-registers (agent1 would be asked to reconcile
    // the tasks it does not report, as genuine masters do too).
    agent2.send(
        m.upid(),
        &mesos_proto::mesos::internal::ReregisterSlaveMessage {
            slave: SlaveInfo {
                id: Some(mesos_proto::mesos::SlaveId {
                    value: registered2["slave_id"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                }),
                ..agent_info()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let slave_reregistered = json_of(&raw(&mut agent2, "SlaveReregisteredMessage").await);
    let mut teardown = accept(&fid, &again, Vec::new());
    teardown.r#type = Some(call::Type::Teardown as i32);
    teardown.accept = None;
    sched.send(m.upid(), &teardown);
    let shutdown_framework = json_of(&raw(&mut agent1, "ShutdownFrameworkMessage").await);
    let mut reach = 1;
    if agent2
        .maybe::<mesos_proto::mesos::internal::ShutdownFrameworkMessage>(Duration::from_secs(1))
        .await
        .is_some()
    {
        reach += 1;
    }
    let scheduler = sched.upid().to_string();
    m.shutdown();

    let (v1_offers, v1_invalid_task_update, run_http_framework) = v1_scenario().await;
    Seen {
        framework_registered,
        offers: json_of(&first),
        offers_multi_role: multi_role_offers().await,
        slave_registered,
        slave_reregistered,
        run_command,
        forwarded_unchanged,
        forwarded_update,
        run_new_executor,
        run_known_executor,
        run_http_framework,
        invalid_task_update,
        shutdown_framework,
        executor_exit,
        shutdown_reach: (reach, 2),
        v1_offers,
        v1_invalid_task_update,
        scheduler,
        resource_version: mesos_proto::to_json(&Uuid {
            value: RESOURCE_VERSION.to_vec(),
        }),
    }
}

#[tokio::test]
async fn every_compared_field_is_what_genuine_mesos_1_11_sends() {
    let genuine = genuine();
    let seen = ours().await;
    let mut report = String::new();
    let mut differ = 0;
    for row in TABLE {
        let (want, from) = match &row.genuine {
            Genuine::Captured(f) => (f(&genuine), "captured"),
            Genuine::Source(v, src) => (v.to_string(), *src),
        };
        let got = (row.ours)(&seen);
        let mark = if want == got { "ok  " } else { "DIFF" };
        differ += usize::from(want != got);
        report.push_str(&format!(
            "{mark} {} | {} | genuine: {want} [{from}] | ours: {got}\n",
            row.message, row.field
        ));
    }
    println!("{report}");
    assert_eq!(
        differ, 0,
        "fields that differ from genuine Mesos:\n{report}"
    );
}
