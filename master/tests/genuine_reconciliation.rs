//! A GENUINE Mesos 1.11 agent against our in-process master: when the agent re-registers
//! without a task the master launched on it, the master's reconciliation request (in
//! SlaveReregisteredMessage) makes the genuine agent report the task lost, and the
//! framework hears it. Skipped (passing, with a SKIPPED line) without `../shared`.

mod common;
mod semantics;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{master, metric};
use mesos_proto::mesos::internal::StatusUpdateMessage;
use mesos_proto::mesos::{task_status, TaskState};
use mesos_tests::native::{genuine, ChildGuard};
use semantics::*;

fn start_agent(
    native: &Path,
    master: std::net::SocketAddrV4,
    port: u16,
    work: &Path,
) -> ChildGuard {
    let mut cmd = Command::new("bash");
    cmd.arg(native.join("run-agent.sh"))
        .arg(master.to_string())
        .arg(port.to_string())
        .env(
            "MESOS_RESOURCES",
            "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        )
        .env("MESOS_WORK_DIR", work)
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    ChildGuard::spawn("genuine-agent", cmd)
}

async fn wait_metric(m: &mesos_master::MasterHandle, name: &str, want: f64, secs: u64) -> bool {
    for _ in 0..secs * 20 {
        if metric(&m.runtime, name) == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_agent_reregistering_without_a_task_reports_it_lost_after_the_masters_reconciliation(
) {
    let Some(native) = genuine(
        "a_genuine_agent_reregistering_without_a_task_reports_it_lost_after_the_masters_reconciliation",
    ) else {
        return;
    };
    let m = master(&[]);
    let work: PathBuf = ChildGuard::new_dir("genuine-agent-work");
    let port = mesos_tests::native::free_port();
    let mut agent = start_agent(&native, m.address(), port, &work);
    assert!(
        wait_metric(&m, "master/slaves_active", 1.0, 30).await,
        "the genuine agent never registered: {}",
        agent.stderr_tail(20)
    );
    // A checkpointing framework: a non-checkpointing one's tasks are lost (by the master)
    // as soon as the agent's link breaks, as in Mesos, leaving nothing to reconcile.
    let info = mesos_proto::mesos::FrameworkInfo {
        checkpoint: Some(true),
        ..framework_info()
    };
    let (mut sched, fid) = subscribe(&m, "scheduler-1", info).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();

    // The agent freezes; the launch goes into its socket and dies with it.
    let stop = Command::new("kill")
        .args(["-STOP", "--", &format!("-{}", agent.pid())])
        .status()
        .expect("kill -STOP");
    assert!(stop.success());
    sched.send(
        m.upid(),
        &accept_ops(
            &fid,
            vec![offer.id.clone()],
            vec![launch(vec![task("t1", &offer, "cpus:1;mem:128")])],
        ),
    );
    assert!(wait_metric(&m, "master/tasks_staging", 1.0, 10).await);
    agent.kill();
    assert!(
        wait_metric(&m, "master/slaves_disconnected", 1.0, 30).await,
        "the agent's link never broke"
    );

    // Restarted on the same work dir and port, it re-registers knowing nothing of t1.
    let mut again = start_agent(&native, m.address(), port, &work);
    let mut lost = None;
    for _ in 0..6 {
        if let Some(u) = sched
            .maybe::<StatusUpdateMessage>(Duration::from_secs(10))
            .await
        {
            lost = Some(u);
            break;
        }
    }
    let Some(lost) = lost else {
        panic!("no update for t1: {}", again.stderr_tail(30));
    };
    let status = &lost.update.status;
    assert_eq!(status.task_id.value, "t1");
    assert_eq!(status.state(), TaskState::TaskLost);
    assert_eq!(status.reason(), task_status::Reason::Reconciliation);
    assert_eq!(status.source(), task_status::Source::Slave);
    assert_eq!(metric(&m.runtime, "master/slaves_connected"), 1.0);
    assert_eq!(metric(&m.runtime, "master/tasks_lost"), 1.0);
    again.kill();
    let _ = std::fs::remove_dir_all(&work);
    m.shutdown();
}
