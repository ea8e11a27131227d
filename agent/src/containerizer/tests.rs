//! The containerizer actor with real isolators and real processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::filter::Matcher;
use libprocess::{Config, Pid, Runtime};
use mesos_isolators::example::{ExampleIsolator, ENV_VAR};
use mesos_isolators::isolator::scalar_resource;
use mesos_isolators::registry::{start_isolators, IsolationFlags};
use mesos_isolators::{parse_isolation, IsolatorHandle, IsolatorProcess};
use mesos_proto::mesos::{CommandInfo, ExecutorId, ExecutorInfo, ResourceStatistics};

use super::*;

fn sandbox(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-cz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(dir: &Path, cmd: &str, mem: f64) -> LaunchSpec {
    LaunchSpec {
        executor: ExecutorInfo {
            executor_id: ExecutorId { value: "e".into() },
            command: Some(CommandInfo {
                value: Some(cmd.into()),
                ..Default::default()
            }),
            resources: vec![scalar_resource("cpus", 0.5), scalar_resource("mem", mem)],
            ..Default::default()
        },
        framework_id: "f".into(),
        agent_id: "a".into(),
        agent_pid: "slave(1)@127.0.0.1:5051".parse().unwrap(),
        directory: dir.to_path_buf(),
        checkpoint: false,
        shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        user: None,
    }
}

fn start(rt: &Runtime, isolation: &str, flags: &IsolationFlags) -> Pid<Containerizer> {
    let handles = start_isolators(rt, &parse_isolation(isolation).unwrap(), flags).unwrap();
    rt.spawn(
        rt.generate_id("mesos-containerizer"),
        Containerizer::new(handles),
    )
    .unwrap()
}

async fn launch(
    cz: &Pid<Containerizer>,
    id: &str,
    spec: LaunchSpec,
) -> Result<Launched, ContainerizerError> {
    let (call, answer) = Call::launch(id, spec);
    send(cz, call);
    answer.await.unwrap()
}

async fn containers(cz: &Pid<Containerizer>) -> Vec<String> {
    let (call, answer) = Call::containers();
    send(cz, call);
    answer.await.unwrap()
}

async fn usage(cz: &Pid<Containerizer>, id: &str) -> ResourceStatistics {
    let (call, answer) = Call::usage(id);
    send(cz, call);
    answer.await.unwrap().unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test]
async fn a_container_that_exits_reports_its_status_and_is_forgotten() {
    let dir = sandbox("exit");
    let rt = Runtime::start(Config::local()).unwrap();
    let cz = start(&rt, "posix/cpu,posix/mem", &IsolationFlags::default());
    let launched = launch(&cz, "c1", spec(&dir, "exit 7", 64.0)).await.unwrap();
    let t = tokio::time::timeout(Duration::from_secs(10), launched.termination)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status.and_then(|s| s.code), Some(7));
    assert_eq!(t.state, None, "no cause: the agent reports the default");
    assert!(t.reasons.is_empty());
    let left = containers(&cz).await;
    assert!(left.is_empty(), "{left:?}");
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn destroy_kills_every_process_of_the_tree_even_one_that_left_the_group() {
    let dir = sandbox("destroy");
    let rt = Runtime::start(Config::local()).unwrap();
    let cz = start(&rt, "posix/cpu,posix/mem", &IsolationFlags::default());
    let cmd = "setsid sleep 300 & echo $! > escaped; sleep 300";
    let launched = launch(&cz, "c2", spec(&dir, cmd, 64.0)).await.unwrap();
    let file = dir.join("escaped");
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(&file)
            .is_ok_and(|s| s.ends_with('\n')))
        .await
    );
    let escaped: i32 = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(escaped));
    let (call, waited) = Call::wait("c2");
    send(&cz, call);
    let waited = waited.await.unwrap().unwrap();
    send(&cz, Call::destroy("c2"));
    let t = tokio::time::timeout(Duration::from_secs(10), launched.termination)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status.and_then(|s| s.signal), Some(libc::SIGKILL));
    assert_eq!(
        waited.await.unwrap(),
        t,
        "every waiter gets the termination"
    );
    // SIGKILL was sent before the termination; dying is the kernel's, and asynchronous.
    assert!(
        eventually(Duration::from_secs(5), || !alive(escaped)).await,
        "the process in its own session survived"
    );
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_limitation_destroys_the_container_with_the_limitations_reason_and_message() {
    let dir = sandbox("limit");
    let rt = Runtime::start(Config::local()).unwrap();
    let flags = IsolationFlags {
        posix_mem_enforce: true,
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let cz = start(&rt, "posix/cpu,posix/mem", &flags);
    let hog = "exec perl -e '$x = \"x\" x (100*1024*1024); sleep 300'";
    let launched = launch(&cz, "c3", spec(&dir, hog, 16.0)).await.unwrap();
    let t = tokio::time::timeout(Duration::from_secs(20), launched.termination)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.state, Some(TaskState::TaskFailed));
    assert_eq!(
        t.reasons,
        vec![task_status::Reason::ContainerLimitationMemory]
    );
    assert!(t.message.as_deref().is_some_and(|m| !m.is_empty()), "{t:?}");
    assert_eq!(t.status.and_then(|s| s.signal), Some(libc::SIGKILL));
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_isolator_that_does_not_answer_isolate_fails_the_launch_and_nothing_runs() {
    let dir = sandbox("silent");
    let rt = Runtime::start(Config::local()).unwrap();
    let pid = IsolatorProcess::spawn(&rt, ExampleIsolator::default()).unwrap();
    let handle = IsolatorHandle::connect(
        &rt,
        "silent",
        pid.upid().clone(),
        Duration::from_millis(300),
    )
    .unwrap();
    rt.filters()
        .drop_all(Matcher::message("mesos_rs.isolator.Isolate"));
    let cz = rt
        .spawn("mesos-containerizer(1)", Containerizer::new(vec![handle]))
        .unwrap();
    let err = launch(&cz, "c4", spec(&dir, "echo ran", 64.0))
        .await
        .err()
        .expect("the launch must fail");
    assert!(
        matches!(
            &err,
            ContainerizerError::Isolate {
                source: HandleError::Timeout { .. },
                ..
            }
        ),
        "{err}"
    );
    let mut left = vec!["c4".to_string()];
    for _ in 0..100 {
        left = containers(&cz).await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(left.is_empty(), "destroyed and forgotten: {left:?}");
    assert_eq!(std::fs::read_to_string(dir.join("stdout")).unwrap(), "");
    let metrics = rt.metrics().snapshot();
    assert_eq!(metrics.get(LAUNCH_ERRORS), Some(&1.0), "{metrics:?}");
    assert_eq!(metrics.get(DESTROY_ERRORS), Some(&0.0), "{metrics:?}");
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn isolators_launch_info_reaches_the_executor_and_usage_merges_every_isolator() {
    let dir = sandbox("usage");
    let rt = Runtime::start(Config::local()).unwrap();
    let example =
        IsolatorHandle::spawn_local(&rt, ExampleIsolator::default(), Duration::from_secs(5))
            .unwrap();
    let mut handles = start_isolators(
        &rt,
        &parse_isolation("posix/cpu,posix/mem").unwrap(),
        &IsolationFlags::default(),
    )
    .unwrap();
    handles.push(example);
    let cz = rt
        .spawn("mesos-containerizer(1)", Containerizer::new(handles))
        .unwrap();
    let cmd = format!("echo ${ENV_VAR} > env; sleep 300");
    let launched = launch(&cz, "c5", spec(&dir, &cmd, 64.0)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_to_string(
            dir.join("env")
        )
        .is_ok_and(|s| !s.trim().is_empty()))
        .await
    );
    let stats = usage(&cz, "c5").await;
    assert_eq!(stats.cpus_limit, Some(0.5));
    assert_eq!(stats.mem_limit_bytes, Some(64 * 1024 * 1024));
    assert!(
        stats.mem_rss_bytes.is_some() && stats.processes.is_some(),
        "{stats:?}"
    );
    let (call, updated) = Call::update(
        "c5",
        vec![scalar_resource("cpus", 1.5), scalar_resource("mem", 128.0)],
    );
    send(&cz, call);
    let updated = updated.await.unwrap();
    assert!(updated.is_ok(), "{updated:?}");
    let stats = usage(&cz, "c5").await;
    assert_eq!(stats.cpus_limit, Some(1.5), "update changed the limits");
    send(&cz, Call::destroy("c5"));
    tokio::time::timeout(Duration::from_secs(10), launched.termination)
        .await
        .unwrap()
        .unwrap();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inspects one isolator actor: the containers it holds and its pending watches.
type Tables = Box<dyn Fn() -> futures::future::BoxFuture<'static, (Vec<ContainerId>, usize)>>;

fn spawn_inspected<I: mesos_isolators::Isolator>(rt: &Runtime, iso: I) -> (IsolatorHandle, Tables) {
    let name = iso.name().to_string();
    let pid = IsolatorProcess::spawn(rt, iso).unwrap();
    let handle =
        IsolatorHandle::connect(rt, name, pid.upid().clone(), Duration::from_secs(5)).unwrap();
    let tables: Tables = Box::new(move || {
        let pid = pid.clone();
        Box::pin(async move {
            pid.call("tables", |p, _| {
                (
                    mesos_isolators::Isolator::containers(p.isolator()),
                    p.pending_watches(),
                )
            })
            .await
            .unwrap()
        })
    });
    (handle, tables)
}

#[tokio::test]
async fn launching_and_destroying_many_containers_leaves_no_entry_in_handles_or_isolators() {
    use mesos_isolators::{disk, example, filesystem, posix};
    let dir = sandbox("noleak");
    let rt = Runtime::start(Config::local()).unwrap();
    let poll = Duration::from_millis(50);
    let (mut handles, mut tables) = (Vec::new(), Vec::new());
    for (h, t) in [
        spawn_inspected(&rt, posix::PosixCpu::default()),
        spawn_inspected(&rt, posix::PosixMem::new(true, poll)),
        spawn_inspected(&rt, disk::DiskDu::new(poll, true)),
        spawn_inspected(&rt, filesystem::PosixFilesystem::default()),
        spawn_inspected(&rt, example::ExampleIsolator::default()),
    ] {
        handles.push(h);
        tables.push(t);
    }
    let cz = rt
        .spawn(
            "mesos-containerizer(1)",
            Containerizer::new(handles.clone()),
        )
        .unwrap();
    const N: usize = 8;
    for i in 0..N {
        let sub = dir.join(format!("c{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut s = spec(&sub, "sleep 300", 64.0);
        s.executor.resources.push(scalar_resource("disk", 100.0));
        let id = format!("c{i}");
        let launched = launch(&cz, &id, s).await.unwrap();
        // Every isolator now watches the container (the watch calls are on their way).
        for t in &tables {
            let mut seen = t().await;
            for _ in 0..250 {
                if seen.1 == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                seen = t().await;
            }
            assert_eq!((seen.0.len(), seen.1), (1, 1), "{:?}", seen.0);
        }
        send(&cz, Call::destroy(id));
        tokio::time::timeout(Duration::from_secs(10), launched.termination)
            .await
            .unwrap()
            .unwrap();
    }
    let left = containers(&cz).await;
    assert!(left.is_empty(), "{left:?}");
    for (h, t) in handles.iter().zip(&tables) {
        assert_eq!(h.outstanding().await.unwrap(), 0, "{} client", h.name());
        let (containers, watches) = t().await;
        assert!(containers.is_empty(), "{}: {containers:?}", h.name());
        assert_eq!(watches, 0, "{} pending watches", h.name());
    }
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--switch_user` as root: `filesystem/posix` gives the sandbox to the task's user and
/// the executor runs as that user; with the flag off the user is ignored.
#[tokio::test]
async fn with_switch_user_the_executor_runs_as_the_tasks_user_in_a_sandbox_it_owns() {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: switching users needs the agent to run as root");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        eprintln!("SKIPPED: no 'nobody' user on this machine");
        return;
    };
    let rt = Runtime::start(Config::local()).unwrap();
    let flags = IsolationFlags::default();
    let isolation = parse_isolation("filesystem/posix,posix/cpu").unwrap();
    for (switch, expected) in [(true, "nobody"), (false, "root")] {
        let dir = sandbox(&format!("user-{switch}"));
        let handles = start_isolators(&rt, &isolation, &flags).unwrap();
        let cz = rt
            .spawn(
                rt.generate_id("mesos-containerizer"),
                Containerizer::new(handles).switch_user(switch),
            )
            .unwrap();
        let mut s = spec(&dir, "id -un > whoami", 64.0);
        s.user = Some("nobody".into());
        let launched = launch(&cz, "u1", s).await.unwrap();
        let t = tokio::time::timeout(Duration::from_secs(10), launched.termination)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.status.and_then(|s| s.code), Some(0), "{t:?}");
        let whoami = std::fs::read_to_string(dir.join("whoami")).unwrap();
        assert_eq!(whoami.trim(), expected, "switch_user={switch}");
        let owner = std::fs::metadata(&dir).unwrap().uid();
        let expected_owner = if switch { nobody.uid.as_raw() } else { 0 };
        assert_eq!(owner, expected_owner, "sandbox owner, switch_user={switch}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    rt.shutdown();
}

#[tokio::test]
async fn with_switch_user_an_unknown_user_fails_the_launch_naming_the_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: switching users needs the agent to run as root");
        return;
    }
    let dir = sandbox("nouser");
    let rt = Runtime::start(Config::local()).unwrap();
    let cz = start(&rt, "posix/cpu", &IsolationFlags::default());
    let mut s = spec(&dir, "echo ran > ran", 64.0);
    s.user = Some("no-such-user-mesos-rs".into());
    let err = launch(&cz, "u2", s)
        .await
        .err()
        .expect("the launch must fail");
    let text = err.to_string();
    assert!(
        matches!(err, ContainerizerError::Launch(LaunchError::User { .. })),
        "{text}"
    );
    assert!(text.contains("no-such-user-mesos-rs"), "{text}");
    assert!(!dir.join("ran").exists(), "nothing ran");
    rt.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
