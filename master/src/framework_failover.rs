//! Failover timeouts of frameworks a master knows only from re-registering agents.
//!
//! After a master failover the new leader learns of a framework from the agents that run
//! its tasks before (or without) its scheduler coming back. Genuine Mesos keeps such a
//! framework, and its tasks, until its scheduler subscribes again or an operator tears it
//! down: a framework whose scheduler died with the old leader leaves orphan tasks forever.
//! Ours honours the framework's `failover_timeout` there too, counted after the window the
//! agents have to come back (`--agent_reregister_timeout`), so schedulers get at least that
//! long after the failover, and a framework that never returns is removed as one that
//! disconnected would be: its tasks killed on every agent.

use libprocess::{duration, Ctx};

use crate::master::Master;

impl Master {
    /// Starts the failover timer of framework `id`, just recovered from an agent's report.
    pub(crate) fn start_recovered_failover_timeout(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        let Some(framework) = self.frameworks.get(id) else {
            return;
        };
        // The FrameworkInfo came from an agent: NaN or negative count as 0, huge saturates.
        let failover = framework
            .info
            .failover_timeout
            .and_then(|secs| duration::from_secs_f64(secs).ok())
            .unwrap_or_default();
        let grace = self
            .flags
            .agent_reregister_timeout
            .0
            .saturating_add(failover);
        let fid = id.to_string();
        let timer = ctx.delay(grace, "recovered_framework_failover_timeout", move |m, ctx| {
            if m.frameworks.get(&fid).is_some_and(|f| f.recovered && !f.connected) {
                m.remove_framework(
                    ctx,
                    &fid,
                    "its scheduler did not subscribe within its failover timeout after the master failover",
                );
            }
        });
        tracing::info!(framework = %id, timeout = %duration::format(grace), "framework recovered from an agent; waiting for its scheduler");
        if let Some(f) = self.frameworks.get_mut(id) {
            f.failover_timer = Some(timer);
        }
    }
}
