//! Changes to a subscribed framework: a new FrameworkInfo (re-SUBSCRIBE, v0
//! re-registration, UPDATE_FRAMEWORK) and a new scheduler connection (failover).
//!
//! As in Mesos, the allocator learns the new roles and suppressed roles at once, and offers
//! made to roles the framework dropped are rescinded: it could no longer use them. A
//! scheduler that fails over (new pid, new HTTP stream) never saw its predecessor's offers,
//! so they are discarded (resources back to the allocator, no rescind sent).

use std::collections::BTreeSet;

use libprocess::Ctx;
use mesos_proto::mesos::internal::UpdateFrameworkMessage;
use mesos_proto::mesos::{FrameworkId, FrameworkInfo};

use crate::frameworks::roles_of;
use crate::master::Master;

impl Master {
    /// Applies a framework's new FrameworkInfo and suppressed roles: the allocator gets its
    /// roles, offers to roles it no longer has are rescinded.
    pub(crate) fn update_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &str,
        mut info: FrameworkInfo,
        suppressed_roles: &[String],
    ) {
        let Some(framework) = self.frameworks.get_mut(id) else {
            return;
        };
        info.id = Some(FrameworkId {
            value: id.to_string(),
        });
        let roles = roles_of(&info);
        tracing::info!(framework = %id, ?roles, suppressed = ?suppressed_roles, "updating framework");
        framework.info = info;
        let kept: BTreeSet<&String> = roles.iter().collect();
        let dropped: Vec<String> = framework
            .offers
            .iter()
            .filter(|o| {
                self.offers
                    .get(o)
                    .is_some_and(|entry| !kept.contains(&entry.role))
            })
            .cloned()
            .collect();
        self.allocator()
            .update_framework(id, &roles, suppressed_roles);
        for offer in dropped {
            tracing::info!(framework = %id, %offer, "rescinding an offer to a role the framework left");
            self.rescind_offer(ctx, &offer, None);
        }
        self.changed();
    }

    /// Discards a framework's outstanding offers without telling it (its scheduler failed
    /// over and never saw them); the resources go back to the allocator.
    pub(crate) fn discard_framework_offers(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        self.rescind_framework_offers(ctx, id, false);
    }

    /// Broadcasts a framework's current FrameworkInfo and scheduler pid to every agent, as
    /// Mesos does after a (re-)subscription or an update: an executor may run on an agent
    /// with no task of the framework left.
    pub(crate) fn send_framework_updates(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(framework) = self.frameworks.get(id) else {
            return;
        };
        let update = UpdateFrameworkMessage {
            framework_id: FrameworkId {
                value: id.to_string(),
            },
            pid: Some(crate::wire_fields::framework_pid(framework.pid())),
            framework_info: Some(framework.info.clone()),
        };
        for agent in self.agents.registered.values() {
            ctx.send(&agent.pid, &update);
        }
    }
}
