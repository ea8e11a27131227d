//! Our libprocess runtime against GENUINE Apache Mesos 1.11 processes
//! (`../shared/interop/native`, run as child processes in their own process groups).
//!
//! Skipped (passing, with a SKIPPED line) when the shared folder is absent.

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_proto::mesos::scheduler::{self, call::Type};
use mesos_proto::mesos::{internal, Address, FrameworkId, FrameworkInfo, MasterInfo};
use mesos_tests::native::{
    self, established_to, free_port, genuine, start_genuine_master, ChildGuard,
};

fn runtime() -> Runtime {
    let rt = Runtime::start(Config::local()).expect("runtime");
    rt.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
    rt
}

/// Shuts the runtime down however the test ends.
struct RtGuard(Runtime);
impl Drop for RtGuard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

// ---------------------------------------------------------------------------------------
// a. The genuine scheduler driver against our "master".
// ---------------------------------------------------------------------------------------

/// A minimal master: answers SUBSCRIBE with FrameworkRegisteredMessage, reports every Call.
struct FakeMaster {
    tx: mpsc::Sender<(Upid, scheduler::Call)>,
    framework_id: String,
}

impl Process for FakeMaster {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<scheduler::Call>(|me, ctx, from, call| {
            if call.r#type() == Type::Subscribe {
                let me_pid = ctx.pid().clone();
                let hostname = "localhost".to_string();
                let reply = internal::FrameworkRegisteredMessage {
                    framework_id: FrameworkId {
                        value: me.framework_id.clone(),
                    },
                    master_info: MasterInfo {
                        id: "rust-master-under-test".into(),
                        // Network-order bytes read as a little-endian u32 (127.0.0.1 -> 16777343).
                        ip: u32::from_le_bytes(me_pid.ip.octets()),
                        port: u32::from(me_pid.port),
                        pid: Some(me_pid.to_string()),
                        hostname: Some(hostname.clone()),
                        version: Some("1.11.0".into()),
                        address: Some(Address {
                            hostname: Some(hostname),
                            ip: Some(me_pid.ip.to_string()),
                            port: i32::from(me_pid.port),
                        }),
                        ..Default::default()
                    },
                };
                ctx.send(&from, &reply);
            }
            let _ = me.tx.send((from, call));
        });
    }
}

#[test]
fn genuine_driver_subscribe_is_decoded_and_our_registered_reply_is_accepted() {
    let Some(native) =
        genuine("genuine_driver_subscribe_is_decoded_and_our_registered_reply_is_accepted")
    else {
        return;
    };
    let rt = RtGuard(runtime());
    let (tx, rx) = mpsc::channel();
    let framework_id = format!("{}-0000", uuid::Uuid::new_v4());
    let master =
        rt.0.spawn(
            "master",
            FakeMaster {
                tx,
                framework_id: framework_id.clone(),
            },
        )
        .unwrap();
    assert_eq!(master.upid().ip, std::net::Ipv4Addr::LOCALHOST);
    let port = rt.0.address().port();

    let started = Instant::now();
    let mut cmd = Command::new("bash");
    // 1 task, 1 s: no offers ever come, so after 1 s the harness calls stop(false), which
    // sends TEARDOWN, and exits 1.
    cmd.arg(native.join("run-scheduler.sh"))
        .args([format!("127.0.0.1:{port}"), "1".into(), "1".into()])
        .env("NATIVE_FRAMEWORK_USER", "root")
        .env("NATIVE_FRAMEWORK_NAME", "native-interop")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP")
        .env_remove("LIBPROCESS_ADVERTISE_PORT");
    let mut driver = ChildGuard::spawn("genuine-driver", cmd);

    let line = driver
        .wait_for_line(
            "native-scheduler: callback registered",
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| {
            panic!(
                "the genuine driver never called registered(); stdout: {:?}",
                driver.stdout_so_far()
            )
        });
    let registered_after = started.elapsed();
    assert!(
        line.contains(&format!(
            "framework_id={framework_id} master_id=rust-master-under-test master_pid=master@127.0.0.1:{port} master_version=1.11.0"
        )),
        "{line}"
    );

    let (status, stdout) = driver
        .wait(Duration::from_secs(30))
        .expect("the genuine driver did not exit");
    let total = started.elapsed();
    eprintln!(
        "genuine driver: registered after {registered_after:?}, exited ({status}) after {total:?}"
    );
    assert!(
        stdout
            .iter()
            .any(|l| l.contains("0 launched, 0 finished, 0 failed, registered in")),
        "summary: {stdout:?}"
    );
    assert!(
        !stdout.iter().any(|l| l.contains("callback error")),
        "{stdout:?}"
    );

    // What our master saw: SUBSCRIBE (maybe retried before our reply landed), then TEARDOWN
    // carrying the framework id we assigned.
    let mut calls = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !calls
        .iter()
        .any(|(_, c): &(Upid, scheduler::Call)| c.r#type() == Type::Teardown)
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(c) => calls.push(c),
            Err(_) => panic!("no TEARDOWN from the genuine driver; calls: {calls:?}"),
        }
    }
    let (from, sub) = &calls[0];
    assert_eq!(sub.r#type(), Type::Subscribe);
    assert!(from.id.starts_with("scheduler-"), "{from}");
    assert_eq!(from.ip, std::net::Ipv4Addr::LOCALHOST);
    let info: &FrameworkInfo = &sub.subscribe.as_ref().expect("subscribe").framework_info;
    assert_eq!(info.user, "root");
    assert_eq!(info.name, "native-interop");
    assert!(sub.framework_id.is_none());
    let (tfrom, teardown) = calls.last().unwrap();
    assert_eq!(tfrom, from, "the same driver process sends every call");
    assert_eq!(
        teardown.framework_id.as_ref().map(|f| f.value.as_str()),
        Some(framework_id.as_str())
    );
    assert!(calls.iter().all(|(f, _)| f == from));
}

// ---------------------------------------------------------------------------------------
// b. Linking to a genuine master, which then dies.
// ---------------------------------------------------------------------------------------

struct Watcher {
    tx: mpsc::Sender<Upid>,
}

impl Process for Watcher {
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        let _ = self.tx.send(pid.clone());
    }
}

fn start_master(native: &std::path::Path) -> (ChildGuard, u16, Duration) {
    let port = free_port();
    let started = Instant::now();
    let mut master = start_genuine_master(native, port, 120);
    // "serving for" is printed once the master is elected, has recovered its registrar and
    // has registered the harness's placeholder framework: it takes SUBSCRIBEs from then on.
    if master
        .wait_for_line("native-local-cluster: serving for", Duration::from_secs(30))
        .is_none()
    {
        panic!(
            "genuine master did not come up: {:?}",
            master.stdout_so_far()
        );
    }
    if let Err(e) = native::wait_http_ok(port, "/master/health", Duration::from_secs(10)) {
        panic!("genuine master is not healthy: {e}");
    }
    (master, port, started.elapsed())
}

#[test]
fn link_to_genuine_master_reports_exited_when_it_is_killed() {
    let Some(native) = genuine("link_to_genuine_master_reports_exited_when_it_is_killed") else {
        return;
    };
    let (mut master, port, took) = start_master(&native);
    eprintln!("genuine master healthy after {took:?}");
    let master_upid = Upid::parse(&format!("master@127.0.0.1:{port}")).unwrap();

    let rt = RtGuard(runtime());
    let (tx, rx) = mpsc::channel();
    let watcher = rt.0.spawn("watcher", Watcher { tx }).unwrap();
    let m = master_upid.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&m));

    // The link's connection must be up before the master dies (else this would only test a
    // refused connect).
    assert!(
        mesos_tests::poll_until(Duration::from_secs(5), || established_to(port)),
        "our link never connected to the genuine master"
    );
    // And still up a moment later: no exited within 200 ms, the genuine side keeps it open.
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "exited before the master was killed"
    );
    assert!(established_to(port));

    let killed = Instant::now();
    master.kill();
    let who = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("exited() was not called within 5 s of SIGKILL");
    eprintln!("exited() {:?} after SIGKILL", killed.elapsed());
    assert_eq!(who, master_upid);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "exited() reported twice"
    );

    // Linking again to the dead master reports exited again (connection refused).
    let m = master_upid.clone();
    watcher.dispatch("link", move |_, ctx| ctx.link(&m));
    let again = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("relink to a dead master: no exited()");
    assert_eq!(again, master_upid);
}

// ---------------------------------------------------------------------------------------
// c. The genuine master sends to us.
// ---------------------------------------------------------------------------------------

struct RustScheduler {
    tx: mpsc::Sender<(Upid, internal::FrameworkRegisteredMessage)>,
}

impl Process for RustScheduler {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<internal::FrameworkRegisteredMessage>(|me, _ctx, from, msg| {
            let _ = me.tx.send((from, msg));
        });
    }
}

#[test]
fn genuine_master_registers_our_scheduler_and_connects_back_to_us() {
    let Some(native) = genuine("genuine_master_registers_our_scheduler_and_connects_back_to_us")
    else {
        return;
    };
    let (_master, port, _) = start_master(&native);
    let master_upid = Upid::parse(&format!("master@127.0.0.1:{port}")).unwrap();

    let rt = RtGuard(runtime());
    let (tx, rx) = mpsc::channel();
    let id = format!("scheduler-{}", uuid::Uuid::new_v4());
    let sched = rt.0.spawn(id.clone(), RustScheduler { tx }).unwrap();
    let m = master_upid.clone();
    sched.dispatch("subscribe", move |_, ctx| {
        ctx.link(&m);
        let call = scheduler::Call {
            r#type: Some(Type::Subscribe as i32),
            subscribe: Some(scheduler::call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "root".into(),
                    name: "rust-interop".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        ctx.send(&m, &call);
    });

    let (from, reg) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no FrameworkRegisteredMessage from the genuine master");
    assert_eq!(from, master_upid);
    assert_eq!(from.to_string(), format!("master@127.0.0.1:{port}"));
    let mi = &reg.master_info;
    assert_eq!(mi.pid.as_deref(), Some(master_upid.to_string().as_str()));
    assert_eq!(mi.ip, 16777343);
    assert_eq!(mi.port, u32::from(port));
    assert_eq!(mi.version.as_deref(), Some("1.11.0"));
    assert_eq!(
        mi.address.as_ref().and_then(|a| a.ip.as_deref()),
        Some("127.0.0.1")
    );
    assert!(!reg.framework_id.value.is_empty());

    // The genuine master lists the framework as active, at our scheduler's pid.
    let (status, body) = native::http_get(port, "/master/state").expect("GET /master/state");
    assert_eq!(status, 200);
    let state = String::from_utf8_lossy(&body);
    assert!(
        state.contains(&format!("\"id\":\"{}\"", reg.framework_id.value)),
        "{state}"
    );
    assert!(state.contains("\"name\":\"rust-interop\""), "{state}");
    assert!(
        state.contains(&format!("\"pid\":\"{}\"", sched.upid())),
        "{state}"
    );

    // Leave cleanly: TEARDOWN.
    let m = master_upid.clone();
    let fid = reg.framework_id.clone();
    sched.dispatch("teardown", move |_, ctx| {
        let call = scheduler::Call {
            framework_id: Some(fid),
            r#type: Some(Type::Teardown as i32),
            ..Default::default()
        };
        ctx.send(&m, &call);
    });
}
