//! The master's HTTP surface over real TCP: the v1 scheduler API stream and error codes,
//! `/state`, `/version`, `/redirect`, and garbage bodies.

mod common;

use std::time::Duration;

use common::{advance, http, master, Stream};
use serde_json::json;

fn subscribe_body(name: &str) -> Vec<u8> {
    json!({
        "type": "SUBSCRIBE",
        "subscribe": { "framework_info": { "user": "test", "name": name } }
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn v1_subscribe_streams_subscribed_then_an_immediate_heartbeat_then_one_per_interval() {
    let m = master(&[]);
    let addr = m.address();
    let body = subscribe_body("v1-test");
    let mut stream = tokio::task::spawn_blocking(move || {
        Stream::open(
            addr,
            "/api/v1/scheduler",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            &body,
        )
    })
    .await
    .unwrap();
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("Content-Type"), Some("application/json"));
    let stream_id = stream
        .header("Mesos-Stream-Id")
        .expect("Mesos-Stream-Id")
        .to_string();
    assert!(uuid::Uuid::parse_str(&stream_id).is_ok());

    let (first, second, mut stream) = tokio::task::spawn_blocking(move || {
        let a = stream.json();
        let b = stream.json();
        (a, b, stream)
    })
    .await
    .unwrap();
    assert_eq!(first["type"], "SUBSCRIBED");
    let framework_id = first["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(framework_id.starts_with(&m.info.id));
    assert_eq!(first["subscribed"]["heartbeat_interval_seconds"], 15.0);
    assert_eq!(first["subscribed"]["master_info"]["id"], m.info.id.as_str());
    assert_eq!(second["type"], "HEARTBEAT");

    advance(&m.runtime, Duration::from_secs(15)).await;
    let (third, _stream) = tokio::task::spawn_blocking(move || (stream.json(), stream))
        .await
        .unwrap();
    assert_eq!(third["type"], "HEARTBEAT");

    // Another call with the wrong stream id is refused; with the right one it is accepted.
    let revive = json!({"type": "REVIVE", "framework_id": {"value": framework_id}}).to_string();
    let (bad, good) = tokio::task::spawn_blocking(move || {
        let ct = ("Content-Type", "application/json");
        let bad = http(
            addr,
            "POST",
            "/api/v1/scheduler",
            &[ct, ("Mesos-Stream-Id", "nope")],
            revive.as_bytes(),
        );
        let good = http(
            addr,
            "POST",
            "/api/v1/scheduler",
            &[ct, ("Mesos-Stream-Id", &stream_id)],
            revive.as_bytes(),
        );
        (bad, good)
    })
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(good.status, 202);
    m.shutdown();
}

#[tokio::test]
async fn scheduler_api_answers_405_400_415_and_406_for_bad_requests() {
    let m = master(&[]);
    let addr = m.address();
    let statuses = tokio::task::spawn_blocking(move || {
        let body = subscribe_body("x");
        vec![
            http(addr, "GET", "/api/v1/scheduler", &[], b"").status,
            http(addr, "POST", "/api/v1/scheduler", &[], &body).status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[("Content-Type", "text/plain")],
                &body,
            )
            .status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "text/html"),
                ],
                &body,
            )
            .status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[("Content-Type", "application/json")],
                b"{not json",
            )
            .status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[("Content-Type", "application/json")],
                br#"{"type":"SUBSCRIBE"}"#,
            )
            .status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[("Content-Type", "application/x-protobuf")],
                b"\xff\xff\xff",
            )
            .status,
            http(
                addr,
                "POST",
                "/api/v1/scheduler",
                &[("Content-Type", "application/json")],
                br#"{"type":"TEARDOWN"}"#,
            )
            .status,
        ]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [405, 400, 415, 406, 400, 400, 400, 400]);
    m.shutdown();
}

#[tokio::test]
async fn state_version_health_redirect_and_flags_have_mesos_shapes() {
    let m = master(&["--hostname=master.example"]);
    let addr = m.address();
    let (state, master_state, version, health, redirect, flags, metrics) =
        tokio::task::spawn_blocking(move || {
            (
                http(addr, "GET", "/state", &[], b""),
                http(addr, "GET", "/master/state", &[], b""),
                http(addr, "GET", "/version", &[], b""),
                http(addr, "GET", "/health", &[], b""),
                http(addr, "GET", "/master/redirect", &[], b""),
                http(addr, "GET", "/flags", &[], b""),
                http(addr, "GET", "/metrics/snapshot", &[], b""),
            )
        })
        .await
        .unwrap();
    assert_eq!(state.status, 200);
    assert_eq!(master_state.status, 200);
    let s: serde_json::Value = serde_json::from_slice(&state.body).unwrap();
    assert_eq!(s["version"], "1.11.0");
    assert_eq!(s["id"], m.info.id.as_str());
    assert_eq!(s["leader"], format!("master@{addr}"));
    assert_eq!(s["hostname"], "master.example");
    assert_eq!(s["activated_slaves"], 0);
    assert!(s["slaves"].as_array().unwrap().is_empty());
    assert!(s["frameworks"].is_array() && s["completed_frameworks"].is_array());
    let v: serde_json::Value = serde_json::from_slice(&version.body).unwrap();
    assert_eq!(v["version"], "1.11.0");
    assert_eq!(health.status, 200);
    assert!(health.body.is_empty());
    assert_eq!(redirect.status, 307);
    assert_eq!(
        redirect.header("Location"),
        Some(format!("//master.example:{}", addr.port()).as_str())
    );
    let f: serde_json::Value = serde_json::from_slice(&flags.body).unwrap();
    assert_eq!(f["flags"]["agent_ping_timeout"], "15secs");
    let mm: serde_json::Value = serde_json::from_slice(&metrics.body).unwrap();
    assert_eq!(mm["master/elected"], 1.0);
    assert_eq!(mm["master/slaves_active"], 0.0);
    assert_eq!(m.info.ip, 16777343);
    m.shutdown();
}

#[tokio::test]
async fn garbage_http_bodies_on_every_endpoint_never_crash_the_master() {
    let m = master(&[]);
    let addr = m.address();
    tokio::task::spawn_blocking(move || {
        let bodies: [&[u8]; 4] = [b"", b"\x00\xff\x13garbage", b"{\"type\":42}", b"[]"];
        let types = ["application/json", "application/x-protobuf", "text/plain"];
        for path in [
            "/api/v1/scheduler",
            "/master/api/v1/scheduler",
            "/state",
            "/flags",
            "/health",
            "/redirect",
            "/version",
            "/nothing/here",
        ] {
            for body in bodies {
                for ct in types {
                    for method in ["POST", "GET", "PUT"] {
                        let r = http(
                            addr,
                            method,
                            path,
                            &[("Content-Type", ct), ("Accept", "*/*")],
                            body,
                        );
                        assert!(
                            r.status < 500 || r.status == 503,
                            "{method} {path}: {}",
                            r.status
                        );
                    }
                }
            }
        }
    })
    .await
    .unwrap();
    let health = tokio::task::spawn_blocking(move || http(addr, "GET", "/health", &[], b""))
        .await
        .unwrap();
    assert_eq!(health.status, 200);
    m.shutdown();
}

#[tokio::test]
async fn closing_the_v1_stream_disconnects_and_with_failover_timeout_0_removes_the_framework() {
    let m = master(&[]);
    let addr = m.address();
    let body = subscribe_body("v1-closer");
    let stream = tokio::task::spawn_blocking(move || {
        let mut s = Stream::open(
            addr,
            "/api/v1/scheduler",
            &[("Content-Type", "application/json")],
            &body,
        );
        let subscribed = s.json();
        assert_eq!(subscribed["type"], "SUBSCRIBED");
        s
    })
    .await
    .unwrap();
    assert_eq!(
        common::metric(&m.runtime, "master/frameworks_connected"),
        1.0
    );
    drop(stream);
    // The next heartbeat finds the client gone.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        advance(&m.runtime, Duration::from_secs(15)).await;
    }
    assert_eq!(
        common::metric(&m.runtime, "master/frameworks_connected"),
        0.0
    );
    assert_eq!(common::metric(&m.runtime, "master/frameworks_active"), 0.0);
    let state = tokio::task::spawn_blocking(move || http(addr, "GET", "/master/state", &[], b""))
        .await
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&state.body).unwrap();
    assert_eq!(s["completed_frameworks"][0]["name"], "v1-closer");
    m.shutdown();
}
