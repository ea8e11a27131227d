//! Executors: the command and default executor infos, launching through the containerizer,
//! v0 registration and v1 subscription, shutdown with a grace period, and their termination.

use super::*;

impl Slave {
    /// The executor the agent builds for a command task.
    pub fn command_executor_info(
        &self,
        framework_id: &FrameworkId,
        task: &TaskInfo,
    ) -> ExecutorInfo {
        let path = self.config.launcher_dir.join("mesos-executor");
        let mut resources = task.resources.clone();
        crate::resources::add_scalars(&mut resources, COMMAND_EXECUTOR_CPUS, COMMAND_EXECUTOR_MEM);
        let shown = task.command.as_ref().map(|c| {
            if c.shell() {
                format!("sh -c '{}'", c.value())
            } else {
                format!("[{}]", c.arguments.join(", "))
            }
        });
        ExecutorInfo {
            executor_id: ExecutorId {
                value: task.task_id.value.clone(),
            },
            framework_id: Some(framework_id.clone()),
            name: Some(format!(
                "Command Executor (Task: {}) (Command: {})",
                task.task_id.value,
                shown.unwrap_or_default()
            )),
            command: Some(CommandInfo {
                value: Some(path.display().to_string()),
                shell: Some(false),
                arguments: vec![
                    "mesos-executor".into(),
                    format!("--launcher_dir={}", self.config.launcher_dir.display()),
                ],
                // The task's user becomes the executor's (Mesos), for `--switch_user`.
                user: task.command.as_ref().and_then(|c| c.user.clone()),
                ..Default::default()
            }),
            resources,
            #[allow(deprecated)]
            source: None,
            ..Default::default()
        }
    }

    /// The default executor's `ExecutorInfo` for a task group: the framework's, with the
    /// command filled in (`<launcher_dir>/mesos-default-executor`) when it names none.
    pub fn default_executor_info(
        &self,
        framework_id: &FrameworkId,
        executor: &ExecutorInfo,
    ) -> Result<ExecutorInfo, String> {
        let mut e = executor.clone();
        e.framework_id = Some(framework_id.clone());
        match (e.r#type(), e.command.is_some()) {
            (executor_info::Type::Default, true) => {
                Err("'ExecutorInfo.command' must not be set for the DEFAULT executor".into())
            }
            (executor_info::Type::Custom, false) => {
                Err("A CUSTOM executor needs 'ExecutorInfo.command'".into())
            }
            (executor_info::Type::Default | executor_info::Type::Unknown, false) => {
                let path = self.config.launcher_dir.join("mesos-default-executor");
                e.set_type(executor_info::Type::Default);
                e.command = Some(CommandInfo {
                    value: Some(path.display().to_string()),
                    shell: Some(false),
                    arguments: vec![
                        "mesos-default-executor".into(),
                        format!("--launcher_dir={}", self.config.launcher_dir.display()),
                    ],
                    ..Default::default()
                });
                if e.name.is_none() {
                    e.name = Some("Default Executor".into());
                }
                Ok(e)
            }
            // A custom executor of the framework's own; it must speak the v1 API.
            (_, true) => Ok(e),
        }
    }

    /// The user an executor runs as (Mesos): its command's user, else its framework's;
    /// none when empty. The containerizer applies it only under `--switch_user`.
    fn executor_user(&self, fw_id: &FrameworkId, info: &ExecutorInfo) -> Option<String> {
        info.command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| {
                self.frameworks
                    .get(&fw_id.value)
                    .map(|f| f.info.user.clone())
            })
            .filter(|u| !u.is_empty())
    }

    pub(super) fn launch_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        info: ExecutorInfo,
        command_executor: bool,
        pending: Pending,
    ) {
        let agent_id = self.id.clone().unwrap_or_default().value;
        let container_id = uuid::Uuid::new_v4().to_string();
        let task_ids = pending.task_ids();
        let fail = |me: &mut Self, ctx: &mut Ctx<'_, Self>, why: String| {
            tracing::error!(executor = %info.executor_id.value, %why, "executor launch failed");
            for task_id in &task_ids {
                me.agent_update(
                    ctx,
                    fw_id,
                    Some(info.executor_id.clone()),
                    task_id,
                    TaskState::TaskFailed,
                    task_status::Reason::ContainerLaunchFailed,
                    &why,
                );
            }
        };
        let directory = match paths::create_sandbox(
            &self.config.work_dir,
            &agent_id,
            &fw_id.value,
            &info.executor_id.value,
            &container_id,
        ) {
            Ok(d) => d,
            Err(e) => return fail(self, ctx, format!("Failed to create sandbox: {e}")),
        };
        let agent_pid = ctx.pid().clone();
        let is_command_executor = info.command.as_ref().is_some_and(|c| {
            std::path::Path::new(c.value()) == self.config.launcher_dir.join("mesos-executor")
        });
        // The container starts with the executor's resources plus its first tasks' (Mesos);
        // a command executor's info already includes its task's.
        let mut container_info = info.clone();
        match &pending {
            _ if command_executor => {}
            Pending::Task(t) => container_info.resources.extend(t.resources.iter().cloned()),
            Pending::Group(g) => container_info
                .resources
                .extend(g.tasks.iter().flat_map(|t| t.resources.iter().cloned())),
        }
        let spec = containerizer::LaunchSpec {
            executor: container_info,
            framework_id: fw_id.value.clone(),
            agent_id,
            agent_pid,
            directory: directory.clone(),
            checkpoint: false,
            shutdown_grace_period: self.config.executor_shutdown_grace_period,
            // Only the command executor (our own) switches APIs; others choose for themselves.
            http_command_executor: self.config.http_command_executor && is_command_executor,
            user: self.executor_user(fw_id, &info),
        };
        let Some(containerizer) = self.containerizer.clone() else {
            return fail(self, ctx, "The containerizer is not running".into());
        };
        // The record exists before the container does, so tasks for this executor that arrive
        // while it launches are queued on it rather than starting a second one.
        let fw_key = fw_id.value.clone();
        let ex_key = info.executor_id.value.clone();
        let mut executor = Executor {
            info,
            container_id: container_id.clone(),
            directory,
            state: ExecState::Registering,
            pid: None,
            stream: None,
            os_pid: None,
            queued: Vec::new(),
            queued_groups: Vec::new(),
            tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            command_executor,
            pending_termination: None,
        };
        match pending {
            Pending::Task(t) => executor.queued.push(*t),
            Pending::Group(g) => executor.queued_groups.push(g),
        }
        if let Some(fw) = self.frameworks.get_mut(&fw_key) {
            fw.executors.insert(ex_key.clone(), executor);
        }
        let cid = container_id.clone();
        let launched = async move {
            let (call, answer) = containerizer::Call::launch(cid, spec);
            containerizer::send(&containerizer, call);
            answer
                .await
                .map_err(|_| "the containerizer dropped the launch".to_string())?
                .map_err(|e| e.to_string())
        };
        let (f, e, c) = (fw_key.clone(), ex_key.clone(), container_id.clone());
        ctx.then(launched, move |me, ctx, result| {
            me.container_launched(ctx, &f, &e, &c, result);
        });
        let timeout = self.config.executor_registration_timeout;
        ctx.delay(timeout, "executor_registration_timeout", move |me, _ctx| {
            if let Some(ex) = me.executor_mut(&fw_key, &ex_key) {
                if ex.container_id == container_id && ex.state == ExecState::Registering {
                    tracing::warn!(executor = %ex_key, ?timeout, "executor did not register in time; killing it");
                    ex.pending_termination = Some(PendingTermination {
                        state: TaskState::TaskFailed,
                        reason: task_status::Reason::ExecutorRegistrationTimeout,
                        message: format!(
                            "Executor did not register within {}",
                            libprocess::duration::format(timeout)
                        ),
                    });
                    ex.state = ExecState::Terminating;
                    me.destroy_container(&container_id);
                }
            }
        });
    }

    /// The containerizer answered a launch: watch the container, or fail the executor's tasks.
    pub(super) fn container_launched(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        container_id: &str,
        result: Result<containerizer::Launched, String>,
    ) {
        let current = self
            .executor_mut(fw_key, ex_key)
            .filter(|e| e.container_id == container_id);
        match (result, current) {
            (Ok(launched), Some(ex)) => {
                tracing::info!(executor = %ex_key, container = %container_id, pid = launched.pid,
                    sandbox = %ex.directory.display(), "executor launched");
                ex.os_pid = Some(launched.pid);
                if ex.state == ExecState::Terminating {
                    // Killed while it was being launched.
                    self.destroy_container(container_id);
                }
                let (f, e, c) = (
                    fw_key.to_string(),
                    ex_key.to_string(),
                    container_id.to_string(),
                );
                ctx.then(launched.termination, move |me, ctx, termination| {
                    // The containerizer dropped the container without reporting its end.
                    let termination = termination.map_err(|_| "unknown container".to_string());
                    me.executor_exited(ctx, &f, &e, &c, termination);
                });
            }
            (Ok(_), None) => {
                // The executor's record went away meanwhile (framework shut down).
                self.destroy_container(container_id);
            }
            (Err(why), Some(ex)) => {
                let why = format!("Failed to launch container: {why}");
                tracing::error!(executor = %ex_key, %why, "executor launch failed");
                let executor_id = ex.info.executor_id.clone();
                let mut task_ids: Vec<TaskId> = ex.queued.drain(..).map(|t| t.task_id).collect();
                task_ids.extend(
                    ex.queued_groups
                        .drain(..)
                        .flat_map(|g| g.tasks.into_iter().map(|t| t.task_id)),
                );
                if let Some(fw) = self.frameworks.get_mut(fw_key) {
                    fw.executors.remove(ex_key);
                }
                let fw_id = FrameworkId {
                    value: fw_key.to_string(),
                };
                for task_id in &task_ids {
                    self.agent_update(
                        ctx,
                        &fw_id,
                        Some(executor_id.clone()),
                        task_id,
                        TaskState::TaskFailed,
                        task_status::Reason::ContainerLaunchFailed,
                        &why,
                    );
                }
            }
            (Err(why), None) => {
                tracing::warn!(executor = %ex_key, %why, "launch failed for an executor already gone");
            }
        }
    }

    pub(super) fn register_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: RegisterExecutorMessage,
    ) {
        let fw_key = msg.framework_id.value.clone();
        let ex_key = msg.executor_id.value.clone();
        let ok = self
            .executor_mut(&fw_key, &ex_key)
            .is_some_and(|e| e.state == ExecState::Registering)
            && self.state != RegState::Disconnected;
        if !ok {
            tracing::warn!(%from, executor = %ex_key, "unexpected executor registration; telling it to shut down");
            ctx.send(
                &from,
                &ShutdownExecutorMessage {
                    executor_id: Some(msg.executor_id),
                    framework_id: Some(msg.framework_id),
                },
            );
            return;
        }
        ctx.link(&from);
        let slave_info = self.slave_info(ctx);
        let slave_id = self.id.clone().unwrap_or_default();
        let Some(fw) = self.frameworks.get_mut(&fw_key) else {
            return;
        };
        let framework_info = fw.info.clone();
        let Some(ex) = fw.executors.get_mut(&ex_key) else {
            return;
        };
        ex.pid = Some(from.clone());
        ex.state = ExecState::Running;
        tracing::info!(executor = %ex_key, pid = %from, "executor registered");
        ctx.send(
            &from,
            &ExecutorRegisteredMessage {
                executor_info: ex.info.clone(),
                framework_id: msg.framework_id,
                framework_info,
                slave_id,
                slave_info,
            },
        );
        let queued = std::mem::take(&mut ex.queued);
        let groups = std::mem::take(&mut ex.queued_groups);
        for task in queued {
            self.send_task(ctx, &fw_key, &ex_key, task);
        }
        for group in groups {
            self.send_group(ctx, &fw_key, &ex_key, group);
        }
    }

    /// Marks a v1 executor subscribed and sends it its queued tasks (executor_api).
    pub(crate) fn executor_subscribed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        stream: EventStream,
    ) {
        let Some(ex) = self.executor_mut(fw_key, ex_key) else {
            return;
        };
        ex.stream = Some(stream);
        ex.state = ExecState::Running;
        let queued = std::mem::take(&mut ex.queued);
        let groups = std::mem::take(&mut ex.queued_groups);
        for task in queued {
            self.send_task(ctx, fw_key, ex_key, task);
        }
        for group in groups {
            self.send_group(ctx, fw_key, ex_key, group);
        }
    }

    pub(super) fn shutdown_executor_msg(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ShutdownExecutorMessage,
    ) {
        if from.address() != self.config.master.address() {
            tracing::warn!(%from, "ignoring ShutdownExecutorMessage not from the master");
            return;
        }
        if let (Some(fw), Some(ex)) = (msg.framework_id, msg.executor_id) {
            self.shutdown_executor(ctx, &fw.value, &ex.value);
        }
    }

    /// Asks an executor to shut down; kills its process group after the grace period.
    pub(crate) fn shutdown_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
    ) {
        let grace = self.config.executor_shutdown_grace_period;
        let Some(ex) = self.executor_mut(fw_key, ex_key) else {
            return;
        };
        if matches!(ex.state, ExecState::Terminated) {
            return;
        }
        tracing::info!(executor = %ex_key, "shutting down executor");
        let was_registered = ex.state == ExecState::Running;
        ex.state = ExecState::Terminating;
        let container = ex.container_id.clone();
        if was_registered {
            if let Some(pid) = ex.pid.clone() {
                ctx.send(
                    &pid,
                    &ShutdownExecutorMessage {
                        executor_id: Some(ex.info.executor_id.clone()),
                        framework_id: Some(FrameworkId {
                            value: fw_key.to_string(),
                        }),
                    },
                );
            } else if let Some(stream) = &ex.stream {
                crate::executor_api::send_shutdown(stream);
            }
            let (f, e) = (fw_key.to_string(), ex_key.to_string());
            ctx.delay(grace, "executor_shutdown_grace", move |me, _| {
                if let Some(ex) = me.executor_mut(&f, &e) {
                    if ex.container_id == container && ex.state != ExecState::Terminated {
                        tracing::warn!(executor = %e, "executor did not exit within the grace period; killing it");
                        me.destroy_container(&container);
                    }
                }
            });
        } else {
            // Not registered yet (or launching): nothing to ask, destroy the container.
            self.destroy_container(&container);
        }
    }

    pub(super) fn executor_exited(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_key: &str,
        ex_key: &str,
        container_id: &str,
        exit: Result<containerizer::Termination, String>,
    ) {
        let Some(ex) = self
            .executor_mut(fw_key, ex_key)
            .filter(|e| e.container_id == container_id)
        else {
            return;
        };
        let described = match &exit {
            Ok(t) => t
                .status
                .map_or_else(|| "unknown status".to_string(), |s| s.describe()),
            Err(why) => why.clone(),
        };
        tracing::info!(executor = %ex_key, status = %described, "executor exited");
        ex.state = ExecState::Terminated;
        ctx.metrics().counter("slave/executors_terminated").inc();
        ex.os_pid = None;
        ex.stream = None;
        let ex_id = ex.info.executor_id.clone();
        let (task_state, reason, message) =
            executor_terminated_status(ex.pending_termination.as_ref(), &exit);
        let command_executor = ex.command_executor;
        let mut orphans: Vec<TaskId> = ex.queued.drain(..).map(|t| t.task_id).collect();
        orphans.extend(
            ex.queued_groups
                .drain(..)
                .flat_map(|g| g.tasks.into_iter().map(|t| t.task_id)),
        );
        orphans.extend(
            ex.tasks
                .values()
                .filter(|t| !is_terminal(t.state()))
                .map(|t| t.task_id.clone()),
        );
        // Queued tasks need records to carry their terminal state.
        let fw_id = FrameworkId {
            value: fw_key.to_string(),
        };
        if let Some(id) = self.id.clone() {
            // As genuine agents: the master never tracks the executors the agent builds for
            // command tasks, so their exits are not reported.
            if self.state == RegState::Registered && !command_executor {
                let master = self.config.master.clone();
                ctx.send(
                    &master,
                    &ExitedExecutorMessage {
                        slave_id: id,
                        framework_id: fw_id.clone(),
                        executor_id: ex_id.clone(),
                        status: exit
                            .as_ref()
                            .ok()
                            .and_then(|t| t.status)
                            .map_or(-1, |e| e.raw),
                    },
                );
            }
        }
        for task_id in orphans {
            self.agent_update(
                ctx,
                &fw_id,
                Some(ex_id.clone()),
                &task_id,
                task_state,
                reason,
                &message,
            );
        }
        if let Some(fw) = self.frameworks.get_mut(fw_key) {
            if let Some(ex) = fw.executors.remove(ex_key) {
                history::push_bounded(
                    &mut fw.completed_executors,
                    ex,
                    self.config.max_completed_executors_per_framework,
                );
            }
        }
        self.cleanup_framework(fw_key);
    }
}
