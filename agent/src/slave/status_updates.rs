//! Status updates: from executors (v0 and v1) and from the agent itself, into the status
//! update manager, forwarded to the master with retries, and the master's acknowledgements.

use super::*;

impl Slave {
    pub(super) fn executor_status_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateMessage,
    ) {
        let ack_to = msg
            .pid
            .as_deref()
            .and_then(|p| p.parse::<Upid>().ok())
            .unwrap_or(from);
        self.executor_update(ctx, msg.update, Some(ack_to));
    }

    /// An update from an executor (v0: ack to `ack_to`; v1: the caller acks on its stream).
    /// Returns whether it was accepted.
    pub(crate) fn executor_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        mut update: StatusUpdate,
        ack_to: Option<Upid>,
    ) -> bool {
        if update.uuid.as_ref().is_none_or(|u| u.is_empty()) {
            tracing::warn!(task = %update.status.task_id.value, "dropping status update without uuid");
            self.count_status_update(ctx, false);
            return false;
        }
        if let (Some(ours), Some(theirs)) = (&self.id, &update.slave_id) {
            if ours != theirs {
                tracing::warn!(task = %update.status.task_id.value, "dropping status update for another agent");
                self.count_status_update(ctx, false);
                return false;
            }
        }
        update.slave_id = self.id.clone();
        update.status.slave_id = self.id.clone();
        update.status.source = Some(task_status::Source::Executor as i32);
        if update.status.uuid.is_none() {
            update.status.uuid = update.uuid.clone();
        }
        let accepted = self.handle_update(ctx, update.clone());
        if let Some(to) = ack_to {
            if accepted {
                ctx.send(
                    &to,
                    &StatusUpdateAcknowledgementMessage {
                        slave_id: self.id.clone().unwrap_or_default(),
                        framework_id: update.framework_id.clone(),
                        task_id: update.status.task_id.clone(),
                        uuid: update.uuid.clone().unwrap_or_default(),
                    },
                );
            }
        }
        accepted
    }

    /// An update the agent generates itself (invalid task, executor gone, ...).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn agent_update(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_id: Option<ExecutorId>,
        task_id: &TaskId,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) {
        let now = ctx.clock().now_secs();
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let mut status = TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message.to_string()),
            slave_id: self.id.clone(),
            timestamp: Some(now),
            executor_id: executor_id.clone(),
            source: Some(task_status::Source::Slave as i32),
            uuid: Some(uuid.clone()),
            ..Default::default()
        };
        status.set_reason(reason);
        let update = StatusUpdate {
            framework_id: fw_id.clone(),
            executor_id,
            slave_id: self.id.clone(),
            status,
            timestamp: now,
            uuid: Some(uuid),
            latest_state: None,
        };
        self.handle_update(ctx, update);
    }

    /// Records an update on its task and queues it for the master.
    pub(super) fn handle_update(&mut self, ctx: &mut Ctx<'_, Self>, update: StatusUpdate) -> bool {
        let state = update.status.state();
        let task_key = update.status.task_id.value.clone();
        if self.framework_terminating(&update.framework_id.value) {
            // Nobody would acknowledge it (genuine agents drop these too).
            tracing::warn!(task = %task_key, ?state, framework = %update.framework_id.value, "ignoring status update for a terminating framework");
            self.count_status_update(ctx, false);
            return false;
        }
        self.count_status_update(ctx, true);
        let mut left: Option<String> = None;
        if let Some(fw) = self.frameworks.get_mut(&update.framework_id.value) {
            let ex_key = update.executor_id.as_ref().map(|e| e.value.clone());
            for (key, ex) in fw.executors.iter_mut() {
                if ex_key.as_ref().is_some_and(|k| k != key) && !ex.tasks.contains_key(&task_key) {
                    continue;
                }
                if let Some(task) = ex.tasks.get_mut(&task_key) {
                    task.state = state as i32;
                    task.statuses.push(update.status.clone());
                    task.status_update_state = Some(state as i32);
                    task.status_update_uuid = update.uuid.clone();
                    if is_terminal(state) {
                        if let Some(t) = ex.tasks.remove(&task_key) {
                            history::push_bounded(
                                &mut ex.completed_tasks,
                                t,
                                history::MAX_COMPLETED_TASKS_PER_EXECUTOR,
                            );
                        }
                        if ex.state == ExecState::Running {
                            left = Some(key.clone());
                        }
                    }
                    break;
                }
            }
        }
        if let Some(ex_key) = left {
            // The task left its executor: the container shrinks.
            let fw_key = update.framework_id.value.clone();
            self.update_container(ctx, &fw_key, &ex_key);
        }
        let result = self.sum.update(update);
        if result.is_ok() && is_terminal(state) {
            // A new terminal update: the task ended (launched or still queued).
            self.count_terminal_task(ctx, state);
        }
        match result {
            Ok(Some(head)) => {
                self.forward(ctx, head);
                true
            }
            Ok(None) => true,
            Err(crate::status_update_manager::UpdateError::Duplicate) => true,
            Err(e) => {
                tracing::warn!(task = %task_key, error = %e, "status update refused");
                false
            }
        }
    }

    /// Sends a stream head to the master (if registered) and arms its retry.
    pub(super) fn forward(&mut self, ctx: &mut Ctx<'_, Self>, mut update: StatusUpdate) {
        let key = key_of(&update);
        if let Some(t) = self.sum.take_retry(&key) {
            ctx.cancel(t);
        }
        if self.state != RegState::Registered {
            return;
        }
        update.latest_state =
            Some(self.sum.latest_state(&key).unwrap_or(update.status.state()) as i32);
        tracing::info!(task = %key.1, state = ?update.status.state(), "forwarding status update to the master");
        let master = self.config.master.clone();
        ctx.send(
            &master,
            &StatusUpdateMessage {
                update: update.clone(),
                pid: Some(ctx.pid().to_string()),
            },
        );
        let Some(wait) = self.sum.next_retry(&key) else {
            return;
        };
        let uuid = update.uuid.clone();
        let k2 = key.clone();
        let timer = ctx.delay(wait, "status_update_retry", move |me, ctx| {
            me.sum.take_retry(&k2);
            if let Some(head) = me.sum.head(&k2).filter(|h| h.uuid == uuid).cloned() {
                tracing::info!(task = %k2.1, "resending unacknowledged status update");
                me.forward_again(ctx, head);
            }
        });
        self.sum.arm_retry(key, timer);
    }

    pub(super) fn forward_again(&mut self, ctx: &mut Ctx<'_, Self>, update: StatusUpdate) {
        // Same as forward, but the retry interval keeps growing.
        self.forward(ctx, update);
    }

    pub(super) fn master_ack(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: StatusUpdateAcknowledgementMessage,
    ) {
        if from.address() != self.config.master.address() {
            tracing::warn!(%from, "ignoring acknowledgement not from the master");
            return;
        }
        let key = (msg.framework_id.value.clone(), msg.task_id.value.clone());
        match self.sum.acknowledge(&key, &msg.uuid) {
            Ok(acked) => {
                if let Some(t) = self.sum.take_retry(&key) {
                    ctx.cancel(t);
                }
                tracing::debug!(task = %key.1, state = ?acked.acked.status.state(), "status update acknowledged");
                if let Some(next) = acked.next {
                    self.forward(ctx, next);
                }
                if acked.closed {
                    self.cleanup_framework(&key.0);
                }
            }
            Err(e) => tracing::warn!(task = %key.1, error = %e, "ignoring acknowledgement"),
        }
    }
}
