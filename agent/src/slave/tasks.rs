//! Tasks arriving from the master (`RunTaskMessage`, `RunTaskGroupMessage`): their records,
//! and handing them to a running executor, queueing them on a registering one, or launching it.

use super::*;

impl Slave {
    pub(super) fn task_record(
        &self,
        fw: &Framework,
        ex: &Executor,
        t: &TaskInfo,
        state: TaskState,
    ) -> Task {
        Task {
            name: t.name.clone(),
            task_id: t.task_id.clone(),
            framework_id: fw.info.id.clone().unwrap_or_default(),
            executor_id: Some(ex.info.executor_id.clone()),
            slave_id: self.id.clone().unwrap_or_default(),
            state: state as i32,
            resources: t.resources.clone(),
            labels: t.labels.clone(),
            discovery: t.discovery.clone(),
            container: t.container.clone(),
            health_check: t.health_check.clone(),
            kill_policy: t.kill_policy,
            ..Default::default()
        }
    }

    pub(super) fn run_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: RunTaskMessage) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring RunTaskMessage not from the master");
            return;
        }
        if self.state != RegState::Registered {
            self.hold_launch(super::early_launches::Early::Task(from, msg));
            return;
        }
        #[allow(deprecated)]
        let Some(fw_id) = msg.framework.id.clone().or(msg.framework_id.clone()) else {
            tracing::warn!("RunTaskMessage without a framework id; dropped");
            return;
        };
        let task = msg.task;
        let fw_key = fw_id.value.clone();
        self.add_framework(&fw_id, &msg.framework, msg.pid.as_deref());

        let executor_info = match (&task.command, &task.executor) {
            (Some(_), None) => self.command_executor_info(&fw_id, &task),
            (None, Some(e)) => {
                let mut e = e.clone();
                e.framework_id = Some(fw_id.clone());
                e
            }
            _ => {
                let why = "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present";
                tracing::warn!(task = %task.task_id.value, why, "invalid task");
                let ex_id = task.executor.as_ref().map(|e| e.executor_id.clone());
                self.agent_update(
                    ctx,
                    &fw_id,
                    ex_id,
                    &task.task_id,
                    TaskState::TaskError,
                    task_status::Reason::TaskInvalid,
                    why,
                );
                return;
            }
        };
        let command_executor = task.command.is_some();
        let ex_key = executor_info.executor_id.value.clone();
        let admitted = self.admit_launch(
            ctx,
            &fw_id,
            &executor_info.executor_id,
            msg.launch_executor,
            command_executor,
            &msg.resource_version_uuids,
            std::slice::from_ref(&task),
        );
        if !admitted {
            return;
        }
        tracing::info!(task = %task.task_id.value, framework = %fw_key, executor = %ex_key, "launching task");

        self.deliver_or_launch(
            ctx,
            &fw_id,
            executor_info,
            command_executor,
            Pending::Task(Box::new(task)),
        );
    }

    pub(super) fn run_task_group(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: RunTaskGroupMessage,
    ) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring RunTaskGroupMessage not from the master");
            return;
        }
        if self.state != RegState::Registered {
            self.hold_launch(super::early_launches::Early::Group(from, msg));
            return;
        }
        let Some(fw_id) = msg.framework.id.clone() else {
            tracing::warn!("RunTaskGroupMessage without a framework id; dropped");
            return;
        };
        let group = msg.task_group;
        if group.tasks.is_empty() {
            tracing::warn!(framework = %fw_id.value, "empty task group; dropped");
            return;
        }
        self.add_framework(&fw_id, &msg.framework, None);
        let ex_id = msg.executor.executor_id.clone();
        let check = validate_group(&group);
        let executor_info = check.and_then(|()| self.default_executor_info(&fw_id, &msg.executor));
        let executor_info = match executor_info {
            Ok(e) => e,
            Err(why) => {
                tracing::warn!(framework = %fw_id.value, executor = %ex_id.value, %why, "invalid task group");
                for t in &group.tasks {
                    self.agent_update(
                        ctx,
                        &fw_id,
                        Some(ex_id.clone()),
                        &t.task_id,
                        TaskState::TaskError,
                        task_status::Reason::TaskGroupInvalid,
                        &why,
                    );
                }
                self.cleanup_framework(&fw_id.value);
                return;
            }
        };
        let versions = &msg.resource_version_uuids;
        let launch = msg.launch_executor;
        if !self.admit_launch(ctx, &fw_id, &ex_id, launch, false, versions, &group.tasks) {
            return;
        }
        let fw_key = fw_id.value.clone();
        let ex_key = ex_id.value.clone();
        let names: Vec<&str> = group
            .tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect();
        tracing::info!(tasks = ?names, framework = %fw_key, executor = %ex_key, "launching task group");
        self.deliver_or_launch(ctx, &fw_id, executor_info, false, Pending::Group(group));
    }

    /// Hands work to its executor: now if it runs, queued while it registers, LOST if it is
    /// going away, else after launching it.
    pub(super) fn deliver_or_launch(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_info: ExecutorInfo,
        command_executor: bool,
        pending: Pending,
    ) {
        let (fw_key, ex_key) = (fw_id.value.clone(), executor_info.executor_id.value.clone());
        let existing = self
            .frameworks
            .get(&fw_key)
            .and_then(|f| f.executors.get(&ex_key))
            .map(|e| e.state);
        match (existing, pending) {
            (Some(ExecState::Running), Pending::Task(t)) => {
                self.send_task(ctx, &fw_key, &ex_key, *t)
            }
            (Some(ExecState::Running), Pending::Group(g)) => {
                self.send_group(ctx, &fw_key, &ex_key, g)
            }
            (Some(ExecState::Registering), pending) => {
                if let Some(ex) = self.executor_mut(&fw_key, &ex_key) {
                    match pending {
                        Pending::Task(t) => ex.queued.push(*t),
                        Pending::Group(g) => ex.queued_groups.push(g),
                    }
                }
            }
            (Some(ExecState::Terminating | ExecState::Terminated), pending) => {
                for task_id in pending.task_ids() {
                    self.agent_update(
                        ctx,
                        fw_id,
                        Some(executor_info.executor_id.clone()),
                        &task_id,
                        TaskState::TaskLost,
                        task_status::Reason::ExecutorTerminated,
                        "Executor is shutting down",
                    );
                }
            }
            (None, pending) => {
                self.launch_executor(ctx, fw_id, executor_info, command_executor, pending)
            }
        }
    }

    /// Gives a task to a registered executor.
    pub(crate) fn send_task(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        task: TaskInfo,
    ) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        let Some(ex) = fw.executors.get(ex_key) else {
            return;
        };
        let record = self.task_record(fw, ex, &task, TaskState::TaskStaging);
        if let Some(pid) = &ex.pid {
            let msg = RunTaskMessage {
                #[allow(deprecated)]
                framework_id: None,
                framework: fw.info.clone(),
                pid: Some(fw.pid.clone().unwrap_or_default()),
                task: task.clone(),
                resource_version_uuids: Vec::new(),
                launch_executor: None,
            };
            ctx.send(pid, &msg);
        } else if let Some(stream) = &ex.stream {
            crate::executor_api::send_launch(stream, &task);
        }
        if let Some(ex) = self.executor_mut(fw_key, ex_key) {
            ex.tasks.insert(task.task_id.value.clone(), record);
        }
        self.update_container(ctx, fw_key, ex_key);
    }

    /// Gives a task group to a subscribed executor (LAUNCH_GROUP); a v0 executor cannot
    /// take one, so its tasks end in TASK_ERROR.
    pub(crate) fn send_group(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        group: TaskGroupInfo,
    ) {
        let Some(fw) = self.frameworks.get(fw_key) else {
            return;
        };
        let Some(ex) = fw.executors.get(ex_key) else {
            return;
        };
        if ex.stream.is_none() {
            let fw_id = FrameworkId {
                value: fw_key.to_string(),
            };
            let ex_id = ex.info.executor_id.clone();
            tracing::warn!(executor = %ex_key, "task group for an executor without the v1 API");
            for t in &group.tasks {
                self.agent_update(
                    ctx,
                    &fw_id,
                    Some(ex_id.clone()),
                    &t.task_id,
                    TaskState::TaskError,
                    task_status::Reason::TaskGroupInvalid,
                    "Task groups need an executor using the v1 HTTP executor API",
                );
            }
            return;
        }
        let records: Vec<Task> = group
            .tasks
            .iter()
            .map(|t| self.task_record(fw, ex, t, TaskState::TaskStaging))
            .collect();
        if let Some(stream) = &ex.stream {
            crate::executor_api::send_launch_group(stream, &group);
        }
        if let Some(ex) = self.executor_mut(fw_key, ex_key) {
            for r in records {
                ex.tasks.insert(r.task_id.value.clone(), r);
            }
        }
        self.update_container(ctx, fw_key, ex_key);
    }
}
