//! A panic in a handler aborts the whole OS process (like a failed `CHECK` in Mesos) instead
//! of leaving it running with a dead actor. The panicking runtime runs in a child OS process:
//! this test binary re-executed with `PANIC_POLICY_CHILD` set.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime};

const CHILD_ENV: &str = "PANIC_POLICY_CHILD";

struct Fragile;

impl Process for Fragile {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw("boom", |_, _, _, body| {
            // A broken invariant on data the handler trusted.
            let n: usize = body.len();
            assert!(n == 0, "handler invariant broken");
        });
    }
}

/// The child's body: a runtime whose handler panics on the first message. Without the abort
/// policy the OS process keeps running (with a dead actor) until the sleep ends.
#[test]
fn child_runtime_with_a_panicking_handler() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rt = Runtime::start(Config::local()).unwrap();
    let fragile = rt.spawn("fragile", Fragile).unwrap();
    let me = rt.upid("sender");
    rt.send(&me, fragile.upid(), "boom", Bytes::from_static(b"x"));
    // A server would keep running; stand in for it for longer than the parent waits.
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_panicking_handler_aborts_the_os_process_promptly() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runtime_with_a_panicking_handler",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child kept running after its handler panicked");
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "child exited successfully: {status}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc_sigabrt()), "status {status}");
    assert!(
        stderr.contains("handler invariant broken"),
        "the panic message is reported: {stderr}"
    );
}

fn libc_sigabrt() -> i32 {
    6
}
