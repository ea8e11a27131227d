//! `posix/cpu` and `posix/mem` against real processes: usage over the whole tree (a
//! `setsid` grandchild included) and polling enforcement of memory.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::posix::{PosixCpu, PosixMem};
use mesos_isolators::{Isolator, LimitationReason};

#[tokio::test]
async fn posix_cpu_counts_cpu_time_of_a_grandchild_that_left_the_session() {
    let mut iso = PosixCpu::default();
    let c = container("posixcpu");
    iso.prepare(&c, &executor(&[("cpus", 1.5)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    // Only the setsid'd grandchild burns cpu; the shell just waits.
    let mut tree = Held::spawn("setsid sh -c 'while :; do :; done' & wait");
    iso.isolate(&c, tree.pid()).await.expect("isolate");
    tree.release();
    let mut usage = iso.usage(&c).await.expect("usage");
    let burned = poll_until(Duration::from_secs(10), || {
        usage = futures::executor::block_on(iso.usage(&c)).expect("usage");
        usage.cpus_user_time_secs.unwrap_or(0.0) + usage.cpus_system_time_secs.unwrap_or(0.0) >= 0.2
    });
    assert!(
        burned,
        "the grandchild's cpu time was not counted: {usage:?}"
    );
    assert_eq!(usage.cpus_limit, Some(1.5));
    assert!(usage.processes.unwrap_or(0) >= 2, "{usage:?}");
    // Kill the grandchild: it is in its own session, so killing the shell is not enough.
    let tracker_pids: Vec<i32> = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.split_whitespace().nth(3) == Some(&tree.pid().to_string()))
                .unwrap_or(false)
        })
        .collect();
    for pid in tracker_pids {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    iso.cleanup(&c).await.expect("cleanup");
}

#[tokio::test]
async fn posix_mem_reports_a_memory_limitation_when_resident_memory_exceeds_mem() {
    let mut iso = PosixMem::new(true, Duration::from_millis(50));
    let c = container("posixmem");
    iso.prepare(&c, &executor(&[("mem", 16.0)]), Path::new("/tmp"), None)
        .await
        .expect("prepare");
    let mut hog = Held::spawn("exec perl -e '$x = \"x\" x (64*1024*1024); sleep 30'");
    iso.isolate(&c, hog.pid()).await.expect("isolate");
    let watch = iso.watch(&c);
    hog.release();
    let limitation = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("a limitation within 20s")
        .expect("limitation");
    assert_eq!(limitation.reason, LimitationReason::Memory);
    assert_eq!(limitation.resources, vec![scalar_resource("mem", 16.0)]);
    assert!(
        limitation
            .message
            .starts_with("Memory limit exceeded: Requested: 16MB"),
        "{}",
        limitation.message
    );
    let usage = iso.usage(&c).await.expect("usage");
    assert_eq!(usage.mem_limit_bytes, Some(16 * 1024 * 1024));
    assert!(
        usage.mem_rss_bytes.unwrap_or(0) > 16 * 1024 * 1024,
        "{usage:?}"
    );
    iso.cleanup(&c).await.expect("cleanup");
}

#[tokio::test]
async fn disk_du_reports_sandbox_usage_and_a_disk_limitation_past_the_quota() {
    use mesos_isolators::disk::DiskDu;
    let sandbox = tempfile::tempdir().expect("sandbox");
    let mut iso = DiskDu::new(Duration::from_millis(50), true);
    let c = container("disk");
    iso.prepare(&c, &executor(&[("disk", 1.0)]), sandbox.path(), None)
        .await
        .expect("prepare");
    let watch = iso.watch(&c);
    std::fs::write(sandbox.path().join("big"), vec![1u8; 3 << 20]).expect("write");
    let limitation = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("a limitation within 20s")
        .expect("limitation");
    assert_eq!(limitation.reason, LimitationReason::Disk);
    assert_eq!(
        limitation.reason.task_status_reason() as i32,
        20,
        "REASON_CONTAINER_LIMITATION_DISK"
    );
    assert!(
        limitation.message.starts_with("Disk usage ("),
        "{}",
        limitation.message
    );
    let usage = iso.usage(&c).await.expect("usage");
    assert!(usage.disk_used_bytes.unwrap_or(0) >= 3 << 20, "{usage:?}");
    assert_eq!(usage.disk_limit_bytes, Some(1 << 20));
    iso.cleanup(&c).await.expect("cleanup");
}
