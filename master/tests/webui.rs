//! What the web UI needs from the master, over real HTTP: the embedded UI at `/` and
//! `/assets/` (content types, ETag revalidation, other paths still 404),
//! `/master/allocator/explain` (the allocator's reason per framework), and
//! `/master/agent/<id>/...` (agents' read-only endpoints forwarded, everything else refused).

mod common;
mod semantics;

use common::{advance, http};
use libprocess::{Ctx, Process, Response};
use mesos_proto::mesos::scheduler::call;
use semantics::*;
use serde_json::Value;
use std::time::Duration;

async fn get(
    m: &mesos_master::MasterHandle,
    path: &str,
    headers: &[(&str, &str)],
) -> mesos_tests::wire::HttpMessage {
    let (addr, path) = (m.address(), path.to_string());
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(addr, "GET", &path, &headers, b"")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_ui_is_served_at_the_root_and_its_assets_with_content_types_and_etags() {
    let m = common::master(&[]);
    let index = get(&m, "/", &[]).await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8_lossy(&index.body);
    assert!(
        html.contains(r#"<script type="module" src="/assets/js/main.js">"#),
        "{html}"
    );

    let js = get(&m, "/assets/js/main.js", &[]).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let etag = js.header("etag").expect("an ETag").to_string();
    let css = get(&m, "/assets/app.css", &[]).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let again = get(&m, "/assets/js/main.js", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    assert_eq!(get(&m, "/assets/js/nope.js", &[]).await.status, 404);
    assert_eq!(get(&m, "/no/such/page", &[]).await.status, 404);
    // The catch-all `/` route leaves the master's own endpoints alone.
    let state = get(&m, "/master/state", &[]).await;
    assert_eq!(state.header("content-type"), Some("application/json"));
    m.shutdown();
}

#[tokio::test]
async fn allocator_explain_says_a_suppressed_framework_got_no_offer_because_it_suppressed() {
    let m = common::master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut busy, busy_id) = subscribe(&m, "scheduler-2", framework_info()).await;
    next_offers(&m, &mut busy).await;
    let (quiet, quiet_id) = subscribe(&m, "scheduler-1", multi_role(&["quiet"])).await;
    quiet.send(m.upid(), &call_of(&quiet_id, call::Type::Suppress));
    advance(&m.runtime, Duration::from_secs(3)).await;

    let r = get(&m, "/master/allocator/explain", &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let row = |id: &str| {
        v["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["framework_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {id}: {v}"))
    };
    let q = row(&quiet_id);
    assert_eq!(q["outcome"], "SUPPRESSED", "{q}");
    assert_eq!(q["suppressed_roles"], serde_json::json!(["quiet"]));
    assert_eq!(q["roles"], serde_json::json!(["quiet"]));
    assert!(q["message"].as_str().unwrap().contains("suppressed"));
    assert_ne!(row(&busy_id)["outcome"], "SUPPRESSED");

    let one = get(
        &m,
        &format!("/allocator/explain?framework_id={quiet_id}"),
        &[],
    )
    .await;
    let v: Value = serde_json::from_slice(&one.body).unwrap();
    assert_eq!(v["frameworks"].as_array().map(Vec::len), Some(1));
    m.shutdown();
}

/// Stands in for the agent's `files` process: echoes the query it was asked with.
struct Files;
impl Process for Files {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.route("/read", |_, _, req| {
            let mut q: Vec<_> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            q.sort();
            Response::json(serde_json::json!({ "echo": q.join("&") }).to_string()).into()
        });
    }
}

#[tokio::test]
async fn agent_proxy_forwards_read_only_endpoints_to_the_agent_and_refuses_the_rest() {
    let m = common::master(&[]);
    // The agent's process and its `files` process share the master's runtime (address).
    let (_agent, agent_id) = register_agent(&m, "slave(1)").await;
    m.runtime.spawn("files", Files).unwrap();

    let r = get(
        &m,
        &format!("/master/agent/{agent_id}/files/read?path=/sandbox/a%20b%26c&offset=-1"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["echo"], "offset=-1&path=/sandbox/a b&c");

    let refused = get(&m, &format!("/master/agent/{agent_id}/api/v1"), &[]).await;
    assert_eq!(refused.status, 403);
    let download = get(
        &m,
        &format!("/agent/{agent_id}/files/download?path=/x"),
        &[],
    )
    .await;
    assert_eq!(download.status, 403);
    let unknown = get(&m, "/master/agent/nope/state", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        String::from_utf8_lossy(&unknown.body),
        "No agent 'nope' is registered"
    );
    let addr = m.address();
    let post = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "POST",
            &format!("/master/agent/{agent_id}/state"),
            &[],
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(post.status, 405);
    m.shutdown();
}
