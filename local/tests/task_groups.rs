//! Task groups end to end on `mesos-local`: a framework on the master's v1 HTTP scheduler
//! API accepts an offer with a LAUNCH_GROUP operation; our master sends the group to our
//! agent, which starts `mesos-default-executor` (the dedicated binary when built next to
//! `mesos-local`, else `mesos-local` itself through a link); both tasks finish.
//!
//! The framework side is written here against the HTTP API directly: the scheduler crate's
//! `DriverHandle` only offers LAUNCH, not LAUNCH_GROUP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use libprocess::http_client::HttpConn;
use libprocess::media::APPLICATION_PROTOBUF as PROTOBUF;
use libprocess::recordio;
use mesos_proto::mesos::v1::scheduler::{call, event, Call, Event};
use mesos_proto::mesos::v1::{
    executor_info, offer, value, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Offer, Resource, TaskGroupInfo, TaskId, TaskInfo, TaskState,
};
use mesos_tests::native::{free_port, ChildGuard};
use prost::Message;
use tokio::sync::mpsc;

const PATH: &str = "/api/v1/scheduler";

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

/// The framework's side: events from the subscription, calls on their own connections.
struct Framework {
    addr: SocketAddr,
    stream_id: String,
    id: Option<FrameworkId>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Framework {
    async fn subscribe(addr: SocketAddr) -> Framework {
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "root".into(),
                    name: "task-group-test".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut conn = HttpConn::connect(addr).await.unwrap();
        let head = conn
            .request(
                "POST",
                PATH,
                &[("Content-Type", PROTOBUF), ("Accept", PROTOBUF)],
                &call.encode_to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(head.status, 200, "SUBSCRIBE refused");
        let stream_id = head.header("mesos-stream-id").unwrap_or("").to_string();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut decoder = recordio::Decoder::default();
            while let Ok(Some(chunk)) = conn.chunk().await {
                decoder.feed(&chunk);
                while let Ok(Some(record)) = decoder.next_record() {
                    match Event::decode(record) {
                        Ok(e) => {
                            if tx.send(e).is_err() {
                                return;
                            }
                        }
                        Err(e) => panic!("undecodable event: {e}"),
                    }
                }
            }
        });
        Framework {
            addr,
            stream_id,
            id: None,
            events,
        }
    }

    async fn next(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(20), self.events.recv())
            .await
            .expect("no event from the master")
            .expect("the event stream ended")
    }

    async fn call(&self, mut call: Call) {
        call.framework_id = self.id.clone();
        let mut conn = HttpConn::connect(self.addr).await.unwrap();
        let head = conn
            .request(
                "POST",
                PATH,
                &[
                    ("Content-Type", PROTOBUF),
                    ("Accept", PROTOBUF),
                    ("Mesos-Stream-Id", &self.stream_id),
                ],
                &call.encode_to_vec(),
            )
            .await
            .unwrap();
        let body = conn.body(&head).await.unwrap_or_default();
        assert_eq!(
            head.status,
            202,
            "call refused: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// ACCEPT with one LAUNCH_GROUP operation running `tasks` (id, command) under the
    /// default executor.
    async fn launch_group(&self, offer: &Offer, tasks: &[(&str, &str)]) {
        let framework_id = self.id.clone().unwrap();
        let mut executor = ExecutorInfo {
            executor_id: ExecutorId {
                value: "group-executor".into(),
            },
            framework_id: Some(framework_id),
            resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
            ..Default::default()
        };
        executor.set_type(executor_info::Type::Default);
        let tasks = tasks
            .iter()
            .map(|(id, cmd)| TaskInfo {
                name: id.to_string(),
                task_id: TaskId {
                    value: id.to_string(),
                },
                agent_id: offer.agent_id.clone(),
                resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                command: Some(CommandInfo {
                    value: Some(cmd.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let op = offer::Operation {
            r#type: Some(offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(offer::operation::LaunchGroup {
                executor,
                task_group: TaskGroupInfo { tasks },
            }),
            ..Default::default()
        };
        self.call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![op],
                filters: None,
            }),
            ..Default::default()
        })
        .await;
    }
}

/// Whether the offer has cpus to launch with.
fn has_cpus(offer: &Offer) -> bool {
    offer
        .resources
        .iter()
        .any(|r| r.name == "cpus" && r.r#type() == value::Type::Scalar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_group_from_a_v1_framework_runs_both_tasks_to_finished() {
    let dir = ChildGuard::new_dir("mesos-local-groups");
    run_two_task_group(dir, None).await;
}

/// `mesos-local` itself serves as `mesos-default-executor` through a link of that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_local_serves_as_the_default_executor_through_a_link() {
    let dir = ChildGuard::new_dir("mesos-local-groups-busybox");
    let launcher = dir.join("launcher");
    std::fs::create_dir_all(&launcher).unwrap();
    for name in ["mesos-executor", "mesos-default-executor"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mesos-local"), launcher.join(name)).unwrap();
    }
    run_two_task_group(dir, Some(launcher)).await;
}

async fn run_two_task_group(dir: PathBuf, launcher_dir: Option<PathBuf>) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-local"));
    cmd.args([
        format!("--port={port}"),
        "--num_slaves=1".into(),
        "--demo_tasks=0".into(),
        "--allocation_interval=100ms".into(),
        format!("--work_dir={}", dir.join("work").display()),
        "--resources=cpus:2;mem:1024;disk:1024".into(),
    ]);
    if let Some(l) = &launcher_dir {
        cmd.arg(format!("--launcher_dir={}", l.display()));
    }
    let mut local = ChildGuard::spawn_in("mesos-local", dir.clone(), cmd);
    local
        .wait_for_line("serving;", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("mesos-local did not come up:\n{}", local.stderr_tail(40)));

    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut fw = Framework::subscribe(addr).await;
    let mut finished = Vec::new();
    let mut launched = false;
    while finished.len() < 2 {
        let e = fw.next().await;
        match e.r#type() {
            event::Type::Subscribed => {
                fw.id = e.subscribed.map(|s| s.framework_id);
            }
            event::Type::Offers if !launched => {
                let offers = e.offers.unwrap_or_default().offers;
                let offer = offers.first().expect("an offer");
                assert!(has_cpus(offer));
                fw.launch_group(offer, &[("first", "echo one"), ("second", "echo two")])
                    .await;
                launched = true;
            }
            event::Type::Update => {
                let status = e.update.unwrap().status;
                let state = status.state();
                if let Some(uuid) = status.uuid.clone() {
                    fw.call(Call {
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id: status.agent_id.clone().unwrap(),
                            task_id: status.task_id.clone(),
                            uuid,
                        }),
                        ..Default::default()
                    })
                    .await;
                }
                match state {
                    TaskState::TaskStarting | TaskState::TaskRunning => {}
                    TaskState::TaskFinished => finished.push(status.task_id.value.clone()),
                    other => panic!(
                        "task {} ended {other:?}: {:?}\n{}",
                        status.task_id.value,
                        status.message,
                        local.stderr_tail(40)
                    ),
                }
            }
            _ => {}
        }
    }
    finished.sort();
    assert_eq!(finished, vec!["first", "second"]);
    // The executor ran where the launcher dir says.
    let sandbox_out = find_file(&dir.join("work"), "stdout", "tasks/first")
        .unwrap_or_else(|| panic!("no sandbox for task 'first'"));
    assert_eq!(std::fs::read_to_string(sandbox_out).unwrap(), "one\n");
    fw.call(Call {
        r#type: Some(call::Type::Teardown as i32),
        ..Default::default()
    })
    .await;
    drop(local);
    let _ = std::fs::remove_dir_all(dir);
}

/// A file named `name` whose parent path ends with `parent` somewhere under `root`.
fn find_file(root: &std::path::Path, name: &str, parent: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if entry.file_type().ok()?.is_symlink() {
            continue;
        }
        if path.is_dir() {
            if let Some(found) = find_file(&path, name, parent) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name)
            && path.parent().is_some_and(|p| p.ends_with(parent))
        {
            return Some(path);
        }
    }
    None
}
