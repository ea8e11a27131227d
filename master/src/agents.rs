//! Agents: registration, re-registration, disconnection, removal, and health checks.
//!
//! Each registered agent gets a `slave-observer(N)` process that pings it every
//! `agent_ping_timeout` and counts pongs (which come back to the observer, not to the
//! master). After `max_agent_ping_timeouts` silent periods the agent is unreachable: its
//! tasks are lost, its resources leave the allocator and its offers are rescinded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use libprocess::{Ctx, Pid, Process, Upid};
use mesos_proto::mesos::internal::{
    MasterSlaveConnection, PingSlaveMessage, PongSlaveMessage, RegisterSlaveMessage,
    ReregisterSlaveMessage, SlaveRegisteredMessage, SlaveReregisteredMessage,
    UnregisterSlaveMessage,
};
use mesos_proto::mesos::{task_status, ExecutorInfo, Resource, SlaveId, SlaveInfo, TaskState};

use crate::master::Master;

/// A registered agent.
pub struct Agent {
    pub id: String,
    pub info: SlaveInfo,
    pub pid: Upid,
    pub version: String,
    pub capabilities: Vec<i32>,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    /// Its link is up.
    pub connected: bool,
    /// Its resources are offered.
    pub active: bool,
    pub observer: Pid<SlaveObserver>,
    /// Tasks on it: (framework id, task id).
    pub tasks: BTreeSet<(String, String)>,
    /// Executors the master knows of, per framework.
    pub executors: BTreeMap<String, BTreeMap<String, ExecutorInfo>>,
}

impl Agent {
    pub fn total(&self) -> &[Resource] {
        &self.info.resources
    }
}

/// The agent registry.
#[derive(Default)]
pub struct Agents {
    pub registered: BTreeMap<String, Agent>,
    pub by_pid: HashMap<Upid, String>,
    /// Agents marked unreachable, with the time they were.
    pub unreachable: BTreeMap<String, f64>,
    /// The resource version each agent announced last (see `resource_versions`).
    pub resource_versions: HashMap<String, mesos_proto::mesos::Uuid>,
    /// Disconnected agents' re-registration deadlines, by the disconnection they follow
    /// (see `agent_disconnection`).
    pub(crate) reregister_deadlines: HashMap<String, u64>,
    pub(crate) disconnections: u64,
    next_id: u64,
}

/// Whether an agent version is SemVer and at least 1.0.0 (older agents are ignored).
pub fn version_supported(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let nums: Option<Vec<u64>> = parts
        .iter()
        .map(|p| {
            (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect();
    matches!(nums.as_deref(), Some([major, ..]) if *major >= 1)
}

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    crate::ha::install_leading::<RegisterSlaveMessage>(ctx, Master::register_slave);
    crate::ha::install_leading::<ReregisterSlaveMessage>(ctx, Master::reregister_slave);
    crate::ha::install_leading::<UnregisterSlaveMessage>(ctx, Master::unregister_slave);
}

impl Master {
    pub(crate) fn connection(&self) -> MasterSlaveConnection {
        MasterSlaveConnection {
            total_ping_timeout_seconds: Some(
                self.flags.agent_ping_timeout.0.as_secs_f64()
                    * f64::from(self.flags.max_agent_ping_timeouts),
            ),
        }
    }

    fn register_slave(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RegisterSlaveMessage) {
        let version = msg.version.clone().unwrap_or_default();
        if !version_supported(&version) {
            tracing::warn!(agent = %from, version = %version, "ignoring registration of an agent with an unsupported version");
            return;
        }
        if let Err(reason) = crate::agent_validation::validate_register(&msg) {
            tracing::warn!(agent = %from, %reason, "dropping registration of agent: it sent an invalid registration");
            return;
        }
        if let Some(id) = self.agents.by_pid.get(&from).cloned() {
            tracing::info!(agent = %from, id = %id, "agent already registered; resending the acknowledgement");
            let reply = SlaveRegisteredMessage {
                slave_id: SlaveId { value: id },
                connection: Some(self.connection()),
            };
            ctx.send(&from, &reply);
            return;
        }
        self.agents.next_id += 1;
        let id = format!("{}-S{}", self.info.id, self.agents.next_id - 1);
        let mut info = msg.slave;
        info.id = Some(SlaveId { value: id.clone() });
        let capabilities: Vec<i32> = msg
            .agent_capabilities
            .iter()
            .filter_map(|c| c.r#type)
            .collect();
        // With a registrar, the agent is admitted once the registry commit succeeds.
        if self.admit_through_registry(ctx, &from, &info, &version, &capabilities) {
            return;
        }
        self.admit_agent(
            ctx,
            from.clone(),
            id.clone(),
            info,
            version,
            capabilities,
            false,
            Vec::new(),
        );
        self.record_resource_version(&id, msg.resource_version_uuid.as_ref());
        self.metrics.slave_registrations.inc();
        tracing::info!(agent = %from, id = %id, "registered agent");
        let reply = SlaveRegisteredMessage {
            slave_id: SlaveId { value: id },
            connection: Some(self.connection()),
        };
        ctx.send(&from, &reply);
        self.changed();
    }

    /// Adds an agent to the registry and the allocator, links to it and starts its observer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn admit_agent(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        pid: Upid,
        id: String,
        info: SlaveInfo,
        version: String,
        capabilities: Vec<i32>,
        reregistered: bool,
        used: Vec<(String, Vec<Resource>)>,
    ) {
        ctx.link(&pid);
        let observer = SlaveObserver {
            agent_id: id.clone(),
            agent_pid: pid.clone(),
            master: ctx.me(),
            interval: self.flags.agent_ping_timeout.0,
            max_timeouts: self.flags.max_agent_ping_timeouts,
            timeouts: 0,
            pong_received: true,
            connected: true,
        };
        let observer_id = ctx.runtime().generate_id("slave-observer");
        let observer = match ctx.runtime().spawn(observer_id, observer) {
            Ok(pid) => pid,
            Err(error) => {
                tracing::error!(%error, agent = %pid, "cannot start the agent's observer; ignoring the agent");
                return;
            }
        };
        let now = ctx.clock().now_secs();
        let total = info.resources.clone();
        self.agents.unreachable.remove(&id);
        self.agents.by_pid.insert(pid.clone(), id.clone());
        self.agents.registered.insert(
            id.clone(),
            Agent {
                id: id.clone(),
                info,
                pid,
                version,
                capabilities,
                registered_time: now,
                reregistered_time: reregistered.then_some(now),
                connected: true,
                active: true,
                observer,
                tasks: BTreeSet::new(),
                executors: BTreeMap::new(),
            },
        );
        self.allocator().add_agent(&id, &total, &used);
    }

    pub(crate) fn reregister_slave(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ReregisterSlaveMessage,
    ) {
        if !self.ha.is_leading() {
            tracing::warn!(agent = %from, "dropping a re-registration: this master is not the leader");
            return;
        }
        let version = msg.version.clone().unwrap_or_default();
        if !version_supported(&version) {
            tracing::warn!(agent = %from, version = %version, "ignoring re-registration of an agent with an unsupported version");
            return;
        }
        if let Err(reason) = crate::agent_validation::validate_reregister(&msg) {
            tracing::warn!(agent = %from, %reason, "dropping re-registration of agent: it sent an invalid re-registration");
            return;
        }
        let Some(id) = msg.slave.id.as_ref().map(|i| i.value.clone()) else {
            tracing::warn!(agent = %from, "ignoring re-registration without an agent id");
            return;
        };
        let reply = SlaveReregisteredMessage {
            slave_id: SlaveId { value: id.clone() },
            reconciliations: Vec::new(),
            connection: Some(self.connection()),
        };
        if !self.agents.registered.contains_key(&id)
            && crate::recovery::reregister_through_registry(self, ctx, &from, &msg)
        {
            return;
        }
        if self.agents.registered.contains_key(&id) {
            // A known agent came back (new link, possibly a new pid after a restart).
            self.reregister_known_agent(ctx, from.clone(), msg, version, reply);
            self.metrics.slave_reregistrations.inc();
            self.changed();
            return;
        } else {
            // Unknown to us (e.g. this master restarted): admit it with what it runs.
            // Frameworks first, so the allocator can account their resources on the agent.
            for framework in &msg.frameworks {
                self.recover_framework(ctx, framework.clone());
            }
            let live: Vec<&mesos_proto::mesos::Task> = msg
                .tasks
                .iter()
                .filter(|t| !TaskState::try_from(t.state).is_ok_and(crate::tasks::is_terminal))
                .collect();
            let mut used: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
            for t in &live {
                used.entry(t.framework_id.value.clone())
                    .or_default()
                    .extend(t.resources.iter().cloned());
            }
            for e in &msg.executor_infos {
                if let Some(fid) = &e.framework_id {
                    used.entry(fid.value.clone())
                        .or_default()
                        .extend(e.resources.iter().cloned());
                }
            }
            let capabilities = msg
                .agent_capabilities
                .iter()
                .filter_map(|c| c.r#type)
                .collect();
            self.admit_agent(
                ctx,
                from.clone(),
                id.clone(),
                msg.slave.clone(),
                version,
                capabilities,
                true,
                used.into_iter().collect(),
            );
            for executor in &msg.executor_infos {
                if let Some(fid) = &executor.framework_id {
                    if let Some(agent) = self.agents.registered.get_mut(&id) {
                        agent
                            .executors
                            .entry(fid.value.clone())
                            .or_default()
                            .insert(executor.executor_id.value.clone(), executor.clone());
                    }
                }
            }
            for task in msg.tasks {
                if TaskState::try_from(task.state).is_ok_and(crate::tasks::is_terminal) {
                    continue;
                }
                self.add_recovered_task(&id, task);
            }
        }
        self.record_resource_version(&id, msg.resource_version_uuid.as_ref());
        self.metrics.slave_reregistrations.inc();
        tracing::info!(agent = %from, id = %id, "re-registered agent");
        ctx.send(&from, &reply);
        self.changed();
    }

    fn unregister_slave(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: UnregisterSlaveMessage,
    ) {
        let id = msg.slave_id.value;
        match self.agents.registered.get(&id) {
            Some(agent) if agent.pid == from => {
                tracing::info!(agent = %from, id = %id, "agent unregistered");
                self.remove_agent(ctx, &id, false, "the agent unregistered");
            }
            _ => {
                tracing::warn!(from = %from, id = %id, "ignoring unregistration of an unknown agent")
            }
        }
    }

    /// The agent's link broke: stop offering it until it re-registers or is found unreachable.
    pub(crate) fn agent_disconnected(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(agent) = self.agents.registered.get_mut(id) else {
            return;
        };
        if !agent.connected {
            return;
        }
        tracing::info!(agent = %agent.pid, id = %id, "agent disconnected");
        agent.connected = false;
        agent.active = false;
        agent
            .observer
            .dispatch("disconnected", |o, _| o.set_connected(false));
        self.allocator().deactivate_agent(id);
        self.rescind_agent_offers(ctx, id);
        self.agent_link_broke(ctx, id);
        self.changed();
    }

    /// The observer gave up on the agent.
    pub(crate) fn agent_unreachable(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        if !self.agents.registered.contains_key(id) {
            return;
        }
        tracing::warn!(id = %id, "agent unreachable: no pong for too long");
        // With a registrar, the agent is removed once the registry records it unreachable.
        if self.mark_unreachable_through_registry(ctx, id, "the agent failed health checks") {
            return;
        }
        self.metrics.slave_unreachable_scheduled.inc();
        self.remove_agent(ctx, id, true, "health check timed out");
    }

    /// Removes an agent: its offers are rescinded, its tasks end (LOST, or UNREACHABLE/GONE
    /// for partition-aware frameworks), frameworks hear it is lost, the allocator forgets it.
    pub(crate) fn remove_agent(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &str,
        unreachable: bool,
        why: &str,
    ) {
        self.rescind_agent_offers(ctx, id);
        let Some(agent) = self.agents.registered.remove(id) else {
            return;
        };
        self.agents.by_pid.remove(&agent.pid);
        self.agents.resource_versions.remove(id);
        ctx.unlink(&agent.pid);
        agent.observer.terminate();
        let now = ctx.clock().now_secs();
        if unreachable {
            self.mark_agent_unreachable(id, now);
        }
        self.allocator().remove_agent(id);
        self.metrics.slave_removals.inc();
        self.count_agent_removal_reason(unreachable);
        for (framework_id, task_id) in &agent.tasks {
            let aware = self
                .frameworks
                .get(framework_id)
                .is_some_and(|f| f.partition_aware());
            // As genuine masters: an unreachable agent's tasks are UNREACHABLE for
            // partition-aware frameworks, and every other removal makes them LOST.
            let state = if unreachable && aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            };
            // Genuine wording: the bare cause when unreachable, else "Agent <host> removed".
            let message = if unreachable {
                why.to_string()
            } else {
                format!("Agent {} removed: {why}", agent.info.hostname)
            };
            self.master_task_update(
                ctx,
                framework_id,
                task_id,
                state,
                task_status::Reason::SlaveRemoved,
                &message,
                unreachable.then_some(now),
            );
        }
        let framework_ids: Vec<String> = self.frameworks.registered.keys().cloned().collect();
        for fid in framework_ids {
            self.send_agent_lost(ctx, &fid, id);
        }
        tracing::info!(id = %id, %why, "removed agent");
        self.changed();
    }
}

/// Pings one agent and watches for its pongs (`slave-observer(N)`).
pub struct SlaveObserver {
    pub agent_id: String,
    pub agent_pid: Upid,
    pub master: Pid<Master>,
    pub interval: Duration,
    pub max_timeouts: u32,
    /// Ping periods in a row without a pong.
    pub timeouts: u32,
    pub pong_received: bool,
    /// Sent in each ping: whether the master considers the agent connected.
    pub connected: bool,
}

impl SlaveObserver {
    pub(crate) fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
    }

    fn ping(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.pong_received {
            self.timeouts += 1;
            tracing::debug!(agent = %self.agent_pid, timeouts = self.timeouts, "agent missed a ping");
            if self.timeouts >= self.max_timeouts {
                let id = self.agent_id.clone();
                self.master.dispatch("agent_unreachable", move |m, ctx| {
                    m.agent_unreachable(ctx, &id)
                });
                ctx.terminate();
                return;
            }
        }
        ctx.send(
            &self.agent_pid,
            &PingSlaveMessage {
                connected: self.connected,
            },
        );
        self.pong_received = false;
        ctx.delay(self.interval, "ping", |me, ctx| me.ping(ctx));
    }
}

impl Process for SlaveObserver {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install::<PongSlaveMessage>(|me, ctx, from, _pong| {
            if from.id == me.agent_pid.id && from.address() == me.agent_pid.address() {
                // Not a genuine Mesos metric: lets operators and tests see pings answered.
                ctx.metrics().counter("master/agent_pongs_received").inc();
                me.pong_received = true;
                me.timeouts = 0;
            }
        });
        self.ping(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::version_supported;

    #[test]
    fn only_semver_versions_from_1_0_0_are_supported() {
        assert!(version_supported("1.11.0"));
        assert!(version_supported("1.0.0"));
        assert!(version_supported("2.0.0-rc1"));
        assert!(!version_supported("0.28.2"));
        assert!(!version_supported("1.11"));
        assert!(!version_supported(""));
        assert!(!version_supported("a.b.c"));
    }
}
