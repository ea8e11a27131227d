//! cgroups v1 against the real kernel: limits written as Mesos writes them, OOM reported
//! as a memory limitation, CFS throttling, and cleanup that leaves no process and no
//! cgroup. Each test has its own `--cgroups_root` and checks it is empty at the end.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use mesos_isolators::cgroups::{CpuIsolator, Hierarchy, MemIsolator, PidsIsolator};
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::{Isolator, LimitationReason};

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

const MB: u64 = 1024 * 1024;

#[tokio::test]
async fn memory_hog_is_oom_killed_and_reported_as_a_memory_limitation() {
    let Some(base) = v1_or_skip("memory_hog_is_oom_killed_and_reported_as_a_memory_limitation")
    else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    let h = root.hierarchy();
    let mut iso = MemIsolator::new(h.clone()).expect("cgroups/mem");
    let c = container("oom");
    iso.prepare(&c, &executor(&[("mem", 32.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    // 200 MB written byte by byte: far past the 32 MB hard limit.
    let mut hog = Held::spawn("exec perl -e '$x = \"x\" x (200*1024*1024); sleep 30'");
    iso.isolate(&c, hog.pid()).await.expect("isolate");
    let watch = iso.watch(&c);
    hog.release();
    let limitation = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("an OOM within 20s")
        .expect("a limitation");
    assert_eq!(limitation.reason, LimitationReason::Memory);
    assert_eq!(
        limitation.reason.task_status_reason() as i32,
        8,
        "REASON_CONTAINER_LIMITATION_MEMORY"
    );
    assert!(
        limitation
            .message
            .starts_with("Memory limit exceeded: Requested: 32MB"),
        "{}",
        limitation.message
    );
    assert_eq!(limitation.resources, vec![scalar_resource("mem", 32.0)]);
    // The kernel killed the hog.
    let status = hog.child.wait().expect("wait");
    assert!(!status.success(), "the hog survived its memory limit");
    iso.cleanup(&c).await.expect("cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

#[tokio::test]
async fn memory_limits_follow_mesos_soft_always_hard_only_upwards() {
    let Some(base) = v1_or_skip("memory_limits_follow_mesos_soft_always_hard_only_upwards") else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    let h = root.hierarchy();
    let mut iso = MemIsolator::new(h.clone()).expect("cgroups/mem");
    let c = container("memlimits");
    // Below Mesos's 32 MB minimum: raised to it.
    iso.prepare(&c, &executor(&[("mem", 8.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    let dir = h.container_dir("memory", &c);
    assert_eq!(read(&dir, "memory.limit_in_bytes"), (32 * MB).to_string());
    assert_eq!(
        read(&dir, "memory.soft_limit_in_bytes"),
        (32 * MB).to_string()
    );
    iso.update(&c, &[scalar_resource("mem", 128.0)])
        .await
        .expect("raise");
    assert_eq!(read(&dir, "memory.limit_in_bytes"), (128 * MB).to_string());
    iso.update(&c, &[scalar_resource("mem", 64.0)])
        .await
        .expect("lower");
    assert_eq!(
        read(&dir, "memory.limit_in_bytes"),
        (128 * MB).to_string(),
        "hard limit lowered"
    );
    assert_eq!(
        read(&dir, "memory.soft_limit_in_bytes"),
        (64 * MB).to_string()
    );
    let err = iso
        .update(&c, &[scalar_resource("cpus", 1.0)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No memory resource"), "{err}");
    let usage = iso.usage(&c).await.expect("usage");
    assert_eq!(usage.mem_limit_bytes, Some(128 * MB));
    assert_eq!(usage.mem_soft_limit_bytes, Some(64 * MB));
    iso.cleanup(&c).await.expect("cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

#[tokio::test]
async fn cpu_shares_and_cfs_quota_are_set_and_a_cpu_hog_is_throttled() {
    let Some(base) = v1_or_skip("cpu_shares_and_cfs_quota_are_set_and_a_cpu_hog_is_throttled")
    else {
        return;
    };
    let mut root = TestRoot::new(&base, true);
    let h = root.hierarchy();
    let mut iso = CpuIsolator::new(h.clone()).expect("cgroups/cpu");
    let c = container("cpuhog");
    iso.prepare(&c, &executor(&[("cpus", 0.2)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    let dir = h.container_dir("cpu", &c);
    assert_eq!(read(&dir, "cpu.shares"), "204");
    assert_eq!(read(&dir, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&dir, "cpu.cfs_quota_us"), "20000");
    iso.update(&c, &[scalar_resource("cpus", 0.5)])
        .await
        .expect("update");
    assert_eq!(read(&dir, "cpu.shares"), "512");
    assert_eq!(read(&dir, "cpu.cfs_quota_us"), "50000");
    let mut hog = Held::spawn("while :; do :; done");
    iso.isolate(&c, hog.pid()).await.expect("isolate");
    hog.release();
    let mut usage = iso.usage(&c).await.expect("usage");
    let throttled = poll_until(Duration::from_secs(10), || {
        usage = futures::executor::block_on(iso.usage(&c)).expect("usage");
        usage.cpus_nr_throttled.unwrap_or(0) >= 3
    });
    assert!(throttled, "no throttling: {usage:?}");
    assert!(usage.cpus_nr_periods.unwrap_or(0) >= usage.cpus_nr_throttled.unwrap_or(0));
    assert!(usage.cpus_throttled_time_secs.unwrap_or(0.0) > 0.0);
    assert_eq!(usage.cpus_limit, Some(0.5));
    // Used cpu stays within the quota (+ margin) over the periods seen.
    let periods = usage.cpus_nr_periods.unwrap_or(1).max(1) as f64;
    let used =
        usage.cpus_user_time_secs.unwrap_or(0.0) + usage.cpus_system_time_secs.unwrap_or(0.0);
    assert!(
        used <= periods * 0.1 * 0.5 + 0.1,
        "used {used}s in {periods} periods of 100ms at 0.5 cpus"
    );
    iso.cleanup(&c).await.expect("cleanup");
    assert!(!alive(hog.pid() as i32), "the hog survived cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

#[tokio::test]
async fn cleanup_kills_double_forked_and_setsid_processes_and_removes_every_cgroup() {
    let Some(base) =
        v1_or_skip("cleanup_kills_double_forked_and_setsid_processes_and_removes_every_cgroup")
    else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    let h = root.hierarchy();
    let mut cpu = CpuIsolator::new(h.clone()).expect("cgroups/cpu");
    let mut mem = MemIsolator::new(h.clone()).expect("cgroups/mem");
    let mut pids = PidsIsolator::new(h.clone()).expect("cgroups/pids");
    let c = container("doublefork");
    let info = executor(&[("cpus", 1.0), ("mem", 64.0)]);
    for iso in [&mut cpu as &mut dyn Isolator, &mut mem, &mut pids] {
        iso.prepare(&c, &info, Path::new("/tmp"), None)
            .await
            .expect("prepare");
    }
    // The shell double-forks a setsid'd sleeper (re-parented to init) and keeps one child.
    let mut tree = Held::spawn("(setsid sh -c 'sleep 300 & sleep 300' &); sleep 300");
    for iso in [&mut cpu as &mut dyn Isolator, &mut mem, &mut pids] {
        iso.isolate(&c, tree.pid()).await.expect("isolate");
    }
    tree.release();
    let freezer = h.container_dir("freezer", &c);
    let mut members = Vec::new();
    assert!(
        poll_until(Duration::from_secs(5), || {
            members = mesos_isolators::cgroups::destroy::procs(&freezer);
            members.len() >= 4
        }),
        "expected sh, sleep, setsid sh and two sleeps in the cgroup: {members:?}"
    );
    let usage = pids.usage(&c).await.expect("pids usage");
    assert!(usage.threads.unwrap_or(0) >= 4, "{usage:?}");
    for iso in [&mut cpu as &mut dyn Isolator, &mut mem, &mut pids] {
        iso.cleanup(&c).await.expect("cleanup");
    }
    let _ = tree.child.wait();
    for pid in &members {
        assert!(
            poll_until(Duration::from_secs(2), || !alive(*pid)),
            "process {pid} survived cleanup"
        );
    }
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

#[tokio::test]
async fn recover_destroys_cgroups_no_checkpoint_claims_and_keeps_known_ones() {
    let Some(base) =
        v1_or_skip("recover_destroys_cgroups_no_checkpoint_claims_and_keeps_known_ones")
    else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    let h: Hierarchy = root.hierarchy();
    let known = container("known");
    let orphan = container("orphan");
    // A previous agent's containers: both have cgroups, the orphan a live process.
    {
        let mut before = PidsIsolator::new(h.clone()).expect("cgroups/pids");
        for c in [&known, &orphan] {
            before
                .prepare(c, &executor(&[]), Path::new("/tmp"), None)
                .await
                .expect("prepare");
        }
    }
    let mut stray = Held::spawn("sleep 300");
    std::fs::write(
        h.container_dir("pids", &orphan).join("cgroup.procs"),
        stray.pid().to_string(),
    )
    .expect("move stray into the orphan's cgroup");
    stray.release();
    let mut after = PidsIsolator::new(h.clone()).expect("cgroups/pids");
    let state = mesos_isolators::ContainerState {
        container_id: known.clone(),
        executor_info: executor(&[]),
        pid: std::process::id(),
        directory: "/tmp".into(),
    };
    after.recover(vec![state], vec![]).await.expect("recover");
    assert!(
        !h.container_dir("pids", &orphan).exists(),
        "orphan cgroup kept"
    );
    assert!(
        poll_until(Duration::from_secs(2), || !alive(stray.pid() as i32)),
        "orphan process kept"
    );
    assert!(
        h.container_dir("pids", &known).exists(),
        "known container's cgroup destroyed"
    );
    after
        .usage(&known)
        .await
        .expect("recovered container is known");
    after.cleanup(&known).await.expect("cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}
