//! The v1 operator API (`POST /api/v1`) over real HTTP: read calls in JSON and protobuf
//! with Mesos's response type names, bad input refused with 4xx, unimplemented calls 501,
//! TEARDOWN removing a framework.

mod common;
mod semantics;

use common::http;
use mesos_proto::mesos::v1::master as v1;
use mesos_proto::mesos::TaskState;
use prost::Message as _;
use semantics::*;
use serde_json::{json, Value};

async fn post(
    m: &mesos_master::MasterHandle,
    body: Vec<u8>,
    headers: &'static [(&'static str, &'static str)],
) -> mesos_tests::wire::HttpMessage {
    let addr = m.address();
    tokio::task::spawn_blocking(move || http(addr, "POST", "/api/v1", headers, &body))
        .await
        .unwrap()
}

const JSON: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

async fn call(m: &mesos_master::MasterHandle, c: Value) -> (u16, Value) {
    let r = post(m, c.to_string().into_bytes(), JSON).await;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

#[tokio::test]
async fn read_calls_answer_with_the_response_type_and_the_clusters_state_in_json() {
    let l = launched(&[], framework_info()).await;
    let m = &l.m;
    let (status, v) = call(m, json!({"type": "GET_HEALTH"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );

    let (_, v) = call(m, json!({"type": "GET_VERSION"})).await;
    assert_eq!(v["get_version"]["version_info"]["version"], "1.11.0");
    let (_, v) = call(m, json!({"type": "GET_FLAGS"})).await;
    let flags = v["get_flags"]["flags"].as_array().unwrap();
    assert!(flags
        .iter()
        .any(|f| f["name"] == "agent_ping_timeout" && f["value"] == "15secs"));
    let (_, v) = call(m, json!({"type": "GET_METRICS", "get_metrics": {}})).await;
    assert!(v["get_metrics"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"] == "master/elected" && x["value"] == 1.0));
    let (_, v) = call(m, json!({"type": "GET_LOGGING_LEVEL"})).await;
    assert_eq!(v["type"], "GET_LOGGING_LEVEL");

    let (_, v) = call(m, json!({"type": "GET_STATE"})).await;
    assert_eq!(v["type"], "GET_STATE");
    let st = &v["get_state"];
    assert_eq!(st["get_tasks"]["tasks"][0]["task_id"]["value"], "t1");
    assert_eq!(st["get_tasks"]["tasks"][0]["state"], "TASK_STAGING");
    assert_eq!(
        st["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        l.fid.as_str()
    );
    assert_eq!(
        st["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        l.agent_id.as_str()
    );
    assert!(st["get_agents"]["agents"][0]["registered_time"]["nanoseconds"].is_number());

    let (_, v) = call(m, json!({"type": "GET_AGENTS"})).await;
    assert_eq!(v["get_agents"]["agents"][0]["active"], true);
    let (_, v) = call(m, json!({"type": "GET_FRAMEWORKS"})).await;
    assert_eq!(v["get_frameworks"]["frameworks"][0]["active"], true);
    let (_, v) = call(m, json!({"type": "GET_TASKS"})).await;
    assert_eq!(v["get_tasks"]["tasks"].as_array().unwrap().len(), 1);
    let (_, v) = call(m, json!({"type": "GET_EXECUTORS"})).await;
    assert_eq!(v["type"], "GET_EXECUTORS");
    let (_, v) = call(m, json!({"type": "GET_ROLES"})).await;
    assert_eq!(v["get_roles"]["roles"][0]["name"], "*");
    assert_eq!(
        v["get_roles"]["roles"][0]["frameworks"][0]["value"],
        l.fid.as_str()
    );
    let (_, v) = call(m, json!({"type": "GET_MASTER"})).await;
    assert_eq!(v["get_master"]["master_info"]["id"], m.info.id.as_str());
    for (t, field) in [
        ("GET_WEIGHTS", None),
        ("GET_MAINTENANCE_STATUS", Some("get_maintenance_status")),
        ("GET_MAINTENANCE_SCHEDULE", Some("get_maintenance_schedule")),
        ("GET_QUOTA", Some("get_quota")),
    ] {
        let (status, v) = call(m, json!({ "type": t })).await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(v["type"], t);
        if let Some(field) = field {
            assert!(v[field].is_object(), "{t}: {v}");
        }
    }
    l.m.shutdown();
}

#[tokio::test]
async fn protobuf_calls_get_protobuf_responses_with_response_type_numbers() {
    let l = launched(&[], framework_info()).await;
    let body = v1::Call {
        r#type: Some(v1::call::Type::GetState as i32),
        ..Default::default()
    }
    .encode_to_vec();
    let r = post(
        &l.m,
        body,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Accept", "application/x-protobuf"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/x-protobuf"));
    let resp = v1::Response::decode(r.body.as_slice()).unwrap();
    assert_eq!(resp.r#type, Some(8), "GET_STATE is 8 in a Response");
    let tasks = resp.get_state.unwrap().get_tasks.unwrap().tasks;
    assert_eq!(
        tasks[0].state(),
        mesos_proto::mesos::v1::TaskState::TaskStaging
    );
    assert_eq!(TaskState::TaskStaging as i32, tasks[0].state);
    l.m.shutdown();
}

#[tokio::test]
async fn bad_operator_calls_get_4xx_with_a_message_and_unimplemented_calls_501() {
    let m = common::master(&[]);
    for (body, want, text) in [
        (&b"{bad"[..], 400, "Failed to parse body into JSON"),
        // As genuine: an unknown type name reads as no type at all.
        (
            br#"{"type":"NO_SUCH_CALL"}"#,
            400,
            "Expecting 'type' to be present",
        ),
        (br#"{}"#, 400, "Expecting 'type' to be present"),
        (br#"{"type":"GET_METRICS"}"#, 400, "Expecting 'get_metrics'"),
        (br#"{"type":"TEARDOWN"}"#, 400, "Expecting 'teardown'"),
        (
            br#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}"#,
            400,
            "No framework found",
        ),
        (
            br#"{"type":"UPDATE_WEIGHTS","update_weights":{}}"#,
            501,
            "UPDATE_WEIGHTS",
        ),
        (br#"{"type":"START_MAINTENANCE"}"#, 501, "START_MAINTENANCE"),
    ] {
        let r = post(&m, body.to_vec(), JSON).await;
        let msg = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, want, "{}: {msg}", String::from_utf8_lossy(body));
        assert!(msg.contains(text), "{msg}");
    }
    let r = post(
        &m,
        b"\xff\x01".to_vec(),
        &[("Content-Type", "application/x-protobuf")],
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(&m, b"{}".to_vec(), &[("Content-Type", "text/plain")]).await;
    assert_eq!(r.status, 415);
    let r = post(
        &m,
        br#"{"type":"GET_HEALTH"}"#.to_vec(),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/html"),
        ],
    )
    .await;
    assert_eq!(r.status, 406);
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || http(addr, "GET", "/api/v1", &[], b""))
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    m.shutdown();
}

#[tokio::test]
async fn teardown_call_removes_the_framework_and_shuts_it_down_on_its_agents() {
    let mut l = launched(&[], framework_info()).await;
    let (status, _) = call(
        &l.m,
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": l.fid}}}),
    )
    .await;
    assert_eq!(status, 200);
    l.agent
        .expect::<mesos_proto::mesos::internal::ShutdownFrameworkMessage>()
        .await;
    let (_, v) = call(&l.m, json!({"type": "GET_FRAMEWORKS"})).await;
    assert!(v["get_frameworks"]["frameworks"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    assert_eq!(
        v["get_frameworks"]["completed_frameworks"][0]["framework_info"]["id"]["value"],
        l.fid.as_str()
    );
    l.m.shutdown();
}

#[tokio::test]
async fn get_weights_lists_the_weights_flag_and_state_lists_are_present_when_empty() {
    let m = common::master(&["--weights=prod=2.5"]);
    let (_, v) = call(&m, json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(
        v["get_weights"]["weight_infos"],
        json!([{"weight": 2.5, "role": "prod"}])
    );
    let (_, v) = call(&m, json!({"type": "GET_STATE"})).await;
    assert_eq!(v["get_state"]["get_tasks"]["tasks"], json!([]));
    assert_eq!(v["get_state"]["get_agents"]["recovered_agents"], json!([]));
    let (_, v) = call(&m, json!({"type": "GET_EXECUTORS"})).await;
    assert_eq!(v["get_executors"]["executors"], json!([]));
    m.shutdown();
}

#[tokio::test]
async fn set_logging_level_changes_the_verbosity_until_its_duration_ends() {
    let m = common::master(&[]);
    let (status, _) = call(
        &m,
        json!({"type": "SET_LOGGING_LEVEL",
               "set_logging_level": {"level": 2, "duration": {"nanoseconds": 5_000_000_000i64}}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = call(&m, json!({"type": "GET_LOGGING_LEVEL"})).await;
    assert_eq!(v["get_logging_level"]["level"], 2);
    common::advance(&m.runtime, std::time::Duration::from_secs(6)).await;
    let (_, v) = call(&m, json!({"type": "GET_LOGGING_LEVEL"})).await;
    assert_eq!(v["get_logging_level"]["level"], 0, "{v}");
    let (status, _) = call(
        &m,
        json!({"type": "SET_LOGGING_LEVEL",
               "set_logging_level": {"level": 1, "duration": {"nanoseconds": -1}}}),
    )
    .await;
    assert_eq!(status, 400);
    m.shutdown();
}

#[tokio::test]
async fn list_files_and_read_file_serve_the_external_log_as_master_log_and_refuse_the_rest() {
    let log = std::env::temp_dir().join(format!("master-oplog-{}", std::process::id()));
    std::fs::write(&log, "I1129 master started\nI1129 agent registered\n").unwrap();
    let flag = format!("--external_log_file={}", log.display());
    let m = common::master(&[flag.as_str()]);
    let (status, v) = call(
        &m,
        json!({"type": "LIST_FILES", "list_files": {"path": "/master/log"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"type": "LIST_FILES", "list_files": {}}),
        "the log is a file: it lists nothing, as genuine"
    );
    let (status, v) = call(
        &m,
        json!({"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 6, "length": 6}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["type"], "READ_FILE");
    assert_eq!(v["read_file"]["size"], 44);
    assert_eq!(v["read_file"]["data"], "bWFzdGVy", "\"master\" in base64");

    // The web UI's pailer: the size first, then a range.
    let addr = m.address();
    let (size, range) = tokio::task::spawn_blocking(move || {
        (
            http(
                addr,
                "GET",
                "/files/read?path=/master/log&offset=-1",
                &[],
                b"",
            ),
            http(
                addr,
                "GET",
                "/files/read.json?path=/master/log&offset=6&length=6",
                &[],
                b"",
            ),
        )
    })
    .await
    .unwrap();
    let as_json = |r: &mesos_tests::wire::HttpMessage| -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    };
    assert_eq!(as_json(&size), json!({"data": "", "offset": 44}));
    let debug = tokio::task::spawn_blocking(move || http(addr, "GET", "/files/debug", &[], b""))
        .await
        .unwrap();
    assert_eq!(
        as_json(&debug),
        json!({"/master/log": log.display().to_string()}),
        "what is attached, as genuine's /files/debug"
    );
    assert_eq!(as_json(&range), json!({"data": "master", "offset": 6}));

    let real = log.display().to_string();
    for (body, want) in [
        (
            json!({"type": "READ_FILE", "read_file": {"path": real, "offset": 0}}),
            404,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}}),
            404,
        ),
        (
            json!({"type": "LIST_FILES", "list_files": {"path": "/"}}),
            404,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0, "length": -1}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": u64::MAX}}),
            400,
        ),
        (
            json!({"type": "READ_FILE", "read_file": {"path": "/master/log"}}),
            400,
        ),
        (json!({"type": "READ_FILE"}), 400),
        (json!({"type": "LIST_FILES"}), 400),
    ] {
        let r = post(&m, body.to_string().into_bytes(), JSON).await;
        let text = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, want, "{body}: {text}");
        assert!(!text.trim().is_empty(), "{body}: a refusal says why");
    }
    m.shutdown();
    let _ = std::fs::remove_file(&log);
}
