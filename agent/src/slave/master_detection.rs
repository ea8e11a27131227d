//! The agent's side of master detection: a new leader means registering with it.

use libprocess::{Ctx, Upid};

use super::{RegState, Slave};

impl Slave {
    /// The detector found `leader` (or none), whose MasterInfo id is `id`: re-target and
    /// (re-)register. The same address with another id is a new master (restarted, or
    /// leading again after a demotion, which forgot us).
    pub(crate) fn master_detected(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        leader: Option<Upid>,
        id: Option<String>,
    ) {
        let Some(leader) = leader else {
            tracing::warn!("no leading master is known; waiting for one");
            return;
        };
        let same_term = self.master_id.is_none() || id.is_none() || self.master_id == id;
        if leader == self.config.master && same_term {
            if self.master_id.is_none() {
                self.master_id = id;
            }
            return;
        }
        tracing::info!(old = %self.config.master, new = %leader, id = ?id, "a new master leads; registering with it");
        self.config.master = leader;
        self.master_id = id;
        // Re-registers when the agent has an id (keeping its tasks), registers otherwise.
        self.state = RegState::Disconnected;
        self.start_registration(ctx, std::time::Duration::ZERO);
    }
}
