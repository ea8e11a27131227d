//! The simulated agent's side of the protocol, against a scripted master process, with the
//! simulator's clock paused: registration, reliable status updates (resent every 10 s until
//! acknowledged) and re-registration with its tasks and pending update on a new master.

use std::time::Duration;

use bytes::Bytes;
use libprocess::{Config, Ctx, Process, Runtime, Upid};
use mesos_proto::mesos::internal::{
    RegisterSlaveMessage, ReregisterSlaveMessage, RunTaskMessage, SlaveRegisteredMessage,
    SlaveReregisteredMessage, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::{FrameworkId, FrameworkInfo, SlaveId, TaskId, TaskInfo, TaskState};
use mesos_simulator::{SimConfig, Simulation};
use tokio::sync::mpsc;

/// A scripted master: records what agents send it.
struct FakeMaster {
    tx: mpsc::UnboundedSender<(Upid, String, Bytes)>,
}

impl Process for FakeMaster {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        for name in [
            "mesos.internal.RegisterSlaveMessage",
            "mesos.internal.ReregisterSlaveMessage",
            "mesos.internal.StatusUpdateMessage",
        ] {
            ctx.install_raw(name, move |me, _ctx, from, body| {
                let _ = me.tx.send((from, name.to_string(), body));
            });
        }
    }
}

struct Master {
    rt: Runtime,
    upid: Upid,
    rx: mpsc::UnboundedReceiver<(Upid, String, Bytes)>,
}

impl Master {
    fn start() -> Master {
        let rt = Runtime::start(Config::local()).expect("runtime");
        let (tx, rx) = mpsc::unbounded_channel();
        let pid = rt.spawn("master", FakeMaster { tx }).expect("spawn");
        Master {
            upid: pid.upid().clone(),
            rt,
            rx,
        }
    }

    async fn expect<M: prost::Message + prost::Name + Default>(&mut self) -> (Upid, M) {
        let name = M::full_name();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let (from, n, body) = self.rx.recv().await.expect("channel open");
                if n == name {
                    return (from, body);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {name}"));
        (got.0, M::decode(got.1.as_ref()).expect("decodes"))
    }

    /// Whether a message named like `M` arrives within `wait` of real time.
    async fn nothing<M: prost::Name>(&mut self, wait: Duration) -> bool {
        let name = M::full_name();
        tokio::time::timeout(wait, async {
            loop {
                let (_, n, _) = self.rx.recv().await.expect("channel open");
                if n == name {
                    return;
                }
            }
        })
        .await
        .is_err()
    }

    fn send<M: prost::Message + prost::Name>(&self, to: &Upid, m: &M) {
        self.rt.send(
            &self.upid,
            to,
            &M::full_name(),
            Bytes::from(m.encode_to_vec()),
        );
    }
}

async fn advance(rt: &Runtime, by: Duration) {
    rt.clock().advance(by);
    rt.clock().settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agent_resends_unacknowledged_updates_and_reregisters_with_its_tasks() {
    let mut master = Master::start();
    let rt = Runtime::start(Config::local()).expect("runtime");
    rt.set_validator(|name, body| mesos_proto::check(name, body).map_err(|e| e.to_string()));
    rt.clock().pause();
    let config = SimConfig {
        agents: 1,
        frameworks: 0,
        ..SimConfig::default()
    };
    let sim = Simulation::start_in(rt.clone(), config).expect("simulation");
    sim.master_detected(master.upid.clone());
    advance(&rt, Duration::ZERO).await;

    // Registration: SlaveInfo with resources, the genuine capabilities and version.
    let (agent, register) = master.expect::<RegisterSlaveMessage>().await;
    assert!(agent.id.starts_with("slave("), "agent pid {agent}");
    assert!(!register.slave.resources.is_empty());
    assert_eq!(register.agent_capabilities.len(), 8);
    assert_eq!(register.version.as_deref(), Some("1.11.0"));
    let slave_id = SlaveId { value: "S0".into() };
    master.send(
        &agent,
        &SlaveRegisteredMessage {
            slave_id: slave_id.clone(),
            connection: None,
        },
    );

    // A task: RUNNING is reported, then resent every 10 s while unacknowledged.
    let framework_id = FrameworkId { value: "F0".into() };
    let task_id = TaskId { value: "T0".into() };
    master.send(
        &agent,
        &RunTaskMessage {
            framework: FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                id: Some(framework_id.clone()),
                ..Default::default()
            },
            task: TaskInfo {
                name: "t".into(),
                task_id: task_id.clone(),
                slave_id: slave_id.clone(),
                ..Default::default()
            },
            pid: Some("scheduler-1@127.0.0.1:1".into()),
            ..Default::default()
        },
    );
    let (_, first) = master.expect::<StatusUpdateMessage>().await;
    assert_eq!(first.update.status.state, TaskState::TaskRunning as i32);
    assert_eq!(first.pid.as_deref(), Some(agent.to_string().as_str()));
    advance(&rt, Duration::from_secs(10)).await;
    let (_, again) = master.expect::<StatusUpdateMessage>().await;
    assert_eq!(
        again.update.uuid, first.update.uuid,
        "the same update is resent"
    );

    // A new master: re-registration lists the task (RUNNING) and its pending update.
    let mut second = Master::start();
    sim.master_detected(second.upid.clone());
    advance(&rt, Duration::ZERO).await;
    let (_, rereg) = second.expect::<ReregisterSlaveMessage>().await;
    assert_eq!(rereg.slave.id.as_ref(), Some(&slave_id));
    assert_eq!(rereg.tasks.len(), 1);
    assert_eq!(rereg.tasks[0].state, TaskState::TaskRunning as i32);
    assert_eq!(rereg.tasks[0].status_update_uuid, first.update.uuid);
    assert_eq!(rereg.frameworks.len(), 1);
    second.send(
        &agent,
        &SlaveReregisteredMessage {
            slave_id: slave_id.clone(),
            ..Default::default()
        },
    );
    // Re-registered: the pending update goes to the new master at once; once acknowledged
    // it is never resent.
    let (_, resent) = second.expect::<StatusUpdateMessage>().await;
    assert_eq!(resent.update.uuid, first.update.uuid);
    second.send(
        &agent,
        &StatusUpdateAcknowledgementMessage {
            slave_id,
            framework_id,
            task_id,
            uuid: first.update.uuid.clone().unwrap_or_default(),
        },
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    advance(&rt, Duration::from_secs(30)).await;
    assert!(
        second
            .nothing::<StatusUpdateMessage>(Duration::from_millis(300))
            .await,
        "an acknowledged update was resent"
    );
    assert_eq!(
        sim.stats
            .acks_received
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sim.shutdown();
}
