//! Removing a framework, whichever way (TEARDOWN call, UnregisterFrameworkMessage, failover
//! timeout, operator `/teardown`), sends `ShutdownFrameworkMessage` to every registered
//! agent, as genuine Mesos's Master::removeFramework does.

mod common;

use std::time::Duration;

use common::{advance, http, master, peer, PeerHandle, AGENT_MESSAGES, SCHEDULER_MESSAGES};
use mesos_allocator::Resources;
use mesos_master::MasterHandle;
use mesos_proto::mesos::internal::{
    FrameworkRegisteredMessage, RegisterSlaveMessage, ResourceOffersMessage,
    ShutdownFrameworkMessage, SlaveRegisteredMessage, UnregisterFrameworkMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{FrameworkId, FrameworkInfo, SlaveInfo};

async fn agent(m: &MasterHandle, id: &str) -> PeerHandle {
    let mut a = peer(&m.runtime, id, AGENT_MESSAGES);
    a.send(
        m.upid(),
        &RegisterSlaveMessage {
            slave: SlaveInfo {
                hostname: "localhost".into(),
                resources: Resources::parse("cpus:1;mem:512", "*")
                    .unwrap()
                    .to_protos_pre(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        },
    );
    a.expect::<SlaveRegisteredMessage>().await;
    a
}

async fn framework(m: &MasterHandle, failover_timeout: f64) -> (PeerHandle, String) {
    let mut s = peer(&m.runtime, "scheduler-1", SCHEDULER_MESSAGES);
    s.send(
        m.upid(),
        &Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: FrameworkInfo {
                    user: "test".into(),
                    name: "removed".into(),
                    failover_timeout: Some(failover_timeout),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let (_, reg) = s.expect::<FrameworkRegisteredMessage>().await;
    (s, reg.framework_id.value)
}

#[derive(Debug, Clone, Copy)]
enum Removal {
    TeardownCall,
    Unregister,
    FailoverTimeout,
    Operator,
}

/// A master with two agents and one framework, removed the given way; both agents must
/// hear ShutdownFrameworkMessage for it.
async fn removal_reaches_every_agent(how: Removal) {
    let m = master(&[]);
    let mut agents = [agent(&m, "slave(1)").await, agent(&m, "slave(2)").await];
    let (sched, fid) = framework(&m, 10.0).await;
    let framework_id = FrameworkId { value: fid.clone() };
    match how {
        Removal::TeardownCall => sched.send(
            m.upid(),
            &Call {
                framework_id: Some(framework_id.clone()),
                r#type: Some(call::Type::Teardown as i32),
                ..Default::default()
            },
        ),
        Removal::Unregister => sched.send(
            m.upid(),
            &UnregisterFrameworkMessage {
                framework_id: framework_id.clone(),
            },
        ),
        Removal::FailoverTimeout => {
            // Take the offers first: a process terminated with messages still queued would
            // leave `Clock::settle` waiting forever (they are never handled).
            let mut sched = sched;
            for _ in 0..20 {
                advance(&m.runtime, Duration::from_secs(1)).await;
                if sched
                    .maybe::<ResourceOffersMessage>(Duration::from_millis(50))
                    .await
                    .is_some()
                {
                    break;
                }
            }
            // The driver goes away; nothing is shut down before its failover timeout.
            m.runtime.terminate(&sched.upid().id);
            for _ in 0..200 {
                if common::metric(&m.runtime, "master/frameworks_connected") == 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                common::metric(&m.runtime, "master/frameworks_connected"),
                0.0
            );
            advance(&m.runtime, Duration::from_secs(9)).await;
            for a in &mut agents {
                assert!(
                    a.maybe::<ShutdownFrameworkMessage>(Duration::from_millis(100))
                        .await
                        .is_none(),
                    "shut down before the failover timeout"
                );
            }
            advance(&m.runtime, Duration::from_secs(2)).await;
        }
        Removal::Operator => {
            let addr = m.address();
            let body = format!("frameworkId={fid}");
            let reply = tokio::task::spawn_blocking(move || {
                http(addr, "POST", "/master/teardown", &[], body.as_bytes())
            })
            .await
            .unwrap();
            assert_eq!(reply.status, 200);
        }
    }
    for a in &mut agents {
        let (from, msg) = a.expect::<ShutdownFrameworkMessage>().await;
        assert_eq!(&from, m.upid(), "{how:?}");
        assert_eq!(msg.framework_id, framework_id, "{how:?}");
    }
    m.shutdown();
}

#[tokio::test]
async fn teardown_call_sends_shutdown_framework_to_every_agent() {
    removal_reaches_every_agent(Removal::TeardownCall).await;
}

#[tokio::test]
async fn unregister_framework_message_sends_shutdown_framework_to_every_agent() {
    removal_reaches_every_agent(Removal::Unregister).await;
}

#[tokio::test]
async fn failover_timeout_sends_shutdown_framework_to_every_agent() {
    removal_reaches_every_agent(Removal::FailoverTimeout).await;
}

#[tokio::test]
async fn operator_teardown_sends_shutdown_framework_to_every_agent() {
    removal_reaches_every_agent(Removal::Operator).await;
}

#[tokio::test]
async fn operator_teardown_answers_405_and_400_like_genuine_mesos() {
    let m = master(&[]);
    let addr = m.address();
    let replies = tokio::task::spawn_blocking(move || {
        [
            http(addr, "GET", "/master/teardown", &[], b""),
            http(addr, "POST", "/master/teardown", &[], b""),
            http(addr, "POST", "/master/teardown", &[], b"frameworkId=nope"),
        ]
    })
    .await
    .unwrap();
    let got: Vec<(u16, String)> = replies
        .iter()
        .map(|r| (r.status, String::from_utf8_lossy(&r.body).to_string()))
        .collect();
    assert_eq!(got[0].0, 405);
    assert_eq!(
        got[1],
        (
            400,
            "Missing 'frameworkId' query parameter in the request body".into()
        )
    );
    assert_eq!(got[2], (400, "No framework found with specified ID".into()));
    m.shutdown();
}
