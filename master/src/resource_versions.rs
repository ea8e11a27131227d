//! Agents' resource versions. An agent names the version of its resources when it
//! (re-)registers and in `UpdateSlaveMessage`; genuine masters echo it in every
//! `RunTaskMessage` / `RunTaskGroupMessage` (`resource_version_uuids`), so the agent can
//! drop launches decided on resources that changed meanwhile (TASK_DROPPED,
//! REASON_INVALID_OFFERS) instead of running them.

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::{ResourceVersionUuid, UpdateSlaveMessage};
use mesos_proto::mesos::Uuid;

use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    crate::ha::install_leading::<UpdateSlaveMessage>(ctx, Master::update_slave);
}

impl Master {
    /// Records the version an agent announced (kept if it announced none).
    pub(crate) fn record_resource_version(&mut self, agent_id: &str, uuid: Option<&Uuid>) {
        if let Some(uuid) = uuid {
            self.agents
                .resource_versions
                .insert(agent_id.to_string(), uuid.clone());
        }
    }

    /// What a launch on `agent_id` carries: the agent's own version (no resource
    /// provider), or nothing if it never announced one.
    pub(crate) fn resource_version_uuids(&self, agent_id: &str) -> Vec<ResourceVersionUuid> {
        self.agents
            .resource_versions
            .get(agent_id)
            .map(|uuid| ResourceVersionUuid {
                resource_provider_id: None,
                uuid: uuid.clone(),
            })
            .into_iter()
            .collect()
    }

    /// `UpdateSlaveMessage`: only the resource version is used (no oversubscription or
    /// resource providers here).
    fn update_slave(&mut self, _ctx: &mut Ctx<'_, Self>, from: Upid, msg: UpdateSlaveMessage) {
        let id = msg.slave_id.value;
        if self
            .agents
            .registered
            .get(&id)
            .is_none_or(|a| a.pid != from)
        {
            tracing::warn!(%from, agent = %id, "ignoring UpdateSlaveMessage from an unknown agent");
            return;
        }
        self.record_resource_version(&id, msg.resource_version_uuid.as_ref());
    }
}
