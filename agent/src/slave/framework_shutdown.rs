//! `ShutdownFrameworkMessage`: the master removed a framework (teardown, failover timeout,
//! operator). As in genuine Mesos, the agent marks the framework terminating, shuts down
//! its executors and, since nobody will acknowledge anything for it any more, neither
//! forwards nor retries its status updates; the framework leaves once its executors have.

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::ShutdownFrameworkMessage;

use super::{ExecState, RegState, Slave};

impl Slave {
    pub(super) fn shutdown_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ShutdownFrameworkMessage,
    ) {
        let fw_key = msg.framework_id.value;
        if from != self.config.master {
            tracing::warn!(%from, framework = %fw_key, "ignoring ShutdownFrameworkMessage not from the master");
            return;
        }
        if self.state != RegState::Registered {
            tracing::warn!(framework = %fw_key, "ignoring ShutdownFrameworkMessage while not registered");
            return;
        }
        let Some(fw) = self.frameworks.get_mut(&fw_key) else {
            tracing::debug!(framework = %fw_key, "asked to shut down an unknown framework");
            return;
        };
        if fw.terminating {
            tracing::warn!(framework = %fw_key, "ignoring ShutdownFrameworkMessage: the framework is already shutting down");
            return;
        }
        tracing::info!(framework = %fw_key, "shutting down framework");
        fw.terminating = true;
        let running: Vec<String> = fw
            .executors
            .iter()
            .filter(|(_, e)| matches!(e.state, ExecState::Registering | ExecState::Running))
            .map(|(k, _)| k.clone())
            .collect();
        // Executors already gone only await acknowledgements that will never come.
        let gone: Vec<String> = fw
            .executors
            .iter()
            .filter(|(_, e)| e.state == ExecState::Terminated)
            .map(|(k, _)| k.clone())
            .collect();
        let cap = self.config.max_completed_executors_per_framework;
        for key in gone {
            if let Some(ex) = fw.executors.remove(&key) {
                crate::history::push_bounded(&mut fw.completed_executors, ex, cap);
            }
        }
        for ex_key in running {
            self.shutdown_executor(ctx, &fw_key, &ex_key);
        }
        self.drop_framework_updates(ctx, &fw_key);
        self.cleanup_framework(&fw_key);
    }

    /// Forgets the status update streams of a terminating framework and their retries.
    pub(super) fn drop_framework_updates(&mut self, ctx: &mut Ctx<'_, Self>, fw_key: &str) {
        self.sum.remove_framework(fw_key);
        for timer in self.sum.take_framework_retries(fw_key) {
            ctx.cancel(timer);
        }
    }

    /// Whether the framework is being shut down (its updates are not forwarded).
    pub(super) fn framework_terminating(&self, fw_key: &str) -> bool {
        self.frameworks.get(fw_key).is_some_and(|f| f.terminating)
    }
}
