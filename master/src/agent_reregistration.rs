//! A known agent re-registering (`ReregisterSlaveMessage` for an id the master has): its
//! report is reconciled with the master's view, as Mesos's master does.
//!
//! - Tasks the master has on the agent but the agent does not report are reconciled
//!   *through the agent*: `SlaveReregisteredMessage.reconciliations` carries, per
//!   framework, a `ReconcileTasksMessage` with the master's state of each such task
//!   (SOURCE_MASTER, REASON_RECONCILIATION). The agent answers with a terminal update
//!   (TASK_DROPPED for partition-aware frameworks, else TASK_LOST) that travels the
//!   normal status update path, so the task ends exactly once and is acknowledged. The
//!   master cannot end them itself: the launch may have raced with the re-registration
//!   and be running.
//! - Executors the master has on the agent but the agent does not report are removed and
//!   their resources go back to the allocator.
//! - The agent's (possibly new) total resources reach the allocator.
//! - Frameworks the agent runs that the master removed are shut down on it; known ones get
//!   their current FrameworkInfo and pid; unknown ones are recovered.

use std::collections::{BTreeMap, BTreeSet};

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::{
    ReconcileTasksMessage, ReregisterSlaveMessage, ShutdownFrameworkMessage,
    SlaveReregisteredMessage, UpdateFrameworkMessage,
};
use mesos_proto::mesos::{task_status, FrameworkId, SlaveId, TaskStatus};

use crate::master::Master;
use crate::reconciliation::reconciled_state;

impl Master {
    /// Re-admits a registered agent from its re-registration and answers it.
    pub(crate) fn reregister_known_agent(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ReregisterSlaveMessage,
        version: String,
        mut reply: SlaveReregisteredMessage,
    ) {
        let Some(id) = msg.slave.id.as_ref().map(|i| i.value.clone()) else {
            return;
        };
        let now = ctx.clock().now_secs();
        let Some(agent) = self.agents.registered.get_mut(&id) else {
            return;
        };
        let old_pid = std::mem::replace(&mut agent.pid, from.clone());
        agent.info = msg.slave.clone();
        agent.version = version;
        agent.capabilities = msg
            .agent_capabilities
            .iter()
            .filter_map(|c| c.r#type)
            .collect();
        agent.reregistered_time = Some(now);
        let was_active = agent.active;
        agent.connected = true;
        agent.active = true;
        let observer = agent.observer.clone();
        let total = agent.info.resources.clone();
        if old_pid != from {
            self.agents.by_pid.remove(&old_pid);
            self.agents.by_pid.insert(from.clone(), id.clone());
            observer.dispatch("repoint", {
                let pid = from.clone();
                move |o, _| o.agent_pid = pid
            });
        }
        observer.dispatch("reconnected", |o, _| o.set_connected(true));
        ctx.link(&from);
        // The total first, so an allocation triggered by what follows uses it.
        self.allocator().update_agent(&id, &total);

        reply.reconciliations = self.missing_task_reconciliations(&id, &msg, now);
        ctx.send(&from, &reply);
        self.remove_unreported_executors(&id, &msg);
        self.shutdown_completed_frameworks(ctx, &from, &msg);
        if !was_active {
            self.allocator().activate_agent(&id);
        }
        self.update_agent_frameworks(ctx, &from, &msg);
        tracing::info!(agent = %from, id = %id, reconciliations = reply.reconciliations.len(), "re-registered known agent");
    }

    /// One `ReconcileTasksMessage` per framework with tasks the master has on the agent and
    /// the agent did not report.
    fn missing_task_reconciliations(
        &self,
        agent_id: &str,
        msg: &ReregisterSlaveMessage,
        now: f64,
    ) -> Vec<ReconcileTasksMessage> {
        let reported: BTreeSet<(&str, &str)> = msg
            .tasks
            .iter()
            .map(|t| (t.framework_id.value.as_str(), t.task_id.value.as_str()))
            .collect();
        let Some(agent) = self.agents.registered.get(agent_id) else {
            return Vec::new();
        };
        let mut by_framework: BTreeMap<&str, Vec<TaskStatus>> = BTreeMap::new();
        for (framework_id, task_id) in &agent.tasks {
            if reported.contains(&(framework_id.as_str(), task_id.as_str())) {
                continue;
            }
            let Some(task) = self
                .frameworks
                .get(framework_id)
                .and_then(|f| f.tasks.get(task_id))
            else {
                continue;
            };
            tracing::warn!(agent = %agent_id, framework = %framework_id, task = %task_id, "task unknown to the re-registering agent: reconciling with the agent");
            by_framework
                .entry(framework_id.as_str())
                .or_default()
                .push(TaskStatus {
                    task_id: task.task_id.clone(),
                    slave_id: Some(SlaveId {
                        value: agent_id.to_string(),
                    }),
                    state: reconciled_state(task) as i32,
                    source: Some(task_status::Source::Master as i32),
                    message: Some("Reconciliation request".into()),
                    reason: Some(task_status::Reason::Reconciliation as i32),
                    timestamp: Some(now),
                    ..Default::default()
                });
        }
        by_framework
            .into_iter()
            .filter_map(|(framework_id, statuses)| {
                let framework = self.frameworks.get(framework_id)?;
                let mut info = framework.info.clone();
                info.id = Some(FrameworkId {
                    value: framework_id.to_string(),
                });
                Some(ReconcileTasksMessage {
                    framework_id: FrameworkId {
                        value: framework_id.to_string(),
                    },
                    statuses,
                    framework: Some(info),
                })
            })
            .collect()
    }

    /// Forgets executors the agent no longer runs; their resources go back.
    fn remove_unreported_executors(&mut self, agent_id: &str, msg: &ReregisterSlaveMessage) {
        let reported: BTreeSet<(&str, &str)> = msg
            .executor_infos
            .iter()
            .filter_map(|e| {
                let fid = e.framework_id.as_ref()?;
                Some((fid.value.as_str(), e.executor_id.value.as_str()))
            })
            .collect();
        let Some(agent) = self.agents.registered.get_mut(agent_id) else {
            return;
        };
        let mut removed = Vec::new();
        for (framework_id, executors) in agent.executors.iter_mut() {
            executors.retain(|executor_id, info| {
                let keep = reported.contains(&(framework_id.as_str(), executor_id.as_str()));
                if !keep {
                    removed.push((framework_id.clone(), executor_id.clone(), info.clone()));
                }
                keep
            });
        }
        agent.executors.retain(|_, e| !e.is_empty());
        for (framework_id, executor_id, info) in removed {
            tracing::warn!(agent = %agent_id, framework = %framework_id, executor = %executor_id, "executor unknown to the re-registering agent: removing it");
            if !info.resources.is_empty() {
                self.allocator()
                    .recover(&framework_id, agent_id, &info.resources, None);
            }
        }
    }

    /// Frameworks removed from the master that the agent still runs tasks or reports of.
    fn shutdown_completed_frameworks(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        agent: &Upid,
        msg: &ReregisterSlaveMessage,
    ) {
        let mentioned: BTreeSet<&str> = msg
            .tasks
            .iter()
            .map(|t| t.framework_id.value.as_str())
            .chain(
                msg.frameworks
                    .iter()
                    .filter_map(|f| f.id.as_ref().map(|i| i.value.as_str())),
            )
            .collect();
        for framework_id in mentioned {
            if self
                .frameworks
                .completed
                .iter()
                .any(|f| f.id == framework_id)
            {
                tracing::info!(agent = %agent, framework = %framework_id, "shutting down a removed framework on the re-registered agent");
                ctx.send(
                    agent,
                    &ShutdownFrameworkMessage {
                        framework_id: FrameworkId {
                            value: framework_id.to_string(),
                        },
                    },
                );
            }
        }
    }

    /// Known frameworks the agent runs get their current FrameworkInfo and pid; unknown
    /// (not removed) ones are recovered from the agent's report.
    fn update_agent_frameworks(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        agent: &Upid,
        msg: &ReregisterSlaveMessage,
    ) {
        for info in &msg.frameworks {
            let Some(id) = info.id.as_ref().map(|i| i.value.clone()) else {
                continue;
            };
            match self.frameworks.get(&id) {
                Some(framework) => {
                    let mut current = framework.info.clone();
                    current.id = info.id.clone();
                    let update = UpdateFrameworkMessage {
                        framework_id: FrameworkId { value: id.clone() },
                        pid: Some(framework.pid().map(|p| p.to_string()).unwrap_or_default()),
                        framework_info: Some(current),
                    };
                    ctx.send(agent, &update);
                }
                None => self.recover_framework(ctx, info.clone()),
            }
        }
    }
}
