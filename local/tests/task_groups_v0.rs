//! Task groups over the v0 driver protocol: a framework written with our scheduler library
//! (`DriverHandle::launch_group`) runs a two-task group on `mesos-local` (our master sends
//! RunTaskGroupMessage; our agent starts the default executor).

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_proto::mesos::{executor_info, ExecutorId, ExecutorInfo, Offer, TaskState, TaskStatus};
use mesos_scheduler::driver::{Driver, DriverHandle, Outcome, Scheduler};
use mesos_scheduler::framework::{command_task, framework_info, is_terminal, start_runtime};
use mesos_scheduler::resources::take_scalar;
use mesos_tests::native::{free_port, ChildGuard};

struct GroupScheduler {
    launched: bool,
    ended: Arc<Mutex<Vec<(String, i32)>>>,
}

impl Scheduler for GroupScheduler {
    fn resource_offers(&mut self, d: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                d.decline(offer.id.clone(), Some(60.0));
                continue;
            }
            let mut remaining = offer.resources.clone();
            let executor = ExecutorInfo {
                r#type: Some(executor_info::Type::Default as i32),
                executor_id: ExecutorId {
                    value: "group-executor".into(),
                },
                resources: [
                    take_scalar(&remaining, "cpus", 0.1),
                    take_scalar(&remaining, "mem", 32.0),
                ]
                .into_iter()
                .flatten()
                .collect(),
                ..Default::default()
            };
            let tasks: Vec<_> = ["a", "b"]
                .iter()
                .filter_map(|id| {
                    command_task(
                        &offer,
                        &mut remaining,
                        id,
                        &format!("echo task {id}"),
                        0.1,
                        16.0,
                    )
                })
                .collect();
            assert_eq!(tasks.len(), 2, "the offer should fit two small tasks");
            d.launch_group(vec![offer.id.clone()], executor, tasks, None);
            self.launched = true;
        }
    }

    fn status_update(&mut self, d: &mut DriverHandle<'_>, status: &TaskStatus) {
        if !is_terminal(status.state) {
            return;
        }
        let mut ended = self.ended.lock().unwrap();
        ended.push((status.task_id.value.clone(), status.state));
        if ended.len() == 2 {
            d.stop(false);
        }
    }
}

#[test]
fn launch_group_through_the_v0_driver_runs_both_tasks_to_finished() {
    let port = free_port();
    let dir = ChildGuard::new_dir("mesos-local-groups-v0");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-local"));
    cmd.args([
        format!("--port={port}"),
        "--num_slaves=1".into(),
        "--demo_tasks=0".into(),
    ])
    .arg(format!("--work_dir={}", dir.join("work").display()));
    let mut local = ChildGuard::spawn_in("mesos-local", dir, cmd);
    local
        .wait_for_line("serving;", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("mesos-local did not come up:\n{}", local.stderr_tail(40)));

    let rt = start_runtime().unwrap();
    let ended = Arc::new(Mutex::new(Vec::new()));
    let scheduler = GroupScheduler {
        launched: false,
        ended: ended.clone(),
    };
    let master = libprocess::Upid::parse(&format!("master@127.0.0.1:{port}")).unwrap();
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = tokio_rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                Driver::run(
                    &rt,
                    master,
                    framework_info("task-group-v0", None),
                    Box::new(scheduler),
                ),
            )
            .await
        })
        .unwrap_or_else(|_| panic!("the group did not finish:\n{}", local.stderr_tail(40)))
        .unwrap();
    rt.shutdown();
    assert_eq!(outcome, Outcome::Stopped);
    let mut ended = ended.lock().unwrap().clone();
    ended.sort();
    assert_eq!(
        ended,
        vec![
            ("a".to_string(), TaskState::TaskFinished as i32),
            ("b".to_string(), TaskState::TaskFinished as i32)
        ]
    );
}
