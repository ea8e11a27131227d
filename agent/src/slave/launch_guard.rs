//! `launch_executor` (RunTaskMessage field 6, RunTaskGroupMessage field 5): since Mesos 1.5
//! the master says whether the task expects a new executor. When that disagrees with what
//! this agent has, the tasks are dropped rather than launched, as genuine agents do: the
//! master's and the agent's books on executors would diverge otherwise. Likewise tasks
//! decided on an outdated version of this agent's resources (`resource_version_uuids`).

use libprocess::Ctx;
use mesos_proto::mesos::internal::{ExitedExecutorMessage, ResourceVersionUuid};
use mesos_proto::mesos::{
    framework_info, task_status, ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState,
};

use super::{ExecState, Slave};

/// Why tasks the master sent are not launched.
const EXECUTOR_EXISTS: &str = "Master wants to launch executor, but one already exists";
const NO_EXECUTOR: &str = "No executor is expected to launch and there is none running";
const OUTDATED: &str = "Task assumes outdated resource state";

impl Slave {
    /// Whether tasks for `executor_id` may go on to their executor. Tasks of a framework
    /// being shut down are ignored without an update (it cannot acknowledge any). These are
    /// dropped (TASK_DROPPED, TASK_LOST for frameworks that are not partition-aware): tasks
    /// decided on outdated resources (REASON_INVALID_OFFERS), and tasks whose
    /// `launch_executor` contradicts this agent's executors (REASON_EXECUTOR_TERMINATED).
    /// Command tasks always get a fresh executor.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn admit_launch(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_id: &ExecutorId,
        launch_executor: Option<bool>,
        command_task: bool,
        resource_versions: &[ResourceVersionUuid],
        tasks: &[TaskInfo],
    ) -> bool {
        let task_ids: Vec<TaskId> = tasks.iter().map(|t| t.task_id.clone()).collect();
        let Some(fw) = self.frameworks.get(&fw_id.value) else {
            return true;
        };
        if fw.terminating {
            tracing::warn!(framework = %fw_id.value, tasks = ?task_ids, "ignoring tasks of a framework that is shutting down");
            return false;
        }
        let state = if fw
            .info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32))
        {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        if !self.resources_current(resource_versions, tasks) {
            tracing::warn!(framework = %fw_id.value, tasks = ?task_ids, "dropping tasks decided on outdated resources");
            self.drop_tasks(
                ctx,
                fw_id,
                executor_id,
                &task_ids,
                state,
                task_status::Reason::InvalidOffers,
                OUTDATED,
            );
            if launch_executor == Some(true) {
                // The master recorded an executor that will not run.
                self.report_exited_executor(ctx, fw_id, executor_id);
            }
            return false;
        }
        let Some(launch) = launch_executor.filter(|_| !command_task) else {
            // Unset (a pre-1.5 master), or a command task: launch one if there is none.
            return true;
        };
        let existing = self
            .frameworks
            .get(&fw_id.value)
            .and_then(|fw| fw.executors.get(&executor_id.value))
            .map(|e| e.state);
        let why = match (launch, existing) {
            (true, Some(_)) => EXECUTOR_EXISTS,
            (false, None) => NO_EXECUTOR,
            _ => return true,
        };
        tracing::warn!(framework = %fw_id.value, executor = %executor_id.value, tasks = ?task_ids, launch_executor = launch, why, "dropping tasks");
        let reason = task_status::Reason::ExecutorTerminated;
        self.drop_tasks(ctx, fw_id, executor_id, &task_ids, state, reason, why);
        match existing {
            // The master expects an executor exit for the one it asked for.
            Some(ExecState::Terminated) => self.report_exited_executor(ctx, fw_id, executor_id),
            // One the master does not know: it must not linger.
            Some(_) => self.shutdown_executor(ctx, &fw_id.value, &executor_id.value),
            None => {}
        }
        false
    }

    /// Whether the resource versions a launch was decided on are this agent's current
    /// ones. An empty list (a master that sends none) is taken as current; resources of a
    /// resource provider never are (this agent has none).
    fn resources_current(&self, versions: &[ResourceVersionUuid], tasks: &[TaskInfo]) -> bool {
        if versions.is_empty() {
            return true;
        }
        let own = versions
            .iter()
            .find(|v| v.resource_provider_id.is_none())
            .map(|v| v.uuid.value.as_slice());
        let uses_providers = tasks
            .iter()
            .flat_map(|t| &t.resources)
            .any(|r| r.provider_id.is_some());
        own == Some(self.resource_version_uuid.as_slice()) && !uses_providers
    }

    #[allow(clippy::too_many_arguments)]
    fn drop_tasks(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_id: &ExecutorId,
        task_ids: &[TaskId],
        state: TaskState,
        reason: task_status::Reason,
        why: &str,
    ) {
        for task_id in task_ids {
            self.agent_update(
                ctx,
                fw_id,
                Some(executor_id.clone()),
                task_id,
                state,
                reason,
                why,
            );
        }
    }

    /// Tells the master an executor is gone without an exit status (-1), as genuine
    /// agents do when no container ever ran for it.
    fn report_exited_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        fw_id: &FrameworkId,
        executor_id: &ExecutorId,
    ) {
        let Some(slave_id) = self.id.clone() else {
            return;
        };
        let master = self.config.master.clone();
        ctx.send(
            &master,
            &ExitedExecutorMessage {
                slave_id,
                framework_id: fw_id.clone(),
                executor_id: executor_id.clone(),
                status: -1,
            },
        );
    }
}
