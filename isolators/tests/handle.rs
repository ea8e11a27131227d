//! The isolator protocol through handles: an in-process isolator answering every call,
//! errors carried back, timeouts on the paused libprocess clock, a lost isolator, and
//! garbage that must not crash an isolator. External OS processes: `external.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use libprocess::{Config, Ctx, Matcher, Process, Runtime};
use mesos_isolators::example::{ExampleIsolator, ENV_VAR};
use mesos_isolators::protocol::{CALL_KINDS, MESSAGE_PREFIX};
use mesos_isolators::registry::{start_isolators, IsolationFlags};
use mesos_isolators::{parse_isolation, HandleError, IsolatorHandle};

fn runtime() -> Runtime {
    Runtime::start(Config::local()).expect("runtime")
}

/// Takes isolator calls and never answers (a hung isolator).
struct Mute;
impl Process for Mute {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for kind in CALL_KINDS {
            ctx.install_raw(&format!("{MESSAGE_PREFIX}{kind}"), |_, _, _, _| {});
        }
    }
}

#[tokio::test]
async fn in_process_isolator_answers_every_call_through_its_handle() {
    let rt = runtime();
    let handle =
        IsolatorHandle::spawn_local(&rt, ExampleIsolator::default(), Duration::from_secs(5))
            .expect("spawn");
    let c = container("inproc");
    let info = handle
        .prepare(&c, &executor(&[("cpus", 1.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare")
        .expect("launch info");
    assert_eq!(info.environment.get(ENV_VAR), Some(&c.to_string()));
    let mut child = Held::spawn("sleep 30 & sleep 30");
    handle.isolate(&c, child.pid()).await.expect("isolate");
    child.release();
    let mut processes = 0;
    for _ in 0..500 {
        processes = handle
            .usage(&c)
            .await
            .expect("usage")
            .processes
            .unwrap_or(0);
        if processes == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(processes, 3, "sh and two sleeps");
    handle.update(&c, &[]).await.expect("update");
    handle.cleanup(&c).await.expect("cleanup");
    // The isolator's own error travels back with the call's name.
    match handle.usage(&c).await {
        Err(HandleError::Isolator { call, message, .. }) => {
            assert_eq!(call, "Usage");
            assert!(message.contains("unknown container"), "{message}");
        }
        other => panic!("expected an isolator error, got {other:?}"),
    }
    rt.shutdown();
}

#[tokio::test]
async fn a_call_not_answered_within_the_timeout_fails_with_a_timeout_error() {
    let agent = runtime();
    let isolator_rt = runtime();
    let mute = isolator_rt.spawn("mute-isolator", Mute).expect("spawn");
    let handle =
        IsolatorHandle::connect(&agent, "mute", mute.upid().clone(), Duration::from_secs(30))
            .expect("connect");
    let arrived = isolator_rt
        .filters()
        .expect(Matcher::message(format!("{MESSAGE_PREFIX}Prepare")));
    agent.clock().pause();
    let c = container("mute");
    let call = {
        let handle = handle.clone();
        let c = c.clone();
        tokio::spawn(async move {
            handle
                .prepare(&c, &executor(&[]), Path::new("/tmp"), None)
                .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), arrived)
        .await
        .expect("the call reached the isolator")
        .expect("filter");
    agent.clock().advance(Duration::from_secs(29));
    agent.clock().settle().await;
    assert!(!call.is_finished(), "timed out early");
    agent.clock().advance(Duration::from_secs(2));
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ended")
        .expect("join");
    match result {
        Err(HandleError::Timeout {
            call,
            after,
            isolator,
        }) => {
            assert_eq!(call, "Prepare");
            assert_eq!(after, Duration::from_secs(30));
            assert_eq!(&isolator, mute.upid());
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    agent.shutdown();
    isolator_rt.shutdown();
}

#[tokio::test]
async fn a_terminated_isolator_fails_outstanding_calls_as_disconnected() {
    let rt = runtime();
    let mute = rt.spawn("mute-isolator", Mute).expect("spawn");
    let handle = IsolatorHandle::connect(&rt, "mute", mute.upid().clone(), Duration::from_secs(30))
        .expect("connect");
    let c = container("gone");
    let call = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.watch(&c).await })
    };
    rt.clock().settle().await;
    mute.terminate();
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ended")
        .expect("join");
    assert!(
        matches!(result, Err(HandleError::Disconnected { call: "Watch", .. })),
        "{result:?}"
    );
    rt.shutdown();
}

#[tokio::test]
async fn garbage_and_mismatched_bodies_are_dropped_and_the_isolator_keeps_serving() {
    let rt = runtime();
    let handle =
        IsolatorHandle::spawn_local(&rt, ExampleIsolator::default(), Duration::from_secs(5))
            .expect("spawn");
    let target = rt.upid("example-processes-isolator(1)");
    let sender = rt.upid("nobody");
    rt.send(
        &sender,
        &target,
        &format!("{MESSAGE_PREFIX}Prepare"),
        Bytes::from_static(b"\xc1garbage"),
    );
    // A valid Cleanup body under the Prepare name.
    let body = mesos_isolators::protocol::encode(&mesos_isolators::protocol::Request {
        id: 1,
        call: mesos_isolators::protocol::Call::Cleanup {
            container_id: container("x"),
        },
    })
    .expect("encode");
    rt.send(
        &sender,
        &target,
        &format!("{MESSAGE_PREFIX}Prepare"),
        Bytes::from(body),
    );
    rt.clock().settle().await;
    let dropped = rt
        .metrics()
        .counter("isolator/messages_dropped_invalid")
        .get();
    assert_eq!(dropped, 1);
    let c = container("after-garbage");
    handle
        .prepare(&c, &executor(&[]), Path::new("/tmp"), None)
        .await
        .expect("still serving");
    rt.shutdown();
}

#[tokio::test]
async fn isolation_flag_starts_builtins_and_connects_external_upids() {
    let rt = runtime();
    let ext = rt.spawn("outside", Mute).expect("spawn");
    let flag = format!(
        "posix/cpu,posix/mem,disk/du,namespaces/pid,filesystem/posix,{}",
        ext.upid()
    );
    let specs = parse_isolation(&flag).expect("parse");
    let handles = start_isolators(&rt, &specs, &IsolationFlags::default()).expect("start");
    let names: Vec<&str> = handles.iter().map(|h| h.name()).collect();
    let ext_name = ext.upid().to_string();
    assert_eq!(
        names,
        vec![
            "posix/cpu",
            "posix/mem",
            "disk/du",
            "namespaces/pid",
            "filesystem/posix",
            ext_name.as_str()
        ]
    );
    let c = container("flag");
    let launch = handles[3]
        .prepare(&c, &executor(&[]), Path::new("/tmp"), None)
        .await
        .expect("prepare")
        .expect("namespaces/pid asks for namespaces");
    assert_eq!(
        launch.namespaces,
        vec![
            mesos_isolators::Namespace::Pid,
            mesos_isolators::Namespace::Mount
        ]
    );
    rt.shutdown();
}

#[tokio::test]
async fn isolation_with_cgroups_on_a_missing_hierarchy_fails_at_start_naming_path_and_flag() {
    let rt = runtime();
    let flags = IsolationFlags {
        cgroups: mesos_isolators::cgroups::CgroupsConfig {
            hierarchy: "/nonexistent/cgroup".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let specs = parse_isolation("posix/cpu,cgroups/mem").expect("parse");
    let err = match start_isolators(&rt, &specs, &flags) {
        Ok(_) => panic!("started cgroups/mem without a hierarchy"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("/nonexistent/cgroup"), "{err}");
    assert!(err.contains("--cgroups_hierarchy"), "{err}");
    rt.shutdown();
}

#[tokio::test]
async fn a_response_from_a_process_other_than_the_isolator_is_ignored() {
    let rt = runtime();
    let mute = rt.spawn("mute-isolator", Mute).expect("spawn");
    let handle = IsolatorHandle::connect(&rt, "mute", mute.upid().clone(), Duration::from_secs(30))
        .expect("connect");
    rt.clock().pause();
    let c = container("spoof");
    let call = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.cleanup(&c).await })
    };
    rt.clock().settle().await;
    // Another process answers the call's id (the first call of this client is id 1).
    let spoof = mesos_isolators::protocol::encode(&mesos_isolators::protocol::Response {
        id: 1,
        result: Ok(mesos_isolators::protocol::Reply::Done),
    })
    .expect("encode");
    rt.send(
        &rt.upid("impostor"),
        &rt.upid("isolator-client(1)"),
        mesos_isolators::protocol::RESPONSE,
        Bytes::from(spoof),
    );
    rt.clock().settle().await;
    assert!(!call.is_finished(), "a spoofed response completed the call");
    rt.clock().advance(Duration::from_secs(31));
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("ended")
        .expect("join");
    assert!(
        matches!(result, Err(HandleError::Timeout { .. })),
        "{result:?}"
    );
    rt.shutdown();
}

/// Mesos discards the watch of a cleaned-up container: each one ends `Discarded`, and
/// neither the handle nor the isolator process nor the isolator keeps an entry for it
/// (before, every finished container left one pending watch on both sides).
#[tokio::test]
async fn cleanup_discards_pending_watches_and_leaves_no_entry_in_handle_process_or_isolator() {
    let rt = runtime();
    // posix/mem enforcing: its watch is a polling loop that must stop with the container.
    let mem = mesos_isolators::posix::PosixMem::new(true, Duration::from_millis(20));
    let pid = mesos_isolators::IsolatorProcess::spawn(&rt, mem).expect("spawn");
    let handle =
        IsolatorHandle::connect(&rt, "posix/mem", pid.upid().clone(), Duration::from_secs(5))
            .expect("connect");
    let mut watches = Vec::new();
    for i in 0..10 {
        let c = container(&format!("discard-{i}"));
        handle
            .prepare(&c, &executor(&[("mem", 64.0)]), Path::new("/tmp"), None)
            .await
            .expect("prepare");
        let (h, wc) = (handle.clone(), c.clone());
        watches.push((c, tokio::spawn(async move { h.watch(&wc).await })));
    }
    rt.clock().settle().await;
    assert_eq!(handle.outstanding().await.expect("client"), 10);
    let pending = pid.call("watches", |p, _| p.pending_watches()).await;
    assert_eq!(pending.expect("process"), 10);
    for (c, watch) in watches {
        handle.cleanup(&c).await.expect("cleanup");
        let result = tokio::time::timeout(Duration::from_secs(10), watch)
            .await
            .expect("the watch ended with the container")
            .expect("join");
        assert!(
            matches!(&result, Err(HandleError::Discarded { container, .. }) if *container == c),
            "{result:?}"
        );
    }
    rt.clock().settle().await;
    assert_eq!(handle.outstanding().await.expect("client"), 0);
    let (containers, pending) = pid
        .call("tables", |p, _| {
            use mesos_isolators::Isolator;
            (p.isolator().containers(), p.pending_watches())
        })
        .await
        .expect("process");
    assert!(containers.is_empty(), "{containers:?}");
    assert_eq!(pending, 0);
    rt.shutdown();
}

/// An isolator that never answers (a hung external one) still cannot make the handle
/// keep a watch: starting the container's cleanup discards it on the client side.
#[tokio::test]
async fn a_watch_is_discarded_by_cleanup_even_when_the_isolator_never_answers() {
    let rt = runtime();
    let mute = rt.spawn("mute-isolator", Mute).expect("spawn");
    let handle = IsolatorHandle::connect(&rt, "mute", mute.upid().clone(), Duration::from_secs(30))
        .expect("connect");
    rt.clock().pause();
    let c = container("mute-watch");
    let watch = {
        let (h, c) = (handle.clone(), c.clone());
        tokio::spawn(async move { h.watch(&c).await })
    };
    rt.clock().settle().await;
    let cleanup = {
        let (h, c) = (handle.clone(), c.clone());
        tokio::spawn(async move { h.cleanup(&c).await })
    };
    let result = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .expect("discarded without any answer")
        .expect("join");
    assert!(
        matches!(result, Err(HandleError::Discarded { .. })),
        "{result:?}"
    );
    assert_eq!(
        handle.outstanding().await.expect("client"),
        1,
        "the cleanup"
    );
    rt.clock().advance(Duration::from_secs(31));
    let cleaned = tokio::time::timeout(Duration::from_secs(10), cleanup)
        .await
        .expect("ended")
        .expect("join");
    assert!(
        matches!(cleaned, Err(HandleError::Timeout { .. })),
        "{cleaned:?}"
    );
    assert_eq!(handle.outstanding().await.expect("client"), 0);
    rt.shutdown();
}
