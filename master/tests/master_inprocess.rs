//! The master in one process with peer processes standing in for an agent and a v0
//! scheduler, on a paused clock: health checks, validation, filters.

mod common;

use std::time::Duration;

use common::{advance, master, metric, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use libprocess::{Matcher, Upid};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, LostSlaveMessage, RegisterSlaveMessage, ResourceOffersMessage,
    RunTaskMessage, SlaveRegisteredMessage, StatusUpdate, StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    offer, task_status, CommandInfo, ExecutorId, ExecutorInfo, Filters, FrameworkId, FrameworkInfo,
    Offer, OfferId, SlaveInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};

fn slave_info() -> SlaveInfo {
    SlaveInfo {
        hostname: "localhost".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    }
}

async fn register_agent(m: &MasterHandle, id: &str) -> (PeerHandle, String) {
    let mut agent = peer(&m.runtime, id, AGENT_MESSAGES);
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: slave_info(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (from, reg) = agent.expect::<SlaveRegisteredMessage>().await;
    assert_eq!(&from, m.upid());
    (agent, reg.slave_id.value)
}

async fn subscribe(m: &MasterHandle, id: &str, info: FrameworkInfo) -> (PeerHandle, String) {
    let mut sched = peer(&m.runtime, id, SCHEDULER_MESSAGES);
    let call = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    };
    sched.send(m.upid(), &call);
    let (_, reg) = sched.expect::<FrameworkRegisteredMessage>().await;
    (sched, reg.framework_id.value)
}

fn framework_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "test".into(),
        name: "test-framework".into(),
        ..Default::default()
    }
}

/// Advances the clock an allocation interval at a time until offers arrive.
async fn next_offers(m: &MasterHandle, sched: &mut PeerHandle) -> ResourceOffersMessage {
    for _ in 0..20 {
        advance(&m.runtime, Duration::from_secs(1)).await;
        if let Some(offers) = sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
            .await
        {
            return offers;
        }
    }
    panic!("no offers after 20 allocation intervals");
}

fn call_of(framework_id: &str, t: call::Type) -> Call {
    Call {
        framework_id: Some(FrameworkId {
            value: framework_id.into(),
        }),
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn accept(framework_id: &str, offer_ids: Vec<OfferId>, tasks: Vec<TaskInfo>) -> Call {
    let mut c = call_of(framework_id, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids,
        operations: vec![offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch { task_infos: tasks }),
            ..Default::default()
        }],
        filters: None,
    });
    c
}

fn task(id: &str, offer: &Offer, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        slave_id: offer.slave_id.clone(),
        resources: Resources::parse(resources, "*").unwrap().to_protos_pre(),
        command: Some(CommandInfo {
            value: Some("echo ok".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn agent_stays_registered_while_it_pongs_and_is_removed_after_max_missed_pongs() {
    let m = master(&["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=3"]);
    let (_agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, _fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    for _ in 0..5 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert_eq!(
        metric(&m.runtime, "master/slaves_active"),
        1.0,
        "an agent that pongs stays"
    );

    m.runtime
        .filters()
        .drop_all(Matcher::message("mesos.internal.PongSlaveMessage"));
    for _ in 0..4 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert_eq!(metric(&m.runtime, "master/slaves_active"), 0.0);
    assert_eq!(metric(&m.runtime, "master/slave_removals"), 1.0);
    assert_eq!(metric(&m.runtime, "master/slaves_unreachable"), 1.0);
    let (_, lost) = sched.expect::<LostSlaveMessage>().await;
    assert_eq!(lost.slave_id.value, agent_id);
    m.shutdown();
}

#[tokio::test]
async fn agent_with_a_pre_1_0_version_is_ignored_and_a_retry_gets_the_same_id() {
    let m = master(&[]);
    let mut old = peer(&m.runtime, "slave(9)", AGENT_MESSAGES);
    old.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: slave_info(),
            version: Some("0.28.0".into()),
            ..Default::default()
        },
    );
    assert!(old
        .maybe::<SlaveRegisteredMessage>(Duration::from_millis(300))
        .await
        .is_none());

    let (mut agent, id) = register_agent(&m, "slave(1)").await;
    assert!(
        id.starts_with(&m.info.id) && id.ends_with("-S0"),
        "agent id {id}"
    );
    agent.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: slave_info(),
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, again) = agent.expect::<SlaveRegisteredMessage>().await;
    assert_eq!(again.slave_id.value, id);
    agent.drain();
    advance(&m.runtime, Duration::from_secs(15)).await;
    let (from, ping) = agent
        .expect::<mesos_proto::mesos::internal::PingSlaveMessage>()
        .await;
    assert!(ping.connected);
    assert!(
        from.id.starts_with("slave-observer("),
        "pings come from the observer, not {from}"
    );
    m.shutdown();
}

#[tokio::test]
async fn invalid_tasks_get_task_error_and_invalid_offers_task_lost_with_reasons() {
    let m = master(&[]);
    let (mut agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offers = next_offers(&m, &mut sched).await;
    assert_eq!(offers.offers.len(), offers.pids.len());
    assert_eq!(offers.pids[0], agent.upid().to_string());
    let offer = offers.offers[0].clone();

    // Both command and executor: the genuine agent would abort on it.
    let mut both = task("both", &offer, "cpus:0.1;mem:32");
    both.executor = Some(ExecutorInfo {
        executor_id: ExecutorId { value: "e".into() },
        command: Some(CommandInfo {
            value: Some("x".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let too_big = task("too-big", &offer, "cpus:100;mem:32");
    let good = task("good", &offer, "cpus:0.5;mem:64");
    let dup = task("good", &offer, "cpus:0.1;mem:32");
    sched.send(
        m.upid(),
        &accept(&fid, vec![offer.id.clone()], vec![both, too_big, good, dup]),
    );

    let mut errors = Vec::new();
    for _ in 0..3 {
        let (_, u) = sched.expect::<StatusUpdateMessage>().await;
        assert_eq!(u.update.status.state(), TaskState::TaskError);
        assert_eq!(u.update.status.reason(), task_status::Reason::TaskInvalid);
        assert_eq!(u.update.status.source(), task_status::Source::Master);
        assert!(
            u.update.uuid.is_none(),
            "master-generated updates need no ack"
        );
        errors.push(u.update.status.task_id.value);
    }
    errors.sort();
    assert_eq!(
        errors,
        ["both", "good", "too-big"],
        "the duplicate id is the second 'good'"
    );
    let (from, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(&from, m.upid());
    assert_eq!(run.task.task_id.value, "good");
    assert_eq!(
        run.framework.id.as_ref().map(|i| i.value.as_str()),
        Some(fid.as_str())
    );
    assert_eq!(run.pid.as_deref(), Some(sched.upid().to_string().as_str()));

    // The offer is used up: accepting it again is an invalid offer.
    sched.send(
        m.upid(),
        &accept(
            &fid,
            vec![offer.id.clone()],
            vec![task("late", &offer, "cpus:0.1")],
        ),
    );
    let (_, u) = sched.expect::<StatusUpdateMessage>().await;
    assert_eq!(u.update.status.state(), TaskState::TaskLost);
    assert_eq!(u.update.status.reason(), task_status::Reason::InvalidOffers);
    m.shutdown();
}

#[tokio::test]
async fn agent_status_updates_reach_the_framework_and_acks_reach_the_agent() {
    let m = master(&[]);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    sched.send(
        m.upid(),
        &accept(
            &fid,
            vec![offer.id.clone()],
            vec![task("t1", &offer, "cpus:1;mem:128")],
        ),
    );
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(metric(&m.runtime, "master/tasks_staging"), 1.0);

    let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
    let status = TaskStatus {
        task_id: run.task.task_id.clone(),
        state: TaskState::TaskFinished as i32,
        uuid: Some(uuid.clone()),
        ..Default::default()
    };
    let update = StatusUpdate {
        framework_id: FrameworkId { value: fid.clone() },
        slave_id: Some(mesos_proto::mesos::SlaveId {
            value: agent_id.clone(),
        }),
        status,
        timestamp: 1.0,
        uuid: Some(uuid.clone()),
        ..Default::default()
    };
    // Without a pid the update is dropped (genuine masters abort on it).
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update: update.clone(),
            pid: None,
        },
    );
    agent.send(
        m.upid(),
        &StatusUpdateMessage {
            update,
            pid: Some(agent.upid().to_string()),
        },
    );
    let (_, forwarded) = sched.expect::<StatusUpdateMessage>().await;
    assert_eq!(
        forwarded.pid.as_deref(),
        Some(agent.upid().to_string().as_str())
    );
    assert_eq!(forwarded.update.status.state(), TaskState::TaskFinished);
    assert_eq!(metric(&m.runtime, "master/tasks_finished"), 1.0);
    assert_eq!(metric(&m.runtime, "master/invalid_status_updates"), 1.0);

    let mut ack = call_of(&fid, call::Type::Acknowledge);
    ack.acknowledge = Some(call::Acknowledge {
        slave_id: mesos_proto::mesos::SlaveId { value: agent_id },
        task_id: TaskId { value: "t1".into() },
        uuid: uuid.clone(),
    });
    sched.send(m.upid(), &ack);
    let (_, relayed) = agent
        .expect::<mesos_proto::mesos::internal::StatusUpdateAcknowledgementMessage>()
        .await;
    assert_eq!(relayed.uuid, uuid);
    assert_eq!(relayed.framework_id.value, fid);
    m.shutdown();
}

#[tokio::test]
async fn declined_resources_are_not_reoffered_to_the_framework_until_the_filter_expires() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offers = next_offers(&m, &mut sched).await;
    let mut decline = call_of(&fid, call::Type::Decline);
    decline.decline = Some(call::Decline {
        offer_ids: offers.offers.iter().map(|o| o.id.clone()).collect(),
        filters: Some(Filters {
            refuse_seconds: Some(10.0),
        }),
    });
    sched.send(m.upid(), &decline);
    for _ in 0..8 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert!(
        sched
            .maybe::<ResourceOffersMessage>(Duration::from_millis(100))
            .await
            .is_none(),
        "re-offered within the 10 s filter"
    );
    let again = next_offers(&m, &mut sched).await;
    assert_eq!(again.offers[0].slave_id, offers.offers[0].slave_id);
    m.shutdown();
}

#[tokio::test]
async fn calls_from_a_pid_other_than_the_frameworks_are_dropped() {
    let m = master(&[]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let intruder = peer(&m.runtime, "intruder", SCHEDULER_MESSAGES);
    intruder.send(m.upid(), &call_of(&fid, call::Type::Teardown));
    advance(&m.runtime, Duration::from_millis(10)).await;
    assert_eq!(metric(&m.runtime, "master/frameworks_active"), 1.0);
    assert!(metric(&m.runtime, "master/dropped_messages") >= 1.0);
    // The real framework can still use its offer.
    sched.send(m.upid(), &accept(&fid, vec![offer.id], vec![]));
    sched.send(m.upid(), &call_of(&fid, call::Type::Teardown));
    advance(&m.runtime, Duration::from_millis(10)).await;
    assert_eq!(metric(&m.runtime, "master/frameworks_active"), 0.0);
    m.shutdown();
}

#[tokio::test]
async fn garbage_messages_to_every_master_handler_never_crash_it() {
    let m = master(&[]);
    let junk = peer(&m.runtime, "junk", SCHEDULER_MESSAGES);
    let names = [
        "mesos.internal.RegisterSlaveMessage",
        "mesos.internal.ReregisterSlaveMessage",
        "mesos.internal.UnregisterSlaveMessage",
        "mesos.internal.StatusUpdateMessage",
        "mesos.internal.ExitedExecutorMessage",
        "mesos.internal.ExecutorToFrameworkMessage",
        "mesos.internal.RegisterFrameworkMessage",
        "mesos.internal.ReregisterFrameworkMessage",
        "mesos.internal.UnregisterFrameworkMessage",
        "mesos.internal.DeactivateFrameworkMessage",
        "mesos.internal.ReviveOffersMessage",
        "mesos.internal.KillTaskMessage",
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        "mesos.internal.ReconcileTasksMessage",
        "mesos.internal.LaunchTasksMessage",
        "mesos.scheduler.Call",
        "mesos.internal.NoSuchMessage",
    ];
    let bodies: [&[u8]; 5] = [
        b"",
        b"\xff\xff\xff\xff",
        b"\x0a\x05hello",
        b"\x08\x01\x12\x00",
        b"\x0a\x00\x12\x00\x1a\x00",
    ];
    for name in names {
        for body in bodies {
            junk.send_raw(m.upid(), name, bytes::Bytes::from_static(body));
        }
    }
    // Well-formed but meaningless: calls for unknown frameworks, offers that never existed.
    junk.send(
        m.upid(),
        &accept(
            "nope",
            vec![OfferId {
                value: "nope".into(),
            }],
            vec![],
        ),
    );
    junk.send(m.upid(), &call_of("nope", call::Type::Reconcile));
    advance(&m.runtime, Duration::from_secs(2)).await;
    let alive = m.pid.call("alive", |_, _| true).await;
    assert!(
        matches!(alive, Ok(true)),
        "master stopped after garbage input"
    );
    let addr = m.address();
    let health =
        tokio::task::spawn_blocking(move || common::http(addr, "GET", "/health", &[], b""))
            .await
            .unwrap();
    assert_eq!(health.status, 200);
    let _ = Upid::parse("master@127.0.0.1:1");
    m.shutdown();
}

#[tokio::test]
async fn offers_are_rescinded_after_the_offer_timeout_and_offered_again() {
    let m = master(&["--offer_timeout=30secs"]);
    let (_agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, _fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let first = next_offers(&m, &mut sched).await;
    advance(&m.runtime, Duration::from_secs(30)).await;
    let (_, rescind) = sched
        .expect::<mesos_proto::mesos::internal::RescindResourceOfferMessage>()
        .await;
    assert_eq!(rescind.offer_id, first.offers[0].id);
    let again = next_offers(&m, &mut sched).await;
    assert_ne!(again.offers[0].id, first.offers[0].id);
    m.shutdown();
}

#[tokio::test]
async fn a_disconnected_agent_is_not_offered_until_it_reregisters_with_its_id() {
    let m = master(&[]);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    let (mut sched, _fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let first = next_offers(&m, &mut sched).await;
    // The agent process goes away: its link breaks, its offer is rescinded.
    agent.pid.terminate();
    let (_, rescind) = sched
        .expect::<mesos_proto::mesos::internal::RescindResourceOfferMessage>()
        .await;
    assert_eq!(rescind.offer_id, first.offers[0].id);
    assert_eq!(metric(&m.runtime, "master/slaves_disconnected"), 1.0);
    for _ in 0..3 {
        advance(&m.runtime, Duration::from_secs(1)).await;
    }
    assert!(sched
        .maybe::<ResourceOffersMessage>(Duration::from_millis(100))
        .await
        .is_none());

    // It comes back (new process, same id) and re-registers.
    let mut back = peer(&m.runtime, "slave(2)", AGENT_MESSAGES);
    let mut info = slave_info();
    info.id = Some(mesos_proto::mesos::SlaveId {
        value: agent_id.clone(),
    });
    back.send(
        m.upid(),
        &mesos_proto::mesos::internal::ReregisterSlaveMessage {
            slave: info,
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    let (_, rereg) = back
        .expect::<mesos_proto::mesos::internal::SlaveReregisteredMessage>()
        .await;
    assert_eq!(rereg.slave_id.value, agent_id);
    let again = next_offers(&m, &mut sched).await;
    assert_eq!(again.pids[0], back.upid().to_string());
    agent.drain();
    m.shutdown();
}

#[tokio::test]
async fn a_driver_retrying_subscribe_from_the_same_pid_gets_the_same_framework_id() {
    let m = master(&[]);
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let retry = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: framework_info(),
            ..Default::default()
        }),
        ..Default::default()
    };
    sched.send(m.upid(), &retry);
    let (_, again) = sched.expect::<FrameworkRegisteredMessage>().await;
    assert_eq!(again.framework_id.value, fid);
    assert!(fid.ends_with("-0000"), "framework id {fid}");
    assert_eq!(metric(&m.runtime, "master/frameworks_active"), 1.0);
    m.shutdown();
}

#[tokio::test]
async fn launch_group_sends_run_task_group_to_the_agent() {
    let m = master(&[]);
    let (mut agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let executor = ExecutorInfo {
        r#type: Some(mesos_proto::mesos::executor_info::Type::Default as i32),
        executor_id: ExecutorId {
            value: "group-executor".into(),
        },
        resources: Resources::parse("cpus:0.1;mem:32", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    };
    let group = mesos_proto::mesos::TaskGroupInfo {
        tasks: vec![
            task("g1", &offer, "cpus:0.5;mem:64"),
            task("g2", &offer, "cpus:0.5;mem:64"),
        ],
    };
    let mut c = call_of(&fid, call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![offer::Operation {
            r#type: Some(offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(offer::operation::LaunchGroup {
                executor,
                task_group: group,
            }),
            ..Default::default()
        }],
        filters: None,
    });
    sched.send(m.upid(), &c);
    let (_, run) = agent
        .expect::<mesos_proto::mesos::internal::RunTaskGroupMessage>()
        .await;
    assert_eq!(run.task_group.tasks.len(), 2);
    assert_eq!(
        run.executor.framework_id.as_ref().map(|f| f.value.as_str()),
        Some(fid.as_str())
    );
    assert_eq!(metric(&m.runtime, "master/tasks_staging"), 2.0);
    m.shutdown();
}

#[tokio::test]
async fn launches_carry_the_resource_version_the_agent_announced_last() {
    use mesos_proto::mesos::internal::UpdateSlaveMessage;
    use mesos_proto::mesos::{SlaveId, Uuid};
    let m = master(&[]);
    let (mut agent, agent_id) = register_agent(&m, "slave(1)").await;
    // The helper's agent announced no version: launches carry none (as genuine masters).
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let t = task("t1", &offer, "cpus:0.5;mem:64");
    sched.send(m.upid(), &accept(&fid, vec![offer.id.clone()], vec![t]));
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert!(run.resource_version_uuids.is_empty());

    let version = vec![9u8; 16];
    agent.send(
        m.upid(),
        &UpdateSlaveMessage {
            slave_id: SlaveId {
                value: agent_id.clone(),
            },
            resource_version_uuid: Some(Uuid {
                value: version.clone(),
            }),
            ..Default::default()
        },
    );
    let offer = next_offers(&m, &mut sched).await.offers[0].clone();
    let t = task("t2", &offer, "cpus:0.5;mem:64");
    sched.send(m.upid(), &accept(&fid, vec![offer.id.clone()], vec![t]));
    let (_, run) = agent.expect::<RunTaskMessage>().await;
    assert_eq!(run.resource_version_uuids.len(), 1);
    assert!(run.resource_version_uuids[0].resource_provider_id.is_none());
    assert_eq!(run.resource_version_uuids[0].uuid.value, version);
    m.shutdown();
}

#[tokio::test]
async fn run_task_group_asks_for_a_new_executor_only_for_the_first_group_on_it() {
    use mesos_proto::mesos::internal::RunTaskGroupMessage;
    let m = master(&[]);
    let (mut agent, _) = register_agent(&m, "slave(1)").await;
    let (mut sched, fid) = subscribe(&m, "scheduler-1", framework_info()).await;
    let executor = ExecutorInfo {
        r#type: Some(mesos_proto::mesos::executor_info::Type::Default as i32),
        executor_id: ExecutorId {
            value: "group-executor".into(),
        },
        resources: Resources::parse("cpus:0.1;mem:32", "*")
            .unwrap()
            .to_protos_pre(),
        ..Default::default()
    };
    let mut flags = Vec::new();
    for name in ["g1", "g2"] {
        let offer = next_offers(&m, &mut sched).await.offers[0].clone();
        let mut c = call_of(&fid, call::Type::Accept);
        c.accept = Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(offer::operation::LaunchGroup {
                    executor: executor.clone(),
                    task_group: mesos_proto::mesos::TaskGroupInfo {
                        tasks: vec![task(name, &offer, "cpus:0.5;mem:64")],
                    },
                }),
                ..Default::default()
            }],
            filters: None,
        });
        sched.send(m.upid(), &c);
        let (_, run) = agent.expect::<RunTaskGroupMessage>().await;
        flags.push(run.launch_executor);
    }
    assert_eq!(flags, vec![Some(true), Some(false)]);
    m.shutdown();
}
