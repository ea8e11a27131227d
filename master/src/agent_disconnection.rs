//! What a broken agent link starts, beyond taking the agent out of offers (as Mesos's
//! `Master::exited` for an agent):
//! - the tasks and executors of frameworks that do not checkpoint are gone with the link:
//!   their tasks become TASK_LOST (`REASON_SLAVE_DISCONNECTED`), their resources go back;
//! - the agent has `--agent_reregister_timeout` to re-register; if it has not by then (it
//!   may still answer pings, e.g. hung in recovery), it is marked unreachable.

use libprocess::Ctx;
use mesos_proto::mesos::{task_status, TaskState};

use crate::master::Master;

impl Master {
    /// Called once when the link of registered agent `id` breaks.
    pub(crate) fn agent_link_broke(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        self.lose_non_checkpointing_frameworks(ctx, id);
        self.agents.disconnections += 1;
        let generation = self.agents.disconnections;
        self.agents
            .reregister_deadlines
            .insert(id.to_string(), generation);
        let timeout = self.flags.agent_reregister_timeout.0;
        let agent = id.to_string();
        ctx.delay(timeout, "agent_reregister_timeout", move |m, ctx| {
            if m.agents.reregister_deadlines.get(&agent) != Some(&generation) {
                return; // disconnected again since: a later timer decides
            }
            m.agents.reregister_deadlines.remove(&agent);
            if !m
                .agents
                .registered
                .get(&agent)
                .is_some_and(|a| !a.connected)
            {
                return; // came back, or already removed
            }
            let why = format!(
                "agent did not reregister within {} after disconnecting",
                libprocess::duration::format(m.flags.agent_reregister_timeout.0)
            );
            tracing::warn!(%agent, %why, "marking the agent unreachable");
            if m.mark_unreachable_through_registry(ctx, &agent, &why) {
                return;
            }
            m.metrics.slave_unreachable_scheduled.inc();
            m.remove_agent(ctx, &agent, true, &why);
        });
    }

    /// The tasks of frameworks without `checkpoint` on agent `id` are lost with its link.
    fn lose_non_checkpointing_frameworks(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(agent) = self.agents.registered.get(id) else {
            return;
        };
        let hostname = agent.info.hostname.clone();
        let mut on_agent: Vec<String> = agent
            .tasks
            .iter()
            .map(|(f, _)| f.clone())
            .chain(agent.executors.keys().cloned())
            .collect();
        on_agent.sort();
        on_agent.dedup();
        let message = format!("Agent {hostname} disconnected");
        for framework_id in on_agent {
            let checkpoints = self
                .frameworks
                .get(&framework_id)
                .is_some_and(|f| f.info.checkpoint == Some(true));
            if checkpoints {
                continue;
            }
            tracing::info!(framework = %framework_id, agent = %id, "removing the framework's tasks from a disconnected agent: it does not checkpoint");
            let tasks: Vec<String> = self
                .agents
                .registered
                .get(id)
                .map(|a| {
                    a.tasks
                        .iter()
                        .filter(|(f, _)| *f == framework_id)
                        .map(|(_, t)| t.clone())
                        .collect()
                })
                .unwrap_or_default();
            for task_id in tasks {
                let live = self.frameworks.get(&framework_id).and_then(|f| {
                    let t = f.tasks.get(&task_id)?;
                    let over = TaskState::try_from(t.state).is_ok_and(crate::tasks::is_terminal);
                    (!over && !f.freed.contains(&task_id)).then(|| t.resources.clone())
                });
                if let Some(resources) = live {
                    self.allocator()
                        .recover(&framework_id, id, &resources, None);
                }
                self.master_task_update(
                    ctx,
                    &framework_id,
                    &task_id,
                    TaskState::TaskLost,
                    task_status::Reason::SlaveDisconnected,
                    &message,
                    None,
                );
            }
            let executors = self.agents.registered.get_mut(id).and_then(|a| {
                a.tasks.retain(|(f, _)| *f != framework_id);
                a.executors.remove(&framework_id)
            });
            for executor in executors.into_iter().flat_map(|e| e.into_values()) {
                if !executor.resources.is_empty() {
                    self.allocator()
                        .recover(&framework_id, id, &executor.resources, None);
                }
            }
        }
        self.changed();
    }
}
