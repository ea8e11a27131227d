//! cgroups v2 against the real unified hierarchy at /sys/fs/cgroup/unified. Here it has no
//! cpu or memory controller, so what is tested live is what the kernel allows without
//! them: creating a container cgroup, moving a process in through `cgroup.procs`, killing
//! the whole tree with `cgroup.kill`, removal. Enforcement runs only where cpu+memory are
//! enabled in the unified hierarchy and otherwise prints SKIPPED with the reason. The v2
//! interface files themselves are covered by `cgroups::v2` unit tests on a temp-dir tree.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use mesos_isolators::cgroups::{
    destroy, CgroupSet, CgroupsError, CpuIsolator, MemIsolator, Version,
};
use mesos_isolators::{Isolator, LimitationReason};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

fn unified_or_skip(test: &str) -> Option<PathBuf> {
    let base = PathBuf::from(UNIFIED);
    if base.join("cgroup.controllers").is_file() && base.join("cgroup.procs").is_file() {
        Some(base)
    } else {
        eprintln!("SKIPPED {test}: no cgroup2 mount at {UNIFIED}");
        None
    }
}

#[tokio::test]
async fn v2_container_cgroup_takes_a_process_tree_and_cgroup_kill_removes_all_of_it() {
    let test = "v2_container_cgroup_takes_a_process_tree_and_cgroup_kill_removes_all_of_it";
    let Some(base) = unified_or_skip(test) else {
        return;
    };
    let mut root = TestRoot::new(&base, false);
    let h = root.hierarchy();
    assert_eq!(h.version, Version::V2);
    // No controller needed: the unified cgroup itself.
    let set = CgroupSet::new(h.clone(), &[]).expect("v2 cgroup set");
    let c = container("v2tree");
    set.create(&c).expect("create");
    let dir = h.container_dir("", &c);
    assert!(
        dir.join("cgroup.procs").is_file(),
        "not a cgroup: {}",
        dir.display()
    );
    if !dir.join("cgroup.kill").exists() {
        eprintln!("SKIPPED {test}: kernel without cgroup.kill (needs Linux 5.14+)");
        set.clone().destroy(c.clone()).await.expect("destroy");
        return;
    }
    let mut tree = Held::spawn("(setsid sh -c 'sleep 300 & sleep 300' &); sleep 300");
    set.join(&c, tree.pid()).expect("join");
    assert_eq!(destroy::procs(&dir), vec![tree.pid() as i32]);
    tree.release();
    let mut members = Vec::new();
    assert!(
        poll_until(Duration::from_secs(5), || {
            members = destroy::procs(&dir);
            members.len() >= 4
        }),
        "the tree did not grow inside the cgroup: {members:?}"
    );
    set.clone().destroy(c.clone()).await.expect("destroy");
    let _ = tree.child.wait();
    for pid in &members {
        assert!(
            poll_until(Duration::from_secs(2), || !alive(*pid)),
            "{pid} survived cgroup.kill"
        );
    }
    assert!(!dir.exists(), "cgroup {} not removed", dir.display());
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

#[test]
fn v2_without_the_cpu_controller_fails_at_start_naming_the_path_and_flag() {
    let test = "v2_without_the_cpu_controller_fails_at_start_naming_the_path_and_flag";
    let Some(base) = unified_or_skip(test) else {
        return;
    };
    let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    if controllers.split_whitespace().any(|c| c == "cpu") {
        eprintln!("SKIPPED {test}: the cpu controller is available in {UNIFIED}");
        return;
    }
    let mut root = TestRoot::new(&base, false);
    let err = CpuIsolator::new(root.hierarchy()).unwrap_err();
    assert!(matches!(err, CgroupsError::NoController { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("'cpu'") && text.contains(UNIFIED) && text.contains("--cgroups_hierarchy"),
        "{text}"
    );
}

#[tokio::test]
async fn v2_enforcement_oom_and_throttling_where_cpu_and_memory_are_enabled() {
    let test = "v2_enforcement_oom_and_throttling_where_cpu_and_memory_are_enabled";
    let Some(base) = unified_or_skip(test) else {
        return;
    };
    let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if !(has("cpu") && has("memory")) {
        eprintln!(
            "SKIPPED {test}: {UNIFIED}/cgroup.controllers is {:?}; cpu and memory are bound to the v1 hierarchy on this machine",
            controllers.trim()
        );
        return;
    }
    let mut root = TestRoot::new(&base, true);
    let h = root.hierarchy();
    let mut mem = MemIsolator::new(h.clone()).expect("cgroups/mem on v2");
    let mut cpu = CpuIsolator::new(h.clone()).expect("cgroups/cpu on v2");
    let c = container("v2enforce");
    let info = executor(&[("cpus", 0.5), ("mem", 32.0)]);
    mem.prepare(&c, &info, Path::new("/tmp"), None)
        .await
        .expect("prepare mem");
    cpu.prepare(&c, &info, Path::new("/tmp"), None)
        .await
        .expect("prepare cpu");
    let dir = h.container_dir("", &c);
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.max"))
            .expect("cpu.max")
            .trim(),
        "50000 100000"
    );
    let mut hog = Held::spawn("exec perl -e '$x = \"x\" x (200*1024*1024); sleep 30'");
    mem.isolate(&c, hog.pid()).await.expect("isolate");
    let watch = mem.watch(&c);
    hog.release();
    let limitation = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("an OOM within 20s")
        .expect("limitation");
    assert_eq!(limitation.reason, LimitationReason::Memory);
    mem.cleanup(&c).await.expect("cleanup");
    cpu.cleanup(&c).await.expect("cleanup");
    assert!(root.leftovers().is_empty(), "left: {:?}", root.leftovers());
}

/// A v2 hierarchy laid out in a temp dir with cpu+memory enabled, and the container's
/// cgroup pre-filled with the kernel's default interface files.
fn fake_v2_tree(container: &mesos_isolators::ContainerId) -> (tempfile::TempDir, PathBuf) {
    let tree = tempfile::tempdir().expect("tempdir");
    std::fs::write(tree.path().join("cgroup.controllers"), "cpu memory pids\n").expect("write");
    let dir = tree.path().join("mesos").join(container.as_str());
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (file, content) in [
        ("cgroup.procs", ""),
        ("cpu.weight", "100\n"),
        ("cpu.max", "max 100000\n"),
        ("cpu.stat", "usage_usec 300000\nuser_usec 200000\nsystem_usec 100000\nnr_periods 7\nnr_throttled 5\nthrottled_usec 90000\n"),
        ("memory.max", "max\n"),
        ("memory.high", "max\n"),
        ("memory.current", "1048576\n"),
        ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
        ("memory.stat", "anon 4096\nfile 8192\n"),
    ] {
        std::fs::write(dir.join(file), content).expect("write");
    }
    (tree, dir)
}

#[tokio::test]
async fn v2_files_cpu_weight_and_max_are_written_and_cpu_stat_read_by_cgroups_cpu() {
    let c = container("v2files-cpu");
    let (tree, dir) = fake_v2_tree(&c);
    let config = mesos_isolators::cgroups::CgroupsConfig {
        hierarchy: tree.path().to_path_buf(),
        root: "mesos".into(),
        enable_cfs: true,
    };
    let h = mesos_isolators::cgroups::Hierarchy::detect(&config).expect("detect");
    assert_eq!(h.version, Version::V2);
    let mut cpu = CpuIsolator::new(h).expect("cgroups/cpu");
    assert_eq!(
        std::fs::read_to_string(tree.path().join("mesos/cgroup.subtree_control")).expect("read"),
        "+cpu"
    );
    cpu.prepare(&c, &executor(&[("cpus", 0.5)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read");
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(
        read("cpu.weight"),
        mesos_isolators::cgroups::v2::cpu_weight_from_shares(512).to_string()
    );
    let usage = cpu.usage(&c).await.expect("usage");
    assert_eq!(usage.cpus_user_time_secs, Some(0.2));
    assert_eq!(usage.cpus_system_time_secs, Some(0.1));
    assert_eq!(usage.cpus_nr_periods, Some(7));
    assert_eq!(usage.cpus_nr_throttled, Some(5));
    assert_eq!(usage.cpus_throttled_time_secs, Some(0.09));
}

#[tokio::test]
async fn v2_files_memory_limits_and_an_oom_kill_in_memory_events_become_a_limitation() {
    let c = container("v2files-mem");
    let (tree, dir) = fake_v2_tree(&c);
    let config = mesos_isolators::cgroups::CgroupsConfig {
        hierarchy: tree.path().to_path_buf(),
        root: "mesos".into(),
        enable_cfs: false,
    };
    let h = mesos_isolators::cgroups::Hierarchy::detect(&config).expect("detect");
    let mut mem = MemIsolator::new(h).expect("cgroups/mem");
    mem.prepare(&c, &executor(&[("mem", 64.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read");
    assert_eq!(read("memory.max"), (64u64 << 20).to_string());
    assert_eq!(read("memory.high"), (64u64 << 20).to_string());
    let usage = mem.usage(&c).await.expect("usage");
    assert_eq!(usage.mem_total_bytes, Some(1 << 20));
    assert_eq!(usage.mem_rss_bytes, Some(4096));
    assert_eq!(usage.mem_limit_bytes, Some(64 << 20));
    let watch = mem.watch(&c);
    // The kernel bumps oom_kill when it kills inside the cgroup.
    std::fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 3\nmax 5\noom 1\noom_kill 1\n",
    )
    .expect("write");
    let limitation = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .expect("a limitation within 10s")
        .expect("limitation");
    assert_eq!(limitation.reason, LimitationReason::Memory);
    assert!(
        limitation
            .message
            .starts_with("Memory limit exceeded: Requested: 64MB"),
        "{}",
        limitation.message
    );
}
