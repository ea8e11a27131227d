//! A leader that loses its ZooKeeper session or its leadership becomes a standby in place.
//!
//! Genuine masters exit at that point and rely on a supervisor. Ours stays up, so it must
//! hold nothing a standby does not: whatever it knew of agents, frameworks, tasks and
//! offers now belongs to whichever master leads next, which rebuilds it from the registry
//! and from re-registrations. So demotion forgets the whole cluster view (the allocator
//! too, so nothing more is offered), sends nothing to agents or frameworks (no rescinds, no
//! kills: they are not ours to take back), and ends every event stream so clients notice
//! at once and look for the leader (a reconnect gets 307 or 503 from this standby). The
//! contender keeps contending; if this master is elected again it recovers the registry
//! like any new leader.

use libprocess::Ctx;

use crate::frameworks::Conn;
use crate::master::Master;

/// Logged with every stream closed and every link dropped by a demotion.
pub const REASON: &str = "this master is no longer the leading master";

impl Master {
    /// Forgets the cluster: offers, frameworks (their streams closed, their links and
    /// failover timers dropped), agents (their observers stopped), the allocator's view of
    /// both, and the operator event streams.
    pub(crate) fn forget_cluster(&mut self, ctx: &mut Ctx<'_, Self>) {
        let offers = std::mem::take(&mut self.offers.by_id);
        for timer in offers.into_values().filter_map(|o| o.timer) {
            ctx.cancel(timer);
        }
        let frameworks = std::mem::take(&mut self.frameworks.registered);
        let (mut streams, mut drivers) = (0usize, 0usize);
        for (id, mut framework) in frameworks {
            if let Some(timer) = framework.failover_timer.take() {
                ctx.cancel(timer);
            }
            match &mut framework.conn {
                Conn::Pid(pid) => {
                    ctx.unlink(pid);
                    drivers += 1;
                }
                Conn::Http(stream) => {
                    tracing::info!(framework = %id, stream = %stream.stream_id, reason = REASON, "closing the framework's event stream");
                    stream.close();
                    streams += 1;
                }
                Conn::None => {}
            }
            self.allocator().remove_framework(&id);
        }
        self.frameworks.completed.clear();
        let agents = std::mem::take(&mut self.agents.registered);
        let agent_count = agents.len();
        for (id, agent) in agents {
            ctx.unlink(&agent.pid);
            agent.observer.terminate();
            self.allocator().remove_agent(&id);
        }
        self.agents.by_pid.clear();
        self.agents.unreachable.clear();
        self.agents.resource_versions.clear();
        let operators = self.close_operator_streams();
        tracing::warn!(
            agents = agent_count,
            v1_streams = streams,
            v0_drivers = drivers,
            operator_streams = operators,
            reason = REASON,
            "demoted: forgot the cluster state; agents and frameworks follow the next leader"
        );
        self.changed();
    }
}
