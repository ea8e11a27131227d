//! Decodes message bodies captured from genuine Mesos 1.11.0 processes
//! (`tests/data/<capture>-<n>.<message name>.bin`, extracted from
//! /work/shared/wire/captures) and checks them against the decoded text
//! recorded with the captures.
#![allow(deprecated)]

use mesos_proto::mesos::{self, internal, scheduler};
use mesos_proto::{check, decode};
use prost::Message;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load(prefix: &str) -> Vec<u8> {
    let dir = data_dir();
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no capture {prefix}"));
    std::fs::read(dir.join(entry)).unwrap()
}

/// Decodes by the message name embedded in each file name, re-encodes and
/// checks the re-encoded bytes decode to an equal message.
#[test]
fn all_captures_pass_required_check_and_reencode() {
    let pool = mesos_proto::descriptor_pool();
    let mut count = 0;
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".bin") else {
            continue;
        };
        let full_name = stem.split_once('.').unwrap().1;
        let bytes = std::fs::read(data_dir().join(&name)).unwrap();
        check(full_name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let desc = pool.get_message_by_name(full_name).unwrap();
        let msg = prost_reflect::DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
        assert_no_unknown_fields(&msg, &name);
        let again =
            prost_reflect::DynamicMessage::decode(desc, msg.encode_to_vec().as_slice()).unwrap();
        assert_eq!(msg, again, "{name}");
        // JSON round trip through the reflected form as well.
        let json = mesos_proto::json::bytes_to_json(full_name, &bytes).unwrap();
        let back = mesos_proto::json::json_to_dynamic(msg.descriptor(), &json).unwrap();
        assert_eq!(
            mesos_proto::json::dynamic_to_json(&back),
            json,
            "{name} via JSON"
        );
        count += 1;
    }
    assert!(count >= 30, "only {count} captures");
}

use prost_reflect::ReflectMessage;

/// Every byte of the genuine captures must map onto our definitions.
fn assert_no_unknown_fields(msg: &prost_reflect::DynamicMessage, ctx: &str) {
    assert_eq!(
        msg.unknown_fields().count(),
        0,
        "{ctx}: unknown fields in {}",
        msg.descriptor().full_name()
    );
    for (_, value) in msg.fields() {
        let items: Vec<&prost_reflect::Value> = match value {
            prost_reflect::Value::List(l) => l.iter().collect(),
            prost_reflect::Value::Map(m) => m.values().collect(),
            v => vec![v],
        };
        for v in items {
            if let prost_reflect::Value::Message(m) = v {
                assert_no_unknown_fields(m, ctx);
            }
        }
    }
}

fn typed_round_trip<M: Message + Default + PartialEq + std::fmt::Debug + prost::Name>(
    bytes: &[u8],
) -> M {
    let m: M = decode(bytes).unwrap();
    let again: M = decode(&m.encode_to_vec()).unwrap();
    assert_eq!(again, m);
    m
}

#[test]
fn scheduler_subscribe() {
    let call: scheduler::Call = typed_round_trip(&load("s7-sched-to-master-01."));
    assert_eq!(call.r#type(), scheduler::call::Type::Subscribe);
    let fi = call.subscribe.unwrap().framework_info;
    assert_eq!(fi.user, "root");
    assert_eq!(fi.name, "native-interop");
    assert_eq!(fi.hostname.as_deref(), Some("vm"));
}

#[test]
fn scheduler_accept() {
    let call: scheduler::Call = typed_round_trip(&load("s7-sched-to-master-02."));
    assert_eq!(call.r#type(), scheduler::call::Type::Accept);
    assert_eq!(
        call.framework_id.unwrap().value,
        "88690671-aee2-44d7-b078-ad63463bd5a2-0001"
    );
    let accept = call.accept.unwrap();
    assert_eq!(
        accept.offer_ids[0].value,
        "88690671-aee2-44d7-b078-ad63463bd5a2-O1"
    );
    let op = &accept.operations[0];
    assert_eq!(op.r#type(), mesos::offer::operation::Type::Launch);
    let tasks = &op.launch.as_ref().unwrap().task_infos;
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].name, "native-task-0");
    assert_eq!(tasks[1].task_id.value, "native-task-1");
    assert_eq!(
        tasks[0].slave_id.value,
        "88690671-aee2-44d7-b078-ad63463bd5a2-S0"
    );
    assert_eq!(tasks[0].resources[0].name, "cpus");
    assert_eq!(tasks[0].resources[0].scalar.as_ref().unwrap().value, 0.1);
    assert_eq!(tasks[0].resources[1].scalar.as_ref().unwrap().value, 32.0);
    assert_eq!(tasks[0].resources[0].role.as_deref(), Some("*"));
    let cmd = tasks[0].command.as_ref().unwrap();
    assert_eq!(cmd.value.as_deref(), Some("echo ok"));
    assert_eq!(cmd.shell, Some(true));
    assert!(accept.filters.is_some());
}

#[test]
fn framework_registered() {
    let m: internal::FrameworkRegisteredMessage = typed_round_trip(&load("s7-master-to-sched-01."));
    assert_eq!(
        m.framework_id.value,
        "88690671-aee2-44d7-b078-ad63463bd5a2-0001"
    );
    let mi = m.master_info;
    assert_eq!(mi.id, "88690671-aee2-44d7-b078-ad63463bd5a2");
    assert_eq!(mi.ip, 16777343);
    assert_eq!(mi.port, 25071);
    assert_eq!(mi.pid.as_deref(), Some("master@127.0.0.1:25071"));
    assert_eq!(mi.version.as_deref(), Some("1.11.0"));
    assert_eq!(
        mi.address.as_ref().unwrap().ip.as_deref(),
        Some("127.0.0.1")
    );
    use mesos::master_info::capability::Type;
    let caps: Vec<Type> = mi.capabilities.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        caps,
        vec![Type::AgentUpdate, Type::AgentDraining, Type::QuotaV2]
    );
}

#[test]
fn resource_offers_and_status_updates() {
    let m: internal::ResourceOffersMessage = typed_round_trip(&load("s7-master-to-sched-02."));
    assert_eq!(m.offers.len(), m.pids.len());
    assert!(!m.offers.is_empty());
    assert!(m.offers[0].id.value.contains("-O"));

    for prefix in [
        "s7-master-to-sched-03.",
        "s7-master-to-sched-04.",
        "a1-agent-to-master-06.",
    ] {
        let m: internal::StatusUpdateMessage = typed_round_trip(&load(prefix));
        assert_eq!(m.update.uuid.as_ref().map(Vec::len), Some(16), "{prefix}");
        assert!(
            m.pid.as_deref().unwrap_or("").starts_with("slave(1)@"),
            "{prefix}"
        );
    }
    let m: internal::StatusUpdateMessage = typed_round_trip(&load("a1-agent-to-master-06."));
    assert_eq!(
        m.update.status.source(),
        mesos::task_status::Source::Executor
    );
}

#[test]
fn register_slave() {
    let m: internal::RegisterSlaveMessage = typed_round_trip(&load("a1-agent-to-master-01."));
    assert_eq!(m.slave.hostname, "localhost");
    assert_eq!(m.slave.port(), 26081);
    assert_eq!(m.slave.checkpoint, Some(true));
    assert!(m.slave.id.is_none());
    let names: Vec<&str> = m.slave.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["cpus", "mem", "disk", "ports"]);
    let ports = m.slave.resources[3].ranges.as_ref().unwrap();
    assert_eq!((ports.range[0].begin, ports.range[0].end), (31000, 31010));
    assert!(m
        .slave
        .resources
        .iter()
        .all(|r| r.role.as_deref() == Some("*")));
    assert_eq!(m.version.as_deref(), Some("1.11.0"));
    use mesos::slave_info::capability::Type;
    let caps: Vec<Type> = m.agent_capabilities.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        caps,
        vec![
            Type::MultiRole,
            Type::HierarchicalRole,
            Type::ReservationRefinement,
            Type::ResourceProvider,
            Type::ResizeVolume,
            Type::AgentOperationFeedback,
            Type::AgentDraining,
            Type::TaskResourceLimits
        ]
    );
    assert_eq!(m.resource_version_uuid.unwrap().value.len(), 16);
}

#[test]
fn slave_registered_ping_run_task() {
    let ping: internal::PingSlaveMessage = typed_round_trip(&load("a1-to-agent-01."));
    assert!(ping.connected);
    let reg: internal::SlaveRegisteredMessage = typed_round_trip(&load("a1-to-agent-02."));
    assert!(reg.slave_id.value.ends_with("-S0"));
    assert!(reg.connection.unwrap().total_ping_timeout_seconds.is_some());

    let run: internal::RunTaskMessage = typed_round_trip(&load("a1-to-agent-05."));
    assert_eq!(run.framework.user, "root");
    assert_eq!(run.framework.name, "native-interop");
    assert!(run.framework.id.is_some());
    assert!(run.framework_id.is_none());
    assert_eq!(
        run.pid.as_deref(),
        Some("scheduler-dca965f6-d44b-427f-a6f0-fda0be2513dd@127.0.0.1:26090")
    );
    assert_eq!(run.task.name, "native-task-0");
    assert_eq!(
        run.task.resources[0]
            .allocation_info
            .as_ref()
            .unwrap()
            .role
            .as_deref(),
        Some("*")
    );
    assert_eq!(
        run.task.command.as_ref().unwrap().value.as_deref(),
        Some("echo captured-task-ran")
    );
    assert_eq!(run.resource_version_uuids.len(), 1);
    assert_eq!(run.resource_version_uuids[0].uuid.value.len(), 16);
    assert_eq!(run.launch_executor, Some(true));

    let _: internal::PongSlaveMessage = typed_round_trip(&load("a1-agent-to-master-02."));
    let _: internal::UpdateSlaveMessage = typed_round_trip(&load("a1-agent-to-master-03."));
    let _: internal::StatusUpdateAcknowledgementMessage =
        typed_round_trip(&load("a1-to-agent-06."));
    let _: internal::ShutdownFrameworkMessage = typed_round_trip(&load("a1-to-agent-09."));
}

#[test]
fn v1_decodes_v0_capture() {
    // The ACCEPT call decodes as v1 with agent_id in place of slave_id.
    let bytes = load("s7-sched-to-master-02.");
    let call: mesos_proto::mesos::v1::scheduler::Call = decode(&bytes).unwrap();
    let accept = call.accept.unwrap();
    let task = &accept.operations[0].launch.as_ref().unwrap().task_infos[0];
    assert_eq!(
        task.agent_id.value,
        "88690671-aee2-44d7-b078-ad63463bd5a2-S0"
    );
}
