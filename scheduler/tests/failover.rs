//! Scheduler failover with a new process: a driver (v0 or v1) given a FrameworkInfo that
//! carries an id takes that framework over from a scheduler that died, instead of
//! registering a new framework. One of our masters in-process, real TCP.

use std::sync::mpsc;
use std::time::Duration;

use mesos_proto::mesos::{FrameworkId, FrameworkInfo, MasterInfo};
use mesos_scheduler::{Driver, DriverHandle, Scheduler};

/// Reports how it was (re-)registered and under which id, then stops (failover: no teardown).
struct Recorder(mpsc::Sender<(&'static str, String)>);

impl Scheduler for Recorder {
    fn registered(&mut self, d: &mut DriverHandle<'_>, id: &FrameworkId, _m: &MasterInfo) {
        let _ = self.0.send(("registered", id.value.clone()));
        d.stop(true);
    }
    fn reregistered(&mut self, d: &mut DriverHandle<'_>, _m: &MasterInfo) {
        let _ = self.0.send(("reregistered", String::new()));
        d.stop(true);
    }
}

fn master() -> mesos_master::MasterHandle {
    let rt = libprocess::Runtime::start(libprocess::Config {
        delegate: Some("master".into()),
        ..libprocess::Config::local()
    })
    .unwrap();
    let flags = mesos_master::Flags::parse_from_args(["mesos-master"]).unwrap();
    mesos_master::master::spawn(&rt, flags).unwrap()
}

fn info(id: Option<&str>) -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "failover".into(),
        id: id.map(|v| FrameworkId { value: v.into() }),
        failover_timeout: Some(3600.0),
        ..Default::default()
    }
}

/// Runs a v0 driver in a runtime of its own (its own "process") until its callback stops it.
async fn run_v0(m: &mesos_master::MasterHandle, id: Option<&str>) -> (&'static str, String) {
    let (tx, rx) = mpsc::channel();
    let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        Driver::run(&rt, m.upid().clone(), info(id), Box::new(Recorder(tx))),
    )
    .await;
    assert!(outcome.is_ok(), "the v0 driver did not register");
    // The scheduler process goes away without unregistering.
    rt.shutdown();
    rx.try_recv().expect("a registration")
}

/// The ids of the master's registered frameworks (from `/master/state`).
fn framework_ids(m: &mesos_master::MasterHandle) -> Vec<String> {
    let (_, body) = mesos_tests::native::http_get(m.address().port(), "/master/state").unwrap();
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_v0_or_v1_scheduler_given_the_framework_id_takes_the_framework_over() {
    let m = master();
    let (how, id) = run_v0(&m, None).await;
    assert_eq!(how, "registered");

    // A new v0 driver process, told the id: re-registered as that framework.
    let (how, _) = run_v0(&m, Some(&id)).await;
    assert_eq!(how, "reregistered");
    assert_eq!(framework_ids(&m), [id.clone()]);

    // A v1 scheduler told the id: subscribed as that framework.
    let (tx, rx) = mpsc::channel();
    let addr = std::net::SocketAddr::V4(m.address());
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        mesos_scheduler::v1::run(addr, info(Some(&id)), Box::new(Recorder(tx))),
    )
    .await;
    assert!(outcome.is_ok(), "the v1 scheduler did not subscribe");
    assert_eq!(rx.try_recv().unwrap(), ("registered", id.clone()));
    assert_eq!(framework_ids(&m), [id.clone()]);
    m.shutdown();
}
