//! The agent's side of the containerizer: it asks, the containerizer acts. Destroying and
//! resizing containers are messages to `mesos-containerizer(N)`; the agent never signals a
//! container's processes itself.

use libprocess::Ctx;
use mesos_proto::mesos::Resource;
use mesos_proto::task_state::is_terminal;

use super::Slave;

impl Slave {
    /// Asks the containerizer to destroy a container; its termination then arrives through
    /// the launch's termination future (`executor_exited`).
    pub(crate) fn destroy_container(&self, container_id: &str) {
        if let Some(cz) = &self.containerizer {
            crate::containerizer::send(cz, crate::containerizer::Call::destroy(container_id));
        }
    }

    /// The executor's resources plus those of its live tasks: what its container may use.
    pub(crate) fn executor_total_resources(
        &self,
        fw_key: &str,
        ex_key: &str,
    ) -> Option<Vec<Resource>> {
        let ex = self.frameworks.get(fw_key)?.executors.get(ex_key)?;
        // A command executor's info already holds its task's resources (plus Mesos's
        // allowance): only the allowance belongs to the executor itself.
        let mut total = if ex.command_executor {
            let mut allowance = Vec::new();
            crate::resources::add_scalars(
                &mut allowance,
                super::COMMAND_EXECUTOR_CPUS,
                super::COMMAND_EXECUTOR_MEM,
            );
            allowance
        } else {
            ex.info.resources.clone()
        };
        for t in ex.tasks.values().filter(|t| !is_terminal(t.state())) {
            total.extend(t.resources.iter().cloned());
        }
        Some(total)
    }

    /// Tasks joined or left an executor: its container gets the new total (Mesos calls
    /// `containerizer->update` on both).
    pub(crate) fn update_container(&self, _ctx: &mut Ctx<'_, Self>, fw_key: &str, ex_key: &str) {
        let (Some(cz), Some(total)) = (
            &self.containerizer,
            self.executor_total_resources(fw_key, ex_key),
        ) else {
            return;
        };
        let Some(container) = self
            .frameworks
            .get(fw_key)
            .and_then(|f| f.executors.get(ex_key))
            .map(|e| e.container_id.clone())
        else {
            return;
        };
        tracing::debug!(container = %container, "updating container resources");
        // The containerizer logs a failed update; nothing here depends on it.
        let (call, _answer) = crate::containerizer::Call::update(container, total);
        crate::containerizer::send(cz, call);
    }
}

impl Slave {
    /// The containerizer this agent asks (operator views and tests read its containers).
    pub fn containerizer(&self) -> Option<libprocess::Pid<crate::containerizer::Containerizer>> {
        self.containerizer.clone()
    }
}
