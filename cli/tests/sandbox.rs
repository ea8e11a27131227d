//! `mesos ls`, `cat` and `tail` against a real master and a real agent (each its own
//! runtime in this process) running a task whose executor writes to its sandbox's stdout.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_agent::slave::SlaveConfig;
use mesos_allocator::Resources;
use mesos_proto::mesos::internal::ResourceOffersMessage;
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, CommandInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo,
};
use prost::{Message, Name};
use tokio::sync::mpsc;

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

fn send<M: Message + Name>(rt: &Runtime, from: &Upid, to: &Upid, m: &M) {
    rt.send(from, to, &M::full_name(), Bytes::from(m.encode_to_vec()));
}

fn mesos(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = mesos_cli::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).to_string(),
        String::from_utf8_lossy(&err).to_string(),
    )
}

/// A master and an agent (each its own runtime here) and a task `w1` whose executor runs
/// `command` in its sandbox (it never registers; its stdout is the sandbox's).
struct Cluster {
    m: mesos_master::MasterHandle,
    agent: mesos_agent::Agent,
    work: PathBuf,
}

async fn cluster_with_task(name: &str, command: &str) -> Cluster {
    let rt = Runtime::start(Config {
        delegate: Some("master".into()),
        ..Config::local()
    })
    .unwrap();
    let flags =
        mesos_master::Flags::parse_from_args(["mesos-master", "--allocation_interval=50ms"])
            .unwrap();
    let m = mesos_master::master::spawn(&rt, flags).unwrap();
    let work = std::env::temp_dir().join(format!("cli-sandbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let agent = mesos_agent::start(
        Config::local(),
        SlaveConfig {
            master: m.upid().clone(),
            resources: mesos_agent::resources::parse("cpus:2;mem:1024;disk:1024").unwrap(),
            attributes: Vec::new(),
            work_dir: work.canonicalize().unwrap(),
            hostname: "localhost".into(),
            launcher_dir: PathBuf::from("/nonexistent"),
            registration_backoff_factor: Duration::from_millis(10),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(1),
            http_command_executor: false,
            max_completed_executors_per_framework: 10,
            flags: Vec::new(),
        },
    )
    .unwrap();
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
                    user: "root".into(),
                    name: "sandbox-test".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let offers = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("offers")
        .expect("offers");
    let o = &offers.offers[0];
    let fid = o.framework_id.clone();
    // An executor that never registers, but writes to its sandbox's stdout as it starts.
    let executor = ExecutorInfo {
        executor_id: ExecutorId {
            value: "writer".into(),
        },
        framework_id: Some(fid.clone()),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        resources: Resources::parse("cpus:0.1;mem:32", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    };
    let mut accept = Call {
        framework_id: Some(FrameworkId {
            value: fid.value.clone(),
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
                    name: "writer-task".into(),
                    task_id: TaskId { value: "w1".into() },
                    slave_id: o.slave_id.clone(),
                    resources: Resources::parse("cpus:0.5;mem:64", "*")
                        .unwrap()
                        .to_protos_pre(),
                    executor: Some(executor),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }],
        filters: None,
    });
    send(&rt, sched.upid(), m.upid(), &accept);
    Cluster { m, agent, work }
}

#[tokio::test]
async fn ls_cat_and_tail_read_the_task_sandbox_through_the_agent() {
    let Cluster { m, agent, work } = cluster_with_task(
        "read",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i; done; sleep 30",
    )
    .await;
    let master = format!("--master={}", m.address());
    let (ls, cat, tail, missing) = tokio::task::spawn_blocking(move || {
        let mut cat = (0, String::new(), String::new());
        let ok = mesos_tests::poll_until(Duration::from_secs(20), || {
            cat = mesos(&[&master, "cat", "w1", "stdout"]);
            cat.1.contains("line12\n")
        });
        assert!(ok, "stdout never had line12: {cat:?}");
        (
            mesos(&[&master, "ls", "w1"]),
            cat,
            mesos(&[&master, "tail", "-n", "2", "w1", "stdout"]),
            mesos(&[&master, "cat", "nope", "stdout"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(ls.0, 0, "{}", ls.2);
    assert!(ls.1.lines().any(|l| l.ends_with(" stdout")), "{}", ls.1);
    assert!(ls.1.lines().any(|l| l.ends_with(" stderr")), "{}", ls.1);
    assert_eq!(cat.0, 0);
    assert!(cat.1.starts_with("line1\nline2\n"), "{}", cat.1);
    assert_eq!(tail, (0, "line11\nline12\n".to_string(), String::new()));
    assert_eq!(missing.0, mesos_cli::EXIT_NOT_FOUND);
    agent.runtime.shutdown();
    m.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_f_follows_a_growing_sandbox_file_and_exits_3_when_its_agent_goes_away() {
    use std::io::BufRead;
    let Cluster { m, agent, work } = cluster_with_task(
        "follow",
        "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done",
    )
    .await;
    let master = format!("--master={}", m.address());
    // The task has started writing.
    let ready = {
        let master = master.clone();
        tokio::task::spawn_blocking(move || {
            mesos_tests::poll_until(Duration::from_secs(20), || {
                mesos(&[&master, "cat", "w1", "stdout"])
                    .1
                    .contains("tick2\n")
            })
        })
        .await
        .unwrap()
    };
    assert!(ready, "the task never wrote");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mesos"))
        .args([master.as_str(), "tail", "-f", "-n", "1", "w1", "stdout"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let tick = |l: &str| l.strip_prefix("tick").and_then(|n| n.parse::<u32>().ok());
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("tail printed nothing");
    let first_n = tick(&first).unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    // Lines written after tail started arrive, in order, with nothing skipped.
    let mut last = first_n;
    while last < first_n + 10 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("tail -f stopped following the file");
        let n = tick(&line).unwrap_or_else(|| panic!("unexpected line {line:?}"));
        assert_eq!(n, last + 1, "followed lines are contiguous");
        last = n;
    }
    // The agent goes away: following fails, and the exit code says it was unreachable.
    agent.runtime.shutdown();
    let code = tokio::task::spawn_blocking(move || {
        let ok = mesos_tests::poll_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ok {
            let _ = child.kill();
        }
        child.wait().ok().and_then(|s| s.code())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(mesos_cli::EXIT_UNREACHABLE));
    m.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
