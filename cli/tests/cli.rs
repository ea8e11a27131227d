//! `mesos` against a real master (in this process, over loopback TCP): an agent and a
//! framework registered through libprocess messages, one task launched; then each command's
//! output and exit code.

use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_allocator::Resources;
use mesos_proto::mesos::internal::{RegisterSlaveMessage, ResourceOffersMessage};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, CommandInfo, FrameworkId, FrameworkInfo, SlaveInfo, TaskId, TaskInfo,
};
use prost::{Message, Name};
use tokio::sync::mpsc;

/// A scheduler that hands the offers it receives to the test.
struct Sched(mpsc::UnboundedSender<ResourceOffersMessage>);

impl Process for Sched {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install_raw(
            "mesos.internal.ResourceOffersMessage",
            |me, _ctx, _from, body| {
                if let Ok(m) = ResourceOffersMessage::decode(body.as_ref()) {
                    let _ = me.0.send(m);
                }
            },
        );
    }
}

struct Idle;
impl Process for Idle {}

fn send<M: Message + Name>(rt: &Runtime, from: &Upid, to: &Upid, m: &M) {
    rt.send(from, to, &M::full_name(), Bytes::from(m.encode_to_vec()));
}

/// A master with agent `worker-1` and framework `cli-test` running task `sleeper`.
async fn cluster() -> mesos_master::MasterHandle {
    let rt = Runtime::start(Config {
        delegate: Some("master".into()),
        ..Config::local()
    })
    .unwrap();
    let flags =
        mesos_master::Flags::parse_from_args(["mesos-master", "--allocation_interval=50ms"])
            .unwrap();
    let m = mesos_master::master::spawn(&rt, flags).unwrap();
    let agent = rt.spawn("slave(1)", Idle).unwrap();
    send(
        &rt,
        agent.upid(),
        m.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "worker-1".into(),
                port: Some(5051),
                resources: Resources::parse("cpus:4;mem:1024;disk:100", "*")
                    .unwrap()
                    .to_protos_pre(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sched = rt.spawn("scheduler-1", Sched(tx)).unwrap();
    send(
        &rt,
        sched.upid(),
        m.upid(),
        &Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "alice".into(),
                    name: "cli-test".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let offers = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("offers")
        .expect("offers");
    let o = &offers.offers[0];
    let mut accept = Call {
        framework_id: Some(FrameworkId {
            value: o.framework_id.value.clone(),
        }),
        r#type: Some(call::Type::Accept as i32),
        ..Default::default()
    };
    accept.accept = Some(call::Accept {
        offer_ids: vec![o.id.clone()],
        operations: vec![offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch {
                task_infos: vec![TaskInfo {
                    name: "sleeper".into(),
                    task_id: TaskId {
                        value: "sleeper".into(),
                    },
                    slave_id: o.slave_id.clone(),
                    resources: Resources::parse("cpus:1.5;mem:256", "*")
                        .unwrap()
                        .to_protos_pre(),
                    command: Some(CommandInfo {
                        value: Some("sleep 100".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }],
        filters: None,
    });
    send(&rt, sched.upid(), m.upid(), &accept);
    let addr = m.address();
    let launched = tokio::task::spawn_blocking(move || {
        mesos_tests::poll_until(Duration::from_secs(10), || {
            mesos_cli::http::get_json(&addr.to_string(), "/master/tasks")
                .is_ok_and(|v| v["tasks"].as_array().is_some_and(|t| !t.is_empty()))
        })
    })
    .await
    .unwrap();
    assert!(launched, "the task was never launched");
    m
}

fn mesos(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = mesos_cli::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn commands_print_tables_of_the_clusters_agents_frameworks_and_tasks() {
    let m = cluster().await;
    let master = format!("--master={}", m.address());
    let (out_ps, out_agents, out_fw, out_tasks, task, missing, state) =
        tokio::task::spawn_blocking(move || {
            (
                mesos(&[&master, "ps"]),
                mesos(&[&master, "agents"]),
                mesos(&[
                    "--master",
                    master.trim_start_matches("--master="),
                    "frameworks",
                ]),
                mesos(&[&master, "tasks", "--all"]),
                mesos(&[&master, "task", "sleeper"]),
                mesos(&[&master, "task", "nope"]),
                mesos(&[&master, "state"]),
            )
        })
        .await
        .unwrap();
    assert_eq!(out_ps.0, 0, "{}", out_ps.2);
    let ps: Vec<&str> = out_ps.1.lines().collect();
    assert!(ps[0].starts_with("USER"), "{}", out_ps.1);
    let row: Vec<&str> = ps[1].split_whitespace().collect();
    assert_eq!(
        row,
        ["alice", "cli-test", "sleeper", "STAGING", "worker-1", "1.50", "256"]
    );

    assert_eq!(out_agents.0, 0);
    assert!(out_agents.1.contains("worker-1"), "{}", out_agents.1);
    assert!(out_agents.1.contains("1.50/4"), "{}", out_agents.1);
    assert_eq!(out_fw.0, 0);
    assert!(out_fw.1.contains("cli-test"), "{}", out_fw.1);
    assert_eq!(out_tasks.0, 0);
    assert!(out_tasks.1.contains("sleeper"), "{}", out_tasks.1);
    assert_eq!(task.0, 0);
    let t: serde_json::Value = serde_json::from_str(&task.1).unwrap();
    assert_eq!(t["id"], "sleeper");
    assert_eq!(missing.0, mesos_cli::EXIT_NOT_FOUND);
    assert!(missing.2.contains("no task 'nope'"), "{}", missing.2);
    assert_eq!(state.0, 0);
    let s: serde_json::Value = serde_json::from_str(&state.1).unwrap();
    assert_eq!(s["slaves"][0]["hostname"], "worker-1");
    m.shutdown();
}

#[test]
fn exit_codes_distinguish_usage_errors_from_an_unreachable_master() {
    let (code, _, err) = mesos(&["frobnicate"]);
    assert_eq!(code, mesos_cli::EXIT_USAGE);
    assert!(err.contains("unknown command 'frobnicate'"), "{err}");
    let (code, _, _) = mesos(&[]);
    assert_eq!(code, mesos_cli::EXIT_USAGE);
    let (code, out, _) = mesos(&["help"]);
    assert_eq!(code, 0);
    assert!(out.contains("usage: mesos"));
    // A port nothing listens on.
    let port = mesos_tests::native::free_port();
    let (code, _, err) = mesos(&[&format!("--master=127.0.0.1:{port}"), "agents"]);
    assert_eq!(code, mesos_cli::EXIT_UNREACHABLE);
    assert!(err.contains("cannot reach"), "{err}");
}
