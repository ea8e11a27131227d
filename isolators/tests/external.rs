//! An external isolator: the `example-isolator` binary in its own OS process, reached by
//! UPID over the real libprocess transport.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use libprocess::{Config, Runtime, Upid};
use mesos_isolators::example::ENV_VAR;
use mesos_isolators::{parse_isolation, HandleError, IsolatorHandle, IsolatorSpec};

/// The external isolator process; killed when the test ends.
struct External(Child);

impl Drop for External {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_external(args: &[&str]) -> (External, Upid) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-isolator"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start example-isolator");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read upid");
    let upid = line
        .trim()
        .strip_prefix("isolator ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let upid = Upid::parse(upid).expect("upid");
    (External(child), upid)
}

#[tokio::test]
async fn external_isolator_process_serves_prepare_isolate_usage_cleanup_by_upid() {
    let (_external, upid) = start_external(&[]);
    // Named in --isolation by its UPID.
    let specs = parse_isolation(&format!("posix/cpu,{upid}")).expect("parse");
    assert_eq!(specs[1], IsolatorSpec::External(upid.clone()));
    let agent = Runtime::start(Config::local()).expect("runtime");
    let handle = IsolatorHandle::connect(
        &agent,
        upid.to_string(),
        upid.clone(),
        Duration::from_secs(10),
    )
    .expect("connect");
    let c = container("external");
    let info = handle
        .prepare(&c, &executor(&[("mem", 32.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare")
        .expect("launch info");
    assert_eq!(info.environment.get(ENV_VAR), Some(&c.to_string()));
    let mut child = Held::spawn("sleep 30");
    handle.isolate(&c, child.pid()).await.expect("isolate");
    child.release();
    let mut processes = 0;
    for _ in 0..500 {
        let usage = handle.usage(&c).await.expect("usage");
        assert!(usage.timestamp > 0.0);
        processes = usage.processes.unwrap_or(0);
        if processes == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        processes, 2,
        "sh and sleep, counted by the other OS process"
    );
    handle.cleanup(&c).await.expect("cleanup");
    let err = handle.usage(&c).await.unwrap_err();
    assert!(err.to_string().contains("unknown container"), "{err}");
    agent.shutdown();
}

#[tokio::test]
async fn external_isolator_that_never_answers_yields_a_timeout_error() {
    let (_external, upid) = start_external(&["--mute"]);
    let agent = Runtime::start(Config::local()).expect("runtime");
    let handle = IsolatorHandle::connect(&agent, "mute", upid.clone(), Duration::from_secs(60))
        .expect("connect");
    agent.clock().pause();
    let c = container("mute-external");
    let call = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.isolate(&c, 1).await })
    };
    agent.clock().settle().await;
    agent.clock().advance(Duration::from_secs(61));
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ended")
        .expect("join");
    match result {
        Err(HandleError::Timeout { call, isolator, .. }) => {
            assert_eq!(call, "Isolate");
            assert_eq!(isolator, upid);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    agent.shutdown();
}

#[tokio::test]
async fn an_external_isolator_that_is_not_running_fails_calls_as_disconnected() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let upid = Upid::parse(&format!("example-isolator@127.0.0.1:{port}")).expect("upid");
    let agent = Runtime::start(Config::local()).expect("runtime");
    let handle =
        IsolatorHandle::connect(&agent, "gone", upid, Duration::from_secs(3600)).expect("connect");
    let c = container("not-running");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        handle.prepare(&c, &executor(&[]), Path::new("/tmp"), None),
    )
    .await
    .expect("failed fast, long before the one-hour timeout");
    assert!(
        matches!(
            result,
            Err(HandleError::Disconnected {
                call: "Prepare",
                ..
            })
        ),
        "{result:?}"
    );
    agent.shutdown();
}
