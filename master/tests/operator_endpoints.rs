//! The read-only endpoints operators' tools poll (`/state-summary`, `/slaves`, `/frameworks`,
//! `/tasks`, `/roles`, the `.json` aliases, `/redirect`), over real HTTP against a master
//! with an agent, a framework and tasks, on a paused clock.

mod common;
mod semantics;

use common::http;
use mesos_proto::mesos::internal::{RunTaskMessage, StatusUpdateMessage};
use mesos_proto::mesos::{ContainerStatus, Label, Labels, NetworkInfo, TaskState};
use semantics::*;
use serde_json::Value;

/// A master with one agent and one framework running tasks t1, t2, t3, whose first status
/// updates carry timestamps 30, 10, 20 (so time order is t2, t3, t1).
async fn cluster() -> Launched {
    let l = launched(&[], framework_info()).await;
    let Launched {
        m,
        mut agent,
        mut sched,
        fid,
        agent_id,
    } = l;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let mut t2 = task("t2", &offer, "cpus:1;mem:128");
    t2.labels = Some(Labels {
        labels: vec![Label {
            key: "team".into(),
            value: Some("ops".into()),
        }],
    });
    let t3 = task("t3", &offer, "cpus:1;mem:128");
    sched.send(
        m.upid(),
        &accept_ops(&fid, vec![offer.id.clone()], vec![launch(vec![t2, t3])]),
    );
    agent.expect::<RunTaskMessage>().await;
    agent.expect::<RunTaskMessage>().await;
    for (id, ts) in [("t1", 30.0), ("t2", 10.0), ("t3", 20.0)] {
        let mut update = agent_update(&fid, &agent_id, id, TaskState::TaskRunning, None);
        update.status.timestamp = Some(ts);
        if id == "t2" {
            update.status.container_status = Some(ContainerStatus {
                network_infos: vec![NetworkInfo {
                    ip_addresses: vec![mesos_proto::mesos::network_info::IpAddress {
                        ip_address: Some("10.0.0.2".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                executor_pid: Some(42),
                ..Default::default()
            });
            update.status.healthy = Some(true);
        }
        agent.send(
            m.upid(),
            &StatusUpdateMessage {
                update,
                pid: Some(agent.upid().to_string()),
            },
        );
        sched.expect::<StatusUpdateMessage>().await;
    }
    Launched {
        m,
        agent,
        sched,
        fid,
        agent_id,
    }
}

async fn get(m: &mesos_master::MasterHandle, path: &str) -> (u16, Value, Vec<(String, String)>) {
    let addr = m.address();
    let path = path.to_string();
    let r = tokio::task::spawn_blocking(move || http(addr, "GET", &path, &[], b""))
        .await
        .unwrap();
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v, r.headers.clone())
}

fn ids(v: &Value) -> Vec<String> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tasks_endpoint_orders_by_first_status_time_pages_and_filters() {
    let l = cluster().await;
    let m = &l.m;
    assert_eq!(ids(&get(m, "/tasks").await.1), ["t1", "t3", "t2"]);
    assert_eq!(
        ids(&get(m, "/master/tasks?order=asc").await.1),
        ["t2", "t3", "t1"]
    );
    assert_eq!(
        ids(&get(m, "/tasks?order=asc&limit=1&offset=1").await.1),
        ["t3"]
    );
    assert_eq!(ids(&get(m, "/tasks?limit=-1").await.1).len(), 3);
    assert!(ids(&get(m, "/tasks?offset=-1").await.1).is_empty());
    assert_eq!(ids(&get(m, "/tasks?task_id=t3").await.1), ["t3"]);
    assert_eq!(
        ids(&get(m, &format!("/tasks?framework_id={}", l.fid)).await.1).len(),
        3
    );
    assert!(ids(&get(m, "/tasks?framework_id=nope").await.1).is_empty());
    let (status, v, _) = get(m, "/master/tasks.json?task_id=t2").await;
    assert_eq!(status, 200);
    let t2 = &v["tasks"][0];
    assert_eq!(t2["state"], "TASK_RUNNING");
    assert_eq!(t2["role"], "*");
    assert_eq!(t2["labels"][0]["key"], "team");
    let st = &t2["statuses"][0];
    assert_eq!(st["timestamp"], 10.0);
    assert_eq!(st["healthy"], true);
    assert_eq!(st["container_status"]["executor_pid"], 42);
    assert_eq!(
        st["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"],
        "10.0.0.2"
    );
    l.m.shutdown();
}

#[tokio::test]
async fn tasks_endpoint_returns_at_most_100_tasks_by_default() {
    let l = launched(&[], framework_info()).await;
    let Launched {
        m,
        mut agent,
        mut sched,
        fid,
        ..
    } = l;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let tasks: Vec<_> = (0..120)
        .map(|i| task(&format!("x{i}"), &offer, "cpus:0.01;mem:1"))
        .collect();
    sched.send(
        m.upid(),
        &accept_ops(&fid, vec![offer.id.clone()], vec![launch(tasks)]),
    );
    for _ in 0..120 {
        agent.expect::<RunTaskMessage>().await;
    }
    assert_eq!(ids(&get(&m, "/tasks").await.1).len(), 100);
    assert_eq!(ids(&get(&m, "/tasks?limit=-1").await.1).len(), 121);
    m.shutdown();
}

#[tokio::test]
async fn slaves_and_frameworks_endpoints_filter_by_id_and_have_genuine_top_level_keys() {
    let l = cluster().await;
    let m = &l.m;
    let (status, v, _) = get(m, "/slaves").await;
    assert_eq!(status, 200);
    assert_eq!(v["slaves"][0]["id"], l.agent_id.as_str());
    assert!(v["recovered_slaves"].as_array().unwrap().is_empty());
    let (_, v, _) = get(m, &format!("/master/slaves?slave_id={}", l.agent_id)).await;
    assert_eq!(v["slaves"].as_array().unwrap().len(), 1);
    let (_, v, _) = get(m, "/master/slaves.json?slave_id=other").await;
    assert!(v["slaves"].as_array().unwrap().is_empty());

    let (_, v, _) = get(m, "/frameworks").await;
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "completed_frameworks",
            "frameworks",
            "unregistered_frameworks"
        ]
    );
    assert_eq!(v["frameworks"][0]["id"], l.fid.as_str());
    assert_eq!(v["frameworks"][0]["tasks"].as_array().unwrap().len(), 3);
    let (_, v, _) = get(m, "/frameworks.json?framework_id=nope").await;
    assert!(v["frameworks"].as_array().unwrap().is_empty());
    let (_, v, _) = get(m, &format!("/frameworks?framework_id={}", l.fid)).await;
    assert_eq!(v["frameworks"].as_array().unwrap().len(), 1);
    l.m.shutdown();
}

#[tokio::test]
async fn state_summary_counts_tasks_per_state_and_links_agents_and_frameworks() {
    let l = cluster().await;
    let (status, v, _) = get(&l.m, "/master/state-summary").await;
    assert_eq!(status, 200);
    let agent = &v["slaves"][0];
    assert_eq!(agent["TASK_RUNNING"], 3);
    assert_eq!(agent["TASK_STAGING"], 0);
    assert_eq!(agent["framework_ids"][0], l.fid.as_str());
    let f = &v["frameworks"][0];
    assert_eq!(f["TASK_RUNNING"], 3);
    assert_eq!(f["slave_ids"][0], l.agent_id.as_str());
    assert!(
        f.get("tasks").is_none(),
        "a summary carries no task objects"
    );
    assert_eq!(v["hostname"], "localhost");
    let (status, _, _) = get(&l.m, "/state-summary.json").await;
    assert_eq!(status, 200);
    l.m.shutdown();
}

#[tokio::test]
async fn roles_endpoint_lists_framework_roles_with_weights_and_allocations() {
    let l = launched(&["--weights=prod=3"], framework_info()).await;
    let (status, v, _) = get(&l.m, "/roles").await;
    assert_eq!(status, 200);
    let roles = v["roles"].as_array().unwrap();
    let star = roles.iter().find(|r| r["name"] == "*").unwrap();
    assert_eq!(star["weight"], 1.0);
    assert_eq!(star["frameworks"][0], l.fid.as_str());
    assert_eq!(star["allocated"]["cpus"], 1.0);
    assert_eq!(star["quota"]["role"], "*");
    let prod = roles.iter().find(|r| r["name"] == "prod").unwrap();
    assert_eq!(prod["weight"], 3.0);
    assert!(prod["frameworks"].as_array().unwrap().is_empty());
    let (status, _, _) = get(&l.m, "/master/roles.json").await;
    assert_eq!(status, 200);
    l.m.shutdown();
}

#[tokio::test]
async fn json_aliases_trailing_slashes_and_jsonp_answer_like_the_plain_endpoints() {
    let l = cluster().await;
    let m = &l.m;
    for path in [
        "/state.json",
        "/master/state.json",
        "/master/state/",
        "/flags.json",
        "/master/flags.json",
        "/master/frameworks/",
    ] {
        let (status, v, _) = get(m, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(v.is_object(), "{path}");
    }
    let (_, state, _) = get(m, "/master/state.json").await;
    assert_eq!(state["frameworks"][0]["tasks"].as_array().unwrap().len(), 3);
    let addr = m.address();
    let r = tokio::task::spawn_blocking(move || {
        http(
            addr,
            "GET",
            "/master/tasks?jsonp=cb.x",
            &[("Authorization", "Basic dTpw")],
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        body.starts_with("cb.x({\"tasks\":[") && body.ends_with(");"),
        "{body}"
    );
    l.m.shutdown();
}

#[tokio::test]
async fn redirect_answers_307_to_the_leader_for_get_and_head() {
    let m = common::master(&["--hostname=leader.example"]);
    let addr = m.address();
    let (get_r, head_r) = tokio::task::spawn_blocking(move || {
        (
            http(addr, "GET", "/redirect", &[], b""),
            http(addr, "HEAD", "/master/redirect", &[], b""),
        )
    })
    .await
    .unwrap();
    let want = format!("//leader.example:{}", addr.port());
    for r in [get_r, head_r] {
        assert_eq!(r.status, 307);
        assert_eq!(r.header("Location"), Some(want.as_str()));
    }
    m.shutdown();
}

#[tokio::test]
async fn resource_metrics_report_total_used_and_percent_also_in_prometheus_text() {
    let l = launched(&[], framework_info()).await;
    let rt = &l.m.runtime;
    assert_eq!(common::metric(rt, "master/cpus_total"), 4.0);
    assert_eq!(common::metric(rt, "master/cpus_used"), 1.0);
    assert_eq!(common::metric(rt, "master/cpus_percent"), 0.25);
    assert_eq!(common::metric(rt, "master/mem_total"), 4096.0);
    assert_eq!(common::metric(rt, "master/mem_used"), 128.0);
    assert_eq!(common::metric(rt, "master/disk_total"), 10000.0);
    assert_eq!(common::metric(rt, "master/gpus_percent"), 0.0);
    assert_eq!(
        common::metric(rt, "allocator/mesos/resources/cpus/total"),
        4.0
    );
    // The launch used 1 cpu; the other 3 are offered again or about to be.
    let cpus = common::metric(rt, "allocator/mesos/resources/cpus/offered_or_allocated");
    assert!((1.0..=4.0).contains(&cpus), "{cpus}");
    let addr = l.m.address();
    let r = tokio::task::spawn_blocking(move || http(addr, "GET", "/metrics/prometheus", &[], b""))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(text.contains("\nmaster_cpus_used 1\n"), "{text}");
    assert!(
        text.contains("\nallocator_mesos_allocation_runs "),
        "{text}"
    );
    l.m.shutdown();
}
