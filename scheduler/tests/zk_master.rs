//! `--master=zk://…` in the scheduler library, against a real ZooKeeper (Debian's package)
//! where a contender publishes a MasterInfo exactly as a genuine master does. Skipped where
//! ZooKeeper is not installed.

use std::time::Duration;

use mesos_proto::mesos::MasterInfo;
use mesos_scheduler::detection::detect_leader;
use mesos_scheduler::master::{parse_master, MasterError};
use mesos_tests::zookeeper::ZooKeeperServer;
use mesos_zookeeper::{Candidacy, Contender, SessionOptions, ZkUrl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_master_url_resolves_to_the_leading_masters_pid() {
    let Some(zk) = ZooKeeperServer::start("scheduler_zk_master") else {
        return;
    };
    let spec = zk.url("/mesos");
    let url = ZkUrl::parse(&spec).unwrap();
    // No leader yet: a clear error after the timeout, not a hang.
    let none = tokio::task::spawn_blocking({
        let url = url.clone();
        move || detect_leader(&url, Duration::from_millis(500))
    })
    .await
    .unwrap();
    assert!(matches!(none, Err(MasterError::NoLeader { .. })));

    let info = MasterInfo {
        id: "m1".into(),
        ip: 16777343,
        port: 5999,
        pid: Some("master@127.0.0.1:5999".into()),
        ..Default::default()
    };
    let contender = Contender::start(url, info, SessionOptions::default());
    let mut rx = contender.watch();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(Candidacy::is_leading))
        .await
        .unwrap()
        .unwrap();
    let pid = tokio::task::spawn_blocking(move || parse_master(&spec))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pid.to_string(), "master@127.0.0.1:5999");
}

/// Records who the driver (re-)registered with.
struct Recorder(std::sync::mpsc::Sender<String>);

impl mesos_scheduler::Scheduler for Recorder {
    fn registered(
        &mut self,
        _d: &mut mesos_scheduler::DriverHandle<'_>,
        _id: &mesos_proto::mesos::FrameworkId,
        master: &MasterInfo,
    ) {
        let _ = self.0.send(master.id.clone());
    }
    fn reregistered(&mut self, d: &mut mesos_scheduler::DriverHandle<'_>, master: &MasterInfo) {
        let _ = self.0.send(master.id.clone());
        d.stop(true);
    }
}

fn zk_master(url: &str) -> mesos_master::MasterHandle {
    let rt = libprocess::Runtime::start(libprocess::Config {
        delegate: Some("master".into()),
        ..libprocess::Config::local()
    })
    .unwrap();
    let flags = mesos_master::Flags::parse_from_args([
        "mesos-master",
        "--zk",
        url,
        "--quorum",
        "1",
        "--registry",
        "replicated_log",
    ])
    .unwrap();
    mesos_master::master::spawn(&rt, flags).unwrap()
}

fn elected(m: &mesos_master::MasterHandle) -> bool {
    m.runtime.metrics().snapshot().get("master/elected") == Some(&1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_driver_following_zk_resubscribes_to_the_next_leader_when_its_master_dies() {
    let Some(zk) = ZooKeeperServer::start("scheduler_zk_failover") else {
        return;
    };
    let spec = zk.url("/mesos");
    let a = zk_master(&spec);
    assert!(mesos_tests::poll_until(
        Duration::from_secs(20),
        || elected(&a)
    ));
    let b = zk_master(&spec);

    let url = ZkUrl::parse(&spec).unwrap();
    let first = tokio::task::spawn_blocking({
        let url = url.clone();
        move || detect_leader(&url, Duration::from_secs(20))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&first, a.upid());
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
    let info = mesos_proto::mesos::FrameworkInfo {
        user: "test".into(),
        name: "zk-follower".into(),
        failover_timeout: Some(60.0),
        ..Default::default()
    };
    let run = tokio::spawn({
        let rt = rt.clone();
        async move {
            mesos_scheduler::Driver::run_following(
                &rt,
                first,
                Some(url),
                info,
                Box::new(Recorder(tx)),
            )
            .await
        }
    });
    let with_a = tokio::task::spawn_blocking({
        move || {
            let got = rx.recv_timeout(Duration::from_secs(20));
            (got, rx)
        }
    })
    .await
    .unwrap();
    assert_eq!(with_a.0.unwrap(), a.info.id);

    a.shutdown();
    assert!(mesos_tests::poll_until(
        Duration::from_secs(30),
        || elected(&b)
    ));
    let rx = with_a.1;
    let with_b = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        with_b.unwrap(),
        b.info.id,
        "re-registered with the new leader"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), run).await;
    assert!(matches!(
        outcome,
        Ok(Ok(Ok(mesos_scheduler::driver::Outcome::Stopped)))
    ));
    rt.shutdown();
    b.shutdown();
}

/// Records every subscription of a v1 framework; stops (failing over) at the second.
struct V1Recorder(std::sync::mpsc::Sender<String>, usize);

impl mesos_scheduler::Scheduler for V1Recorder {
    fn registered(
        &mut self,
        d: &mut mesos_scheduler::DriverHandle<'_>,
        _id: &mesos_proto::mesos::FrameworkId,
        master: &MasterInfo,
    ) {
        let _ = self.0.send(master.id.clone());
        self.1 += 1;
        if self.1 == 2 {
            d.stop(true);
        }
    }
}

type V1Run =
    std::thread::JoinHandle<Result<mesos_scheduler::driver::Outcome, mesos_scheduler::v1::V1Error>>;

/// Two masters in ZooKeeper at `spec`, `a` elected first.
fn two_masters(spec: &str) -> (mesos_master::MasterHandle, mesos_master::MasterHandle) {
    let a = zk_master(spec);
    assert!(mesos_tests::poll_until(
        Duration::from_secs(20),
        || elected(&a)
    ));
    (a, zk_master(spec))
}

/// A v1 framework following `spec` from `start`, on a thread of its own (as
/// `framework::run` runs it); the ids of the masters it subscribes to arrive on the
/// receiver. Returns once it has subscribed to `expected`.
async fn v1_follower(
    spec: &str,
    start: std::net::SocketAddr,
    name: &str,
    expected: &str,
) -> (V1Run, std::sync::mpsc::Receiver<String>) {
    let url = ZkUrl::parse(spec).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let info = mesos_proto::mesos::FrameworkInfo {
        user: "test".into(),
        name: name.into(),
        failover_timeout: Some(60.0),
        ..Default::default()
    };
    let run = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(mesos_scheduler::v1::run_following(
                start,
                Some(url),
                info,
                Box::new(V1Recorder(tx, 0)),
            ))
    });
    let (first, rx) =
        tokio::task::spawn_blocking(move || (rx.recv_timeout(Duration::from_secs(20)), rx))
            .await
            .unwrap();
    assert_eq!(first.unwrap(), expected);
    (run, rx)
}

/// The follower subscribes to `expected` next, then stops on its own.
async fn v1_follower_moves_to(run: V1Run, rx: std::sync::mpsc::Receiver<String>, expected: &str) {
    let second = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(90)))
        .await
        .unwrap();
    assert_eq!(second.unwrap(), expected, "subscribed to the new leader");
    let outcome = tokio::task::spawn_blocking(move || run.join())
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        Ok(Ok(mesos_scheduler::driver::Outcome::Stopped))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_framework_following_zk_resubscribes_to_the_next_leader_when_its_master_dies() {
    let Some(zk) = ZooKeeperServer::start("scheduler_v1_zk_failover") else {
        return;
    };
    let spec = zk.url("/mesos");
    let (a, b) = two_masters(&spec);
    // Start at the standby: its 307 leads to a.
    let (run, rx) = v1_follower(&spec, b.upid().socket_addr(), "zk-v1-follower", &a.info.id).await;
    a.shutdown();
    assert!(mesos_tests::poll_until(
        Duration::from_secs(30),
        || elected(&b)
    ));
    v1_follower_moves_to(run, rx, &b.info.id).await;
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_after_losing_the_leader_waits_until_zookeeper_names_another() {
    let Some(zk) = ZooKeeperServer::start("scheduler_zk_new_leader") else {
        return;
    };
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let info = |port: u32| MasterInfo {
        id: format!("m{port}"),
        ip: 16777343,
        port,
        pid: Some(format!("master@127.0.0.1:{port}")),
        ..Default::default()
    };
    let a = Contender::start(url.clone(), info(5998), SessionOptions::default());
    let mut rx = a.watch();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(Candidacy::is_leading))
        .await
        .unwrap()
        .unwrap();
    let lost = libprocess::Upid::parse("master@127.0.0.1:5998").unwrap();
    // The dead leader's node is still there: the lookup must not answer with it.
    let lookup = tokio::task::spawn_blocking({
        let url = url.clone();
        move || mesos_scheduler::detection::detect_new_leader(&url, Duration::from_secs(20), &lost)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!lookup.is_finished(), "answered with the lost leader");
    let b = Contender::start(url, info(5997), SessionOptions::default());
    a.withdraw();
    let found = tokio::time::timeout(Duration::from_secs(20), lookup)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(found.to_string(), "master@127.0.0.1:5997");
    drop(b);
}

fn frameworks_active(m: &mesos_master::MasterHandle) -> f64 {
    m.runtime
        .metrics()
        .snapshot()
        .get("master/frameworks_active")
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_execute_with_a_zk_master_follows_the_next_leader_when_its_master_dies() {
    let Some(zk) = ZooKeeperServer::start("scheduler_execute_follows") else {
        return;
    };
    let spec = zk.url("/mesos");
    let a = zk_master(&spec);
    assert!(mesos_tests::poll_until(
        Duration::from_secs(20),
        || elected(&a)
    ));
    let b = zk_master(&spec);
    // No agent: the framework just stays subscribed, waiting for offers.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mesos-execute"));
    cmd.args([
        format!("--master={spec}"),
        "--name=follower".into(),
        "--command=true".into(),
    ]);
    let _execute = mesos_tests::native::ChildGuard::spawn("mesos-execute", cmd);
    assert!(
        mesos_tests::poll_until(Duration::from_secs(30), || frameworks_active(&a) == 1.0),
        "mesos-execute did not subscribe to the leader"
    );
    a.shutdown();
    assert!(
        mesos_tests::poll_until(Duration::from_secs(60), || elected(&b)
            && frameworks_active(&b) == 1.0),
        "mesos-execute did not follow the next leader"
    );
    b.shutdown();
}

/// Expires `m`'s ZooKeeper session: another client attaches to it, then closes it.
async fn expire_session(m: &mesos_master::MasterHandle, zk: &ZooKeeperServer) {
    let session = m
        .pid
        .call("zk_session", |m, _| m.zk_session())
        .await
        .unwrap()
        .expect("a session");
    zk.expire_session(session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_driver_follows_the_next_leader_when_its_master_is_demoted_without_dying() {
    let Some(zk) = ZooKeeperServer::start("scheduler_zk_demoted") else {
        return;
    };
    let spec = zk.url("/mesos");
    let a = zk_master(&spec);
    assert!(mesos_tests::poll_until(
        Duration::from_secs(20),
        || elected(&a)
    ));
    let b = zk_master(&spec);
    let url = ZkUrl::parse(&spec).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = libprocess::Runtime::start(libprocess::Config::local()).unwrap();
    let info = mesos_proto::mesos::FrameworkInfo {
        user: "test".into(),
        name: "zk-demotion-follower".into(),
        failover_timeout: Some(60.0),
        ..Default::default()
    };
    let run = tokio::spawn({
        let (rt, master) = (rt.clone(), a.upid().clone());
        async move {
            mesos_scheduler::Driver::run_following(
                &rt,
                master,
                Some(url),
                info,
                Box::new(Recorder(tx)),
            )
            .await
        }
    });
    let (first, rx) =
        tokio::task::spawn_blocking(move || (rx.recv_timeout(Duration::from_secs(20)), rx))
            .await
            .unwrap();
    assert_eq!(first.unwrap(), a.info.id);

    // a loses its session and demotes itself; it stays up, so the driver's connection to
    // it never breaks: only following ZooKeeper takes the framework to b.
    expire_session(&a, &zk).await;
    let second = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        second.unwrap(),
        b.info.id,
        "re-registered with the new leader"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), run).await;
    assert!(matches!(
        outcome,
        Ok(Ok(Ok(mesos_scheduler::driver::Outcome::Stopped)))
    ));
    rt.shutdown();
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_framework_follows_the_next_leader_when_its_master_is_demoted_and_ends_the_stream() {
    let Some(zk) = ZooKeeperServer::start("scheduler_v1_zk_demoted") else {
        return;
    };
    let spec = zk.url("/mesos");
    let (a, b) = two_masters(&spec);
    let (run, rx) = v1_follower(&spec, a.upid().socket_addr(), "zk-v1-demotion", &a.info.id).await;
    // a demotes itself and ends the event stream; the framework finds b.
    expire_session(&a, &zk).await;
    v1_follower_moves_to(run, rx, &b.info.id).await;
    a.shutdown();
    b.shutdown();
}
