//! The agent's side of master detection: a new leader means registering with it.

use libprocess::{Ctx, Upid};

use super::{RegState, Slave};

impl Slave {
    /// The detector found `leader` (or none): re-target and (re-)register.
    pub(crate) fn master_detected(&mut self, ctx: &mut Ctx<'_, Self>, leader: Option<Upid>) {
        let Some(leader) = leader else {
            tracing::warn!("no leading master is known; waiting for one");
            return;
        };
        if leader == self.config.master {
            return;
        }
        tracing::info!(old = %self.config.master, new = %leader, "a new master leads; registering with it");
        self.config.master = leader;
        // Re-registers when the agent has an id (keeping its tasks), registers otherwise.
        self.state = RegState::Disconnected;
        self.start_registration(ctx, std::time::Duration::ZERO);
    }
}
