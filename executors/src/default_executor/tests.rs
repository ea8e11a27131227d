use super::*;
use crate::http_executor::Endpoint;
use mesos_proto::mesos::v1::executor::event;

fn executor(sandbox: PathBuf) -> (DefaultExecutor, UnboundedReceiver<Input>) {
    let env = ExecutorEnv::from_lookup(|k| match k {
        "MESOS_FRAMEWORK_ID" => Some("F".to_string()),
        "MESOS_EXECUTOR_ID" => Some("E".to_string()),
        "MESOS_SLAVE_PID" => Some("slave(1)@127.0.0.1:1".to_string()),
        "MESOS_AGENT_ENDPOINT" => Some("127.0.0.1:1".to_string()),
        _ => None,
    })
    .unwrap();
    let client = Client::new(
        Endpoint {
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/slave(1)/api/v1/executor".into(),
        },
        "F",
        "E",
    );
    let (tx, rx) = unbounded_channel();
    (
        DefaultExecutor {
            env,
            client,
            tx,
            sandbox,
            framework: None,
            tasks: BTreeMap::new(),
            groups: 0,
            subscribed: true,
            ever_subscribed: true,
            backoff: SUBSCRIPTION_BACKOFF,
            shutting_down: false,
            agent_gone: false,
            exit_code: None,
            command_mode: false,
        },
        rx,
    )
}

fn shell_task(id: &str, cmd: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        command: Some(mesos_proto::mesos::v1::CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn states(ex: &DefaultExecutor, id: &str) -> Vec<TaskState> {
    ex.client
        .unacknowledged_updates()
        .iter()
        .filter(|u| u.status.task_id.value == id)
        .map(|u| u.status.state())
        .collect()
}

/// Drives the loop (without an agent: updates stay unacknowledged) until `done`.
async fn drive(
    ex: &mut DefaultExecutor,
    rx: &mut UnboundedReceiver<Input>,
    done: impl Fn(&DefaultExecutor) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(ex) {
        let input = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("timed out")
            .expect("channel closed");
        ex.step(input).await;
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("default-executor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_failing_task_takes_its_group_down() {
    let dir = scratch("fail");
    let (mut ex, mut rx) = executor(dir.clone());
    ex.launch_group(vec![
        shell_task("bad", "exit 3"),
        shell_task("sleeper", "sleep 30"),
    ])
    .await;
    drive(&mut ex, &mut rx, |ex| ex.tasks.values().all(|t| t.terminal)).await;
    assert_eq!(
        states(&ex, "bad"),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFailed
        ]
    );
    assert_eq!(
        states(&ex, "sleeper"),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilled
        ]
    );
    let failed = ex
        .client
        .unacknowledged_updates()
        .iter()
        .find(|u| u.status.state() == TaskState::TaskFailed)
        .unwrap();
    assert_eq!(
        failed.status.message.as_deref(),
        Some("Command exited with status 3")
    );
    // Unacknowledged updates keep the executor alive.
    ex.check_done();
    assert_eq!(ex.exit_code, None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn tasks_run_in_their_own_sandbox_directories() {
    let dir = scratch("sandbox");
    let (mut ex, mut rx) = executor(dir.clone());
    ex.launch_group(vec![
        shell_task("one", "echo $MESOS_SANDBOX; pwd"),
        shell_task("two", "echo two"),
    ])
    .await;
    drive(&mut ex, &mut rx, |ex| ex.tasks.values().all(|t| t.terminal)).await;
    assert_eq!(states(&ex, "one").last(), Some(&TaskState::TaskFinished));
    assert_eq!(states(&ex, "two").last(), Some(&TaskState::TaskFinished));
    let out = std::fs::read_to_string(dir.join("tasks/one/stdout")).unwrap();
    let want = dir.join("tasks/one");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], want.display().to_string());
    assert_eq!(
        PathBuf::from(lines[1]).canonicalize().unwrap(),
        want.canonicalize().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tasks/two/stdout")).unwrap(),
        "two\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn kill_ends_one_task_and_then_its_group_and_acks_let_the_executor_exit() {
    let dir = scratch("kill");
    let (mut ex, mut rx) = executor(dir.clone());
    ex.launch_group(vec![
        shell_task("a", "sleep 30"),
        shell_task("b", "sleep 30"),
    ])
    .await;
    ex.incoming(Incoming::Kill {
        task_id: TaskId { value: "a".into() },
        grace: Some(Duration::from_secs(5)),
    })
    .await;
    drive(&mut ex, &mut rx, |ex| ex.tasks.values().all(|t| t.terminal)).await;
    assert_eq!(states(&ex, "a").last(), Some(&TaskState::TaskKilled));
    assert_eq!(states(&ex, "b").last(), Some(&TaskState::TaskKilled));
    // Acknowledge everything: the executor is done.
    let acks: Vec<_> = ex
        .client
        .unacknowledged_updates()
        .iter()
        .map(|u| (u.status.task_id.clone(), u.status.uuid.clone().unwrap()))
        .collect();
    for (task_id, uuid) in acks {
        ex.step(Input::Event(Box::new(
            mesos_proto::mesos::v1::executor::Event {
                r#type: Some(event::Type::Acknowledged as i32),
                acknowledged: Some(event::Acknowledged { task_id, uuid }),
                ..Default::default()
            },
        )))
        .await;
    }
    assert_eq!(ex.exit_code, Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn as_the_http_command_executor_a_plain_launch_runs_in_the_sandbox() {
    let dir = scratch("command-mode");
    let (mut ex, mut rx) = executor(dir.clone());
    ex.command_mode = true;
    ex.incoming(Incoming::Launch(Box::new(shell_task(
        "c",
        "echo in-sandbox > out",
    ))))
    .await;
    drive(&mut ex, &mut rx, |ex| ex.tasks.values().all(|t| t.terminal)).await;
    assert_eq!(
        states(&ex, "c"),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out")).unwrap(),
        "in-sandbox\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn plain_launch_is_refused_with_task_failed() {
    let (mut ex, _rx) = executor(scratch("launch"));
    ex.incoming(Incoming::Launch(Box::new(shell_task("x", "true"))))
        .await;
    assert_eq!(states(&ex, "x"), vec![TaskState::TaskFailed]);
}
