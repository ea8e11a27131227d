use std::sync::mpsc;

use libprocess::{Config, Runtime};

use super::*;

const AGENT: &str = "cpus:2;mem:1024;disk:4096;ports:[31000-32000]";

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").expect("valid resources")
}

struct Harness {
    rt: Runtime,
    handle: AllocatorHandle,
    rx: mpsc::Receiver<Vec<Allocation>>,
}

impl Harness {
    fn start() -> Harness {
        let rt = Runtime::start(Config::local()).expect("runtime");
        rt.clock().pause();
        let (tx, rx) = mpsc::channel();
        let deliver: Deliver = Box::new(move |allocations| {
            let _ = tx.send(allocations);
        });
        let pid = rt
            .spawn(
                "allocator",
                AllocatorProcess::new(AllocatorConfig::default(), deliver),
            )
            .expect("spawn");
        Harness {
            rt,
            handle: AllocatorHandle::new(pid),
            rx,
        }
    }

    /// Every batch delivered since the last call.
    async fn delivered(&self) -> Vec<Vec<Allocation>> {
        self.rt.clock().settle().await;
        self.rx.try_iter().collect()
    }

    async fn advance(&self, by: Duration) {
        self.rt.clock().advance(by);
        self.rt.clock().settle().await;
    }

    fn runs(&self) -> f64 {
        self.rt
            .metrics()
            .snapshot()
            .get("allocator/mesos/allocation_runs")
            .copied()
            .unwrap_or(0.0)
    }
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_new_agent_is_offered_at_once_without_waiting_for_the_interval() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.handle.add_agent("a1", res(AGENT), Vec::new());
    let batches = h.delivered().await;
    let all: Vec<Allocation> = batches.into_iter().flatten().collect();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].framework_id.as_str(), all[0].agent_id.as_str()),
        ("f1", "a1")
    );
    assert_eq!(all[0].resources, res(AGENT));
    h.rt.shutdown();
}

#[tokio::test]
async fn events_before_the_immediate_run_are_coalesced_into_one_run() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.delivered().await;
    let before = h.runs();
    h.handle.pid().dispatch("test::burst", |me, ctx| {
        for i in 0..5 {
            me.add_agent(ctx, &format!("a{i}"), res(AGENT), &[]);
        }
    });
    let batches = h.delivered().await;
    assert_eq!(batches.len(), 1, "one run for the whole burst");
    assert_eq!(batches[0].len(), 5);
    assert_eq!(h.runs() - before, 1.0);
    h.rt.shutdown();
}

#[tokio::test]
async fn batch_runs_happen_every_allocation_interval() {
    let h = Harness::start();
    h.delivered().await;
    let before = h.runs();
    h.advance(Duration::from_millis(999)).await;
    assert_eq!(h.runs(), before);
    h.advance(Duration::from_millis(1)).await;
    assert_eq!(h.runs(), before + 1.0);
    h.advance(Duration::from_secs(1)).await;
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(h.runs(), before + 3.0);
    assert!(h
        .rt
        .metrics()
        .snapshot()
        .contains_key("allocator/mesos/allocation_run_ms/count"));
    h.rt.shutdown();
}

#[tokio::test]
async fn recovered_resources_are_reoffered_at_once() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.handle.add_agent("a1", res(AGENT), Vec::new());
    let first: Vec<Allocation> = h.delivered().await.into_iter().flatten().collect();
    assert_eq!(first.len(), 1);
    h.handle
        .recover("f1", "a1", first[0].resources.clone(), None);
    let again: Vec<Allocation> = h.delivered().await.into_iter().flatten().collect();
    assert_eq!(again.len(), 1, "re-offered without advancing the clock");
    h.rt.shutdown();
}

#[tokio::test]
async fn a_refuse_filter_holds_until_it_expires() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.handle.add_agent("a1", res(AGENT), Vec::new());
    let first: Vec<Allocation> = h.delivered().await.into_iter().flatten().collect();
    h.handle.recover(
        "f1",
        "a1",
        first[0].resources.clone(),
        Some(Duration::from_secs(5)),
    );
    assert!(h.delivered().await.is_empty());
    // Four batch runs pass with the filter in force.
    for _ in 0..4 {
        h.advance(Duration::from_secs(1)).await;
        assert!(h.delivered().await.is_empty());
    }
    assert!(matches!(
        h.handle.explain("f1").await,
        Ok(Explanation::Filtered { .. })
    ));
    // The batch run at 5 s, when the filter expires, offers the agent again.
    h.advance(Duration::from_secs(1)).await;
    let again: Vec<Allocation> = h.delivered().await.into_iter().flatten().collect();
    assert_eq!(again.len(), 1);
    h.rt.shutdown();
}

#[tokio::test]
async fn revive_clears_filters_and_offers_at_once() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.handle.add_agent("a1", res(AGENT), Vec::new());
    let first: Vec<Allocation> = h.delivered().await.into_iter().flatten().collect();
    h.handle.recover(
        "f1",
        "a1",
        first[0].resources.clone(),
        Some(Duration::from_secs(3600)),
    );
    h.handle.suppress("f1", &[]);
    assert!(h.delivered().await.is_empty());
    h.handle.revive("f1", &[]);
    assert_eq!(h.delivered().await.into_iter().flatten().count(), 1);
    h.rt.shutdown();
}

#[tokio::test]
async fn each_run_records_its_latency_and_the_mailbox_depth_is_reported() {
    let h = Harness::start();
    h.handle.add_framework("f1", &roles(&["r"]), &[], true);
    h.delivered().await;
    let count = |h: &Harness| {
        h.rt.metrics()
            .snapshot()
            .get("allocator/mesos/allocation_run_latency_ms/count")
            .copied()
            .unwrap_or(-1.0)
    };
    let before = count(&h);
    // A triggered run and a batch run each record how long they waited.
    h.handle.add_agent("a1", res(AGENT), Vec::new());
    h.delivered().await;
    assert_eq!(count(&h) - before, 1.0);
    h.advance(AllocatorConfig::default().allocation_interval)
        .await;
    assert_eq!(count(&h) - before, 2.0);
    let s = h.rt.metrics().snapshot();
    assert!(s["allocator/mesos/allocation_run_latency_ms/p99"] >= 0.0);
    assert_eq!(
        s["allocator/mesos/event_queue_dispatches"], 0.0,
        "nothing waits now"
    );
    assert_eq!(s["allocator/event_queue_dispatches"], 0.0);
    h.rt.shutdown();
}
