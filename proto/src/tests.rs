//! Unit tests: round trips, required checks, JSON conventions, v0/v1
//! interchangeability and full names.
#![allow(deprecated)]

use crate::mesos::{self, internal, scheduler, v1};
use crate::{check, decode, from_json, from_json_str, to_json, RequiredError};
use prost::{Message, Name};
use serde_json::json;

fn scalar(name: &str, v: f64) -> mesos::Resource {
    mesos::Resource {
        name: name.into(),
        r#type: mesos::value::Type::Scalar as i32,
        scalar: Some(mesos::value::Scalar { value: v }),
        role: Some("*".into()),
        ..Default::default()
    }
}

fn framework_info() -> mesos::FrameworkInfo {
    mesos::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        failover_timeout: Some(60.0),
        roles: vec!["a".into(), "b".into()],
        capabilities: vec![mesos::framework_info::Capability {
            r#type: Some(mesos::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    }
}

fn task_info() -> mesos::TaskInfo {
    mesos::TaskInfo {
        name: "t".into(),
        task_id: mesos::TaskId { value: "t1".into() },
        slave_id: mesos::SlaveId { value: "S0".into() },
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(mesos::CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        }),
        data: Some(vec![0, 1, 2, 255]),
        ..Default::default()
    }
}

fn slave_info() -> mesos::SlaveInfo {
    mesos::SlaveInfo {
        hostname: "localhost".into(),
        port: Some(5051),
        resources: vec![scalar("cpus", 2.0)],
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn round_trip<M: Message + Name + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let bytes = m.encode_to_vec();
    let back: M = decode(&bytes).expect("decode");
    assert_eq!(&back, m);
    let json = to_json(m);
    let back: M = from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    // Defaults are emitted as values, so compare the JSON renderings.
    assert_eq!(
        to_json(&back),
        json,
        "JSON round trip of {}",
        M::full_name()
    );
}

#[test]
fn full_names() {
    assert_eq!(
        internal::RegisterSlaveMessage::full_name(),
        "mesos.internal.RegisterSlaveMessage"
    );
    assert_eq!(mesos::FrameworkInfo::full_name(), "mesos.FrameworkInfo");
    assert_eq!(scheduler::Call::full_name(), "mesos.scheduler.Call");
    assert_eq!(
        scheduler::call::Subscribe::full_name(),
        "mesos.scheduler.Call.Subscribe"
    );
    assert_eq!(
        v1::scheduler::Event::full_name(),
        "mesos.v1.scheduler.Event"
    );
    assert_eq!(v1::AgentInfo::full_name(), "mesos.v1.AgentInfo");
    assert_eq!(
        v1::master::Response::full_name(),
        "mesos.v1.master.Response"
    );
    assert_eq!(
        internal::PongSlaveMessage::full_name(),
        "mesos.internal.PongSlaveMessage"
    );
}

#[test]
fn enum_numbers() {
    assert_eq!(mesos::TaskState::TaskStarting as i32, 0);
    assert_eq!(mesos::TaskState::TaskStaging as i32, 6);
    assert_eq!(mesos::TaskState::TaskGoneByOperator as i32, 12);
    assert_eq!(mesos::task_status::Reason::SlaveDraining as i32, 34);
    assert_eq!(v1::master::call::Type::GetState as i32, 9);
    assert_eq!(v1::master::response::Type::GetState as i32, 8);
    assert_eq!(v1::master::call::Type::GetOperations as i32, 33);
    assert_eq!(v1::master::response::Type::GetOperations as i32, 19);
    assert_eq!(v1::agent::call::Type::GetAgent as i32, 20);
    assert_eq!(
        mesos::slave_info::capability::Type::TaskResourceLimits as i32,
        8
    );
    assert_eq!(mesos::master_info::capability::Type::QuotaV2 as i32, 3);
}

#[test]
fn defaults_via_getters() {
    let c = mesos::CommandInfo::default();
    assert!(c.shell());
    assert_eq!(mesos::Filters::default().refuse_seconds(), 5.0);
    assert_eq!(mesos::SlaveInfo::default().port(), 5051);
    assert_eq!(mesos::MasterInfo::default().port, 5050);
}

#[test]
fn round_trips() {
    round_trip(&framework_info());
    round_trip(&task_info());
    let subscribe = scheduler::Call {
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: framework_info(),
            force: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    round_trip(&subscribe);
    let accept = scheduler::Call {
        framework_id: Some(mesos::FrameworkId { value: "F".into() }),
        r#type: Some(scheduler::call::Type::Accept as i32),
        accept: Some(scheduler::call::Accept {
            offer_ids: vec![mesos::OfferId { value: "O1".into() }],
            operations: vec![mesos::offer::Operation {
                r#type: Some(mesos::offer::operation::Type::Launch as i32),
                launch: Some(mesos::offer::operation::Launch {
                    task_infos: vec![task_info()],
                }),
                ..Default::default()
            }],
            filters: Some(mesos::Filters {
                refuse_seconds: Some(1.0),
            }),
        }),
        ..Default::default()
    };
    round_trip(&accept);
    let register = internal::RegisterSlaveMessage {
        slave: slave_info(),
        version: Some("1.11.0".into()),
        agent_capabilities: vec![mesos::slave_info::Capability {
            r#type: Some(mesos::slave_info::capability::Type::MultiRole as i32),
        }],
        resource_version_uuid: Some(mesos::Uuid { value: vec![7; 16] }),
        ..Default::default()
    };
    round_trip(&register);
    // A map field.
    let mut ti = task_info();
    ti.limits
        .insert("cpus".into(), mesos::value::Scalar { value: 2.0 });
    round_trip(&ti);
}

#[test]
fn required_present_and_missing() {
    let msg = internal::RegisterSlaveMessage {
        slave: slave_info(),
        ..Default::default()
    };
    let bytes = msg.encode_to_vec();
    check("mesos.internal.RegisterSlaveMessage", &bytes).unwrap();

    // Nested missing: slave.hostname (prost omits an empty required string?
    // no: required strings are always encoded, so strip it by hand).
    let mut bad = msg.clone();
    bad.slave.hostname.clear();
    let mut dynamic = prost_reflect::DynamicMessage::decode(
        crate::descriptor_pool()
            .get_message_by_name("mesos.internal.RegisterSlaveMessage")
            .unwrap(),
        bad.encode_to_vec().as_slice(),
    )
    .unwrap();
    let slave = dynamic.get_field_by_name_mut("slave").unwrap();
    if let prost_reflect::Value::Message(s) = slave {
        s.clear_field_by_name("hostname");
    }
    let bytes = dynamic.encode_to_vec();
    let err = check("mesos.internal.RegisterSlaveMessage", &bytes).unwrap_err();
    assert_eq!(
        err.missing_path().as_deref(),
        Some("mesos.internal.RegisterSlaveMessage.slave.hostname")
    );
    assert!(matches!(
        decode::<internal::RegisterSlaveMessage>(&bytes),
        Err(crate::DecodeError::Required(_))
    ));

    // Top-level missing: an empty body has no `slave`.
    let err = check("mesos.internal.RegisterSlaveMessage", &[]).unwrap_err();
    assert_eq!(
        err.missing_path().as_deref(),
        Some("mesos.internal.RegisterSlaveMessage.slave")
    );

    // Repeated nested: a resource without a name in slave.resources[1].
    let mut r = internal::RegisterSlaveMessage {
        slave: slave_info(),
        ..Default::default()
    };
    r.slave.resources.push(scalar("mem", 1.0));
    let mut bytes = r.encode_to_vec();
    // Build the broken variant via raw bytes: resource with only type=SCALAR.
    let broken_resource = [0x10u8, 0x00]; // field 2 varint 0
    let mut slave_bytes = slave_info().encode_to_vec();
    slave_bytes.extend_from_slice(&[0x1a, broken_resource.len() as u8]);
    slave_bytes.extend_from_slice(&broken_resource);
    bytes.clear();
    bytes.push(0x0a);
    bytes.push(slave_bytes.len() as u8);
    bytes.extend_from_slice(&slave_bytes);
    let err = check("mesos.internal.RegisterSlaveMessage", &bytes).unwrap_err();
    assert_eq!(
        err.missing_path().as_deref(),
        Some("mesos.internal.RegisterSlaveMessage.slave.resources[1].name")
    );

    // Unknown name.
    assert!(matches!(
        check("mesos.internal.NoSuchMessage", &[]),
        Err(RequiredError::UnknownMessage(_))
    ));
    // Malformed.
    assert!(matches!(
        check("mesos.internal.RegisterSlaveMessage", &[0x0a, 0x05, 0x01]),
        Err(RequiredError::Malformed { .. })
    ));
    // Empty messages pass.
    check("mesos.internal.PongSlaveMessage", &[]).unwrap();
}

#[test]
fn required_odd_field_numbers() {
    // FrameworkErrorMessage.message is field 2.
    let m = internal::FrameworkErrorMessage {
        message: "boom".into(),
    };
    let bytes = m.encode_to_vec();
    assert_eq!(bytes[0], 0x12);
    check("mesos.internal.FrameworkErrorMessage", &bytes).unwrap();
    // Field 1 with the same content is not enough.
    let wrong = [0x0a, 0x01, b'x'];
    let err = check("mesos.internal.FrameworkErrorMessage", &wrong).unwrap_err();
    assert_eq!(
        err.missing_path().as_deref(),
        Some("mesos.internal.FrameworkErrorMessage.message")
    );

    // ReregisterSlaveMessage.slave is field 2.
    let m = internal::ReregisterSlaveMessage {
        slave: slave_info(),
        ..Default::default()
    };
    let bytes = m.encode_to_vec();
    assert_eq!(bytes[0], 0x12);
    check("mesos.internal.ReregisterSlaveMessage", &bytes).unwrap();
    let mut wrong = bytes.clone();
    wrong[0] = 0x0a;
    assert!(check("mesos.internal.ReregisterSlaveMessage", &wrong).is_err());
}

#[test]
fn required_map_values_and_merge() {
    // TaskInfo.limits is map<string, Value.Scalar>; Scalar.value is required.
    let mut ti = task_info();
    ti.limits
        .insert("cpus".into(), mesos::value::Scalar { value: 1.0 });
    let mut bytes = ti.encode_to_vec();
    check("mesos.TaskInfo", &bytes).unwrap();
    // Append a map entry whose value is an empty Scalar: {key:"mem", value:{}}.
    let entry = [0x0a, 0x03, b'm', b'e', b'm', 0x12, 0x00];
    bytes.push((15 << 3 | 2) as u8);
    bytes.push(entry.len() as u8);
    bytes.extend_from_slice(&entry);
    let err = check("mesos.TaskInfo", &bytes).unwrap_err();
    assert!(err.missing_path().unwrap().ends_with(".value"), "{err}");

    // A singular message split over two occurrences is merged (slow path).
    // task_id: {} then task_id: {value:"x"} is valid protobuf.
    let mut bytes = task_info().encode_to_vec();
    bytes.extend_from_slice(&[0x12, 0x00]);
    check("mesos.TaskInfo", &bytes).unwrap();
}

#[test]
fn json_defaults_and_conventions() {
    let c = mesos::CommandInfo {
        value: Some("x".into()),
        ..Default::default()
    };
    let j = to_json(&c);
    assert_eq!(j, json!({"value": "x", "shell": true}));

    let f = to_json(&mesos::Filters::default());
    assert_eq!(f, json!({"refuse_seconds": 5.0}));
    assert_eq!(
        serde_json::to_string(&f).unwrap(),
        r#"{"refuse_seconds":5.0}"#
    );

    // Deprecated defaults (FrameworkInfo.role) are not emitted; explicit ones are.
    let fi = to_json(&framework_info());
    assert!(fi.get("role").is_none());
    assert_eq!(fi["checkpoint"], json!(false));
    assert_eq!(fi["failover_timeout"], json!(60.0));
    assert_eq!(fi["capabilities"], json!([{"type": "MULTI_ROLE"}]));
    assert!(fi.get("labels").is_none());

    // Slave port default, bytes as base64, 64-bit ints as numbers, maps as objects.
    let si = to_json(&slave_info());
    assert_eq!(si["port"], json!(5051));
    let mut ti = task_info();
    ti.limits
        .insert("cpus".into(), mesos::value::Scalar { value: 2.0 });
    let tj = to_json(&ti);
    assert_eq!(tj["data"], json!("AAEC/w=="));
    assert_eq!(tj["limits"], json!({"cpus": {"value": 2.0}}));
    assert_eq!(tj["resources"][0]["type"], json!("SCALAR"));
    let t = to_json(&mesos::TimeInfo {
        nanoseconds: 1_600_000_000_000_000_000,
    });
    assert_eq!(t, json!({"nanoseconds": 1_600_000_000_000_000_000i64}));
}

#[test]
fn json_parsing_rules() {
    // Unknown keys ignored, numbers/bools as strings, enum by name.
    let c: scheduler::Call = from_json(&json!({
        "type": "SUBSCRIBE",
        "bogus": 1,
        "subscribe": {
            "framework_info": {"user": "u", "name": "n", "failover_timeout": "Infinity",
                               "checkpoint": "true", "capabilities": [{"type": "NO_SUCH_CAP"}]},
            "force": "false"
        }
    }))
    .unwrap();
    assert_eq!(c.r#type(), scheduler::call::Type::Subscribe);
    let s = c.subscribe.unwrap();
    assert_eq!(s.framework_info.failover_timeout(), f64::INFINITY);
    assert_eq!(s.framework_info.checkpoint, Some(true));
    assert_eq!(s.force, Some(false));
    // Unknown enum on an optional field is ignored.
    assert_eq!(s.framework_info.capabilities.len(), 1);
    assert_eq!(s.framework_info.capabilities[0].r#type, None);

    // Missing required fields.
    let err = from_json::<scheduler::Call>(&json!({
        "type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "n"}}
    }))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Missing required fields: subscribe.framework_info.user"
    );

    // Unknown enum on a required field is an error.
    assert!(from_json::<mesos::TaskStatus>(&json!({
        "task_id": {"value": "t"}, "state": "TASK_NOPE"
    }))
    .is_err());

    // Integers as strings and as numbers; bytes base64.
    let st: mesos::TaskStatus = from_json_str(
        r#"{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAEC/w==","timestamp":"12.5"}"#,
    )
    .unwrap();
    assert_eq!(st.state(), mesos::TaskState::TaskRunning);
    assert_eq!(st.uuid.as_deref(), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(st.timestamp, Some(12.5));
    let a: mesos::Address = from_json(&json!({"port": "5050", "ip": "1.2.3.4"})).unwrap();
    assert_eq!(a.port, 5050);
    let d: mesos::DurationInfo =
        from_json(&json!({"nanoseconds": 9_000_000_000_000_000_000i64})).unwrap();
    assert_eq!(d.nanoseconds, 9_000_000_000_000_000_000);

    // A wrong JSON type is an error.
    assert!(from_json::<mesos::Address>(&json!({"port": {"x": 1}})).is_err());
    assert!(from_json::<mesos::Address>(&json!([1])).is_err());
}

#[test]
fn v0_v1_interchangeable() {
    let call = scheduler::Call {
        framework_id: Some(mesos::FrameworkId { value: "F".into() }),
        r#type: Some(scheduler::call::Type::Acknowledge as i32),
        acknowledge: Some(scheduler::call::Acknowledge {
            slave_id: mesos::SlaveId { value: "S1".into() },
            task_id: mesos::TaskId { value: "T".into() },
            uuid: vec![1; 16],
        }),
        ..Default::default()
    };
    let bytes = call.encode_to_vec();
    let v1call: v1::scheduler::Call = decode(&bytes).unwrap();
    assert_eq!(v1call.r#type(), v1::scheduler::call::Type::Acknowledge);
    let ack = v1call.acknowledge.as_ref().unwrap();
    assert_eq!(ack.agent_id.value, "S1");
    assert_eq!(ack.uuid, vec![1; 16]);
    assert_eq!(v1call.encode_to_vec(), bytes);

    let status = mesos::TaskStatus {
        task_id: mesos::TaskId { value: "T".into() },
        state: mesos::TaskState::TaskFinished as i32,
        slave_id: Some(mesos::SlaveId { value: "S2".into() }),
        source: Some(mesos::task_status::Source::Executor as i32),
        ..Default::default()
    };
    let v1s: v1::TaskStatus = decode(&status.encode_to_vec()).unwrap();
    assert_eq!(v1s.agent_id.as_ref().unwrap().value, "S2");
    assert_eq!(v1s.state(), v1::TaskState::TaskFinished);
    let back: mesos::TaskStatus = decode(&v1s.encode_to_vec()).unwrap();
    assert_eq!(back, status);
    // JSON uses the v1 names.
    assert_eq!(to_json(&v1s)["agent_id"], json!({"value": "S2"}));
}

#[test]
fn every_message_has_tables() {
    // Every message in the pool can be checked (empty input may fail only
    // with Missing, never UnknownMessage).
    for m in crate::descriptor_pool().all_messages() {
        match check(m.full_name(), &[]) {
            Ok(()) | Err(RequiredError::Missing { .. }) => {}
            Err(e) => panic!("{}: {e}", m.full_name()),
        }
    }
}
