//! Frameworks on this agent: added with their first task, updated by the master, removed
//! once they have no executors and no unacknowledged updates; messages between frameworks
//! and executors.

use super::*;

impl Slave {
    /// Records (or refreshes) a framework the master sends work for.
    pub(super) fn add_framework(
        &mut self,
        fw_id: &FrameworkId,
        info: &FrameworkInfo,
        pid: Option<&str>,
    ) {
        let fw = self
            .frameworks
            .entry(fw_id.value.clone())
            .or_insert_with(|| Framework {
                info: info.clone(),
                pid: None,
                terminating: false,
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
            });
        fw.info = info.clone();
        fw.info.id = Some(fw_id.clone());
        if let Some(pid) = pid.filter(|p| names_a_process(p)) {
            fw.pid = Some(pid.to_string());
        }
    }

    /// Drops a framework once it has no executors and no unacknowledged updates.
    pub(super) fn cleanup_framework(&mut self, fw_key: &str) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        if !fw.executors.is_empty() {
            return;
        }
        let pending = self
            .sum
            .heads()
            .iter()
            .any(|u| u.framework_id.value == fw_key);
        if pending {
            return;
        }
        if let Some(fw) = self.frameworks.remove(fw_key) {
            tracing::info!(framework = %fw_key, "framework removed from the agent");
            self.sum.remove_framework(fw_key);
            history::push_bounded(
                &mut self.completed_frameworks,
                fw,
                history::MAX_COMPLETED_FRAMEWORKS,
            );
        }
    }

    pub(super) fn update_framework(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: UpdateFrameworkMessage,
    ) {
        if from.address() != self.config.master.address() {
            return;
        }
        if let Some(fw) = self.frameworks.get_mut(&msg.framework_id.value) {
            // The empty UPID means the framework now speaks HTTP: no pid to reach it by.
            if let Some(pid) = msg.pid {
                fw.pid = names_a_process(&pid).then_some(pid);
            }
            if let Some(info) = msg.framework_info {
                fw.info = info;
                fw.info.id = Some(msg.framework_id);
            }
        }
    }

    pub(super) fn framework_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        _from: Upid,
        msg: FrameworkToExecutorMessage,
    ) {
        let Some(ex) = self.executor_mut(&msg.framework_id.value, &msg.executor_id.value) else {
            self.count_framework_message(ctx, false);
            return;
        };
        let delivered = if let Some(pid) = ex.pid.clone() {
            ctx.send(&pid, &msg);
            true
        } else if let Some(stream) = &ex.stream {
            crate::executor_api::send_message(stream, &msg.data);
            true
        } else {
            false
        };
        self.count_framework_message(ctx, delivered);
    }

    /// An executor's message for its framework: straight to a v0 framework's pid, else via
    /// the master.
    pub(crate) fn executor_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        _from: Upid,
        mut msg: ExecutorToFrameworkMessage,
    ) {
        msg.slave_id = self.id.clone().unwrap_or_default();
        let target = self
            .frameworks
            .get(&msg.framework_id.value)
            .and_then(|f| f.pid.as_deref())
            .and_then(|p| p.parse::<Upid>().ok())
            .unwrap_or_else(|| self.config.master.clone());
        ctx.send(&target, &msg);
    }
}
