//! Messages the master relays between frameworks and agents, checked first as Mesos does:
//! executor → framework messages must come from the registered agent that names itself in
//! them and be for a known, connected framework; acknowledgements and framework messages
//! go only to registered, connected agents (a disconnected agent's link is down; the
//! agent re-sends unacknowledged updates once it re-registers). Dropped relays are
//! counted (`master/invalid_*`), never forwarded.

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::ExecutorToFrameworkMessage;

use crate::agents::Agent;
use crate::frameworks::ToFramework;
use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    crate::ha::install_leading::<ExecutorToFrameworkMessage>(ctx, Master::executor_message);
}

impl Master {
    /// The agent to relay `what` to, if it is registered and connected.
    pub(crate) fn relay_agent(&self, agent_id: &str, what: &str) -> Option<&Agent> {
        match self.agents.registered.get(agent_id) {
            None => {
                tracing::warn!(agent = %agent_id, %what, "not relaying to an unknown agent");
                None
            }
            Some(agent) if !agent.connected => {
                tracing::warn!(agent = %agent_id, %what, "not relaying to a disconnected agent");
                None
            }
            Some(agent) => Some(agent),
        }
    }

    /// An executor's message for its framework, relayed by the agent running it.
    fn executor_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ExecutorToFrameworkMessage,
    ) {
        let counter = |m: &Master, name: &str| m.metrics.metrics.counter(name).inc();
        counter(self, "master/messages_executor_to_framework");
        let framework_id = msg.framework_id.value.clone();
        let agent_id = msg.slave_id.value.as_str();
        let why = match self.agents.registered.get(agent_id) {
            None => Some("from an unknown agent"),
            Some(agent) if agent.pid != from => Some("not sent by the agent it names"),
            Some(_) => match self.frameworks.get(&framework_id) {
                None => Some("for an unknown framework"),
                Some(f) if !f.connected => Some("for a disconnected framework"),
                Some(_) => None,
            },
        };
        if let Some(why) = why {
            tracing::warn!(from = %from, agent = %agent_id, framework = %framework_id, executor = %msg.executor_id.value, %why, "dropping an executor message");
            counter(self, "master/invalid_executor_to_framework_messages");
            return;
        }
        counter(self, "master/valid_executor_to_framework_messages");
        self.send_to_framework(ctx, &framework_id, ToFramework::Message(msg));
    }
}
