//! The whole isolation suite through actors and handles, as the containerizer will drive
//! it: start the isolators from an `--isolation` flag on a unique `--cgroups_root`,
//! prepare, launch the executor held (so it joins its cgroups before it forks) inside the
//! namespaces asked for, isolate, read usage, clean up; then nothing is left: no cgroup
//! under the root and no process of the container.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use libprocess::{Config, Runtime};
use mesos_isolators::cgroups::destroy;
use mesos_isolators::namespaces::wrap_command;
use mesos_isolators::registry::{start_isolators, IsolationFlags};
use mesos_isolators::{parse_isolation, LaunchInfo};

#[tokio::test]
async fn whole_isolation_suite_leaves_no_cgroup_and_no_process() {
    let Some(base) = v1_or_skip("whole_isolation_suite_leaves_no_cgroup_and_no_process") else {
        return;
    };
    let mut root = TestRoot::new(&base, true);
    let h = root.hierarchy();
    let rt = Runtime::start(Config::local()).expect("runtime");
    let flags = IsolationFlags {
        cgroups: root.config.clone(),
        ..Default::default()
    };
    let specs = parse_isolation(
        "cgroups/cpu,cgroups/mem,cgroups/pids,posix/cpu,namespaces/pid,filesystem/posix,disk/du",
    )
    .expect("parse");
    let handles = start_isolators(&rt, &specs, &flags).expect("start isolators");
    let sandbox = tempfile::tempdir().expect("sandbox");
    let c = container("suite");
    let info = executor(&[("cpus", 0.5), ("mem", 64.0), ("disk", 10.0)]);

    let mut launch = LaunchInfo::default();
    for handle in &handles {
        if let Some(more) = handle
            .prepare(&c, &info, sandbox.path(), None)
            .await
            .expect("prepare")
        {
            launch.merge(more);
        }
    }
    // The executor: a double fork and a plain child, in a new PID namespace.
    let mut executor_cmd = Command::new("sh");
    executor_cmd.args(["-c", "(setsid sleep 300 &); sleep 300 & sleep 300"]);
    let inner = wrap_command(&executor_cmd, &launch.namespaces);
    let mut outer = Command::new("sh");
    outer
        .arg("-c")
        .arg("read _go; exec \"$0\" \"$@\"")
        .arg(inner.get_program())
        .args(inner.get_args());
    let mut held = Held::spawn_command(&mut outer);
    for handle in &handles {
        handle.isolate(&c, held.pid()).await.expect("isolate");
    }
    held.release();

    let freezer = h.container_dir("freezer", &c);
    let mut members = Vec::new();
    assert!(
        poll_until(Duration::from_secs(5), || {
            members = destroy::procs(&freezer);
            members.len() >= 5
        }),
        "unshare, sh and three sleeps expected in the container: {members:?}"
    );
    let cpu = handles[0].usage(&c).await.expect("cgroups/cpu usage");
    assert_eq!(cpu.cpus_limit, Some(0.5));
    let mem = handles[1].usage(&c).await.expect("cgroups/mem usage");
    assert_eq!(mem.mem_limit_bytes, Some(64 * 1024 * 1024));
    let disk = handles[6].usage(&c).await.expect("disk/du usage");
    assert!(disk.disk_used_bytes.is_some());
    // What /monitor/statistics will show: every isolator's fields in one message.
    let mut parts = Vec::new();
    for handle in &handles {
        parts.push(handle.usage(&c).await.expect("usage"));
    }
    let all = mesos_isolators::isolator::merge_statistics(&parts);
    assert_eq!(all.cpus_limit, Some(0.5));
    assert_eq!(all.mem_limit_bytes, Some(64 * 1024 * 1024));
    assert!(all.threads.unwrap_or(0) >= 5, "{all:?}");
    assert!(
        all.disk_used_bytes.is_some() && all.cpus_nr_periods.is_some(),
        "{all:?}"
    );

    // Every isolator watches the container, as the containerizer does; cleanup discards
    // each watch (cgroups/mem's OOM wait included) and no handle keeps an entry.
    let mut watches = Vec::new();
    for handle in &handles {
        let (h, wc) = (handle.clone(), c.clone());
        watches.push(tokio::spawn(async move { h.watch(&wc).await }));
    }
    for handle in &handles {
        // Sent before the cleanup (messages to one isolator arrive in order).
        let mut sent = false;
        for _ in 0..1000 {
            sent = handle.outstanding().await.expect("client") == 1;
            if sent {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(sent, "{} watch not sent", handle.name());
    }
    for handle in &handles {
        handle.cleanup(&c).await.expect("cleanup");
    }
    for watch in watches {
        let result = tokio::time::timeout(Duration::from_secs(10), watch)
            .await
            .expect("the watch ended with the container")
            .expect("join");
        assert!(
            matches!(result, Err(mesos_isolators::HandleError::Discarded { .. })),
            "{result:?}"
        );
    }
    for handle in &handles {
        assert_eq!(
            handle.outstanding().await.expect("client"),
            0,
            "{}",
            handle.name()
        );
    }
    let _ = held.child.wait();
    for pid in &members {
        assert!(
            poll_until(Duration::from_secs(2), || !alive(*pid)),
            "{pid} survived cleanup"
        );
    }
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    rt.shutdown();
}

#[tokio::test]
async fn oom_limitation_reaches_a_watching_handle_through_the_isolator_actor() {
    let Some(base) =
        v1_or_skip("oom_limitation_reaches_a_watching_handle_through_the_isolator_actor")
    else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    root.hierarchy();
    let rt = Runtime::start(Config::local()).expect("runtime");
    let flags = IsolationFlags {
        cgroups: root.config.clone(),
        ..Default::default()
    };
    let handles = start_isolators(&rt, &parse_isolation("cgroups/mem").expect("parse"), &flags)
        .expect("start");
    let mem = &handles[0];
    let c = container("actor-oom");
    mem.prepare(
        &c,
        &executor(&[("mem", 32.0)]),
        std::path::Path::new("/tmp"),
        None,
    )
    .await
    .expect("prepare");
    let mut hog = Held::spawn("exec perl -e '$x = \"x\" x (200*1024*1024); sleep 30'");
    mem.isolate(&c, hog.pid()).await.expect("isolate");
    let watch = {
        let mem = mem.clone();
        let c = c.clone();
        tokio::spawn(async move { mem.watch(&c).await })
    };
    hog.release();
    let limitation = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("a limitation within 20s")
        .expect("join")
        .expect("limitation");
    assert_eq!(
        limitation.reason.task_status_reason(),
        mesos_proto::mesos::task_status::Reason::ContainerLimitationMemory
    );
    assert!(
        limitation.message.contains("MEMORY STATISTICS"),
        "{}",
        limitation.message
    );
    mem.cleanup(&c).await.expect("cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
    rt.shutdown();
}
