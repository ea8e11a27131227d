//! The master's reconciliation requests carried by `SlaveReregisteredMessage`, handled as
//! the genuine agent's `reregistered` does.
//!
//! The master lists, per framework, the tasks it believes run on this agent but that the
//! agent did not report when re-registering (typically a `RunTaskMessage` lost on the
//! way). For each such task the agent does not know, it answers with a terminal update so
//! the master stops waiting for it: TASK_DROPPED when the master's `FrameworkInfo` says
//! PARTITION_AWARE, TASK_LOST otherwise (or when the master sent no `FrameworkInfo`),
//! SOURCE_SLAVE, REASON_RECONCILIATION. The update goes through the status update manager
//! even when the agent has no record of the framework, so it is retried until acknowledged.
//! Tasks the agent knows need nothing: their own updates already reach the master.

use libprocess::Ctx;
use mesos_proto::mesos::internal::ReconcileTasksMessage;
use mesos_proto::mesos::{framework_info, task_status, FrameworkInfo, TaskState};

use crate::slave::{Framework, Slave};
use crate::status_update_manager::StatusUpdateManager;

/// The message of the terminal update for a task the agent does not know (Mesos's words).
pub const UNKNOWN_TASK_MESSAGE: &str = "Reconciliation: task unknown to the agent";

/// Whether the agent knows the task: queued on one of the framework's executors, given to
/// one, or terminal with updates the master has not acknowledged yet.
pub(crate) fn knows_task(
    framework: Option<&Framework>,
    sum: &StatusUpdateManager,
    fw_key: &str,
    task_key: &str,
) -> bool {
    let Some(fw) = framework else {
        return false;
    };
    let live = fw.executors.values().any(|ex| {
        ex.tasks.contains_key(task_key)
            || ex.queued.iter().any(|t| t.task_id.value == task_key)
            || ex
                .queued_groups
                .iter()
                .any(|g| g.tasks.iter().any(|t| t.task_id.value == task_key))
    });
    if live {
        return true;
    }
    // Terminal tasks stay known until their last update is acknowledged, whether their
    // executor still runs or has exited since.
    sum.has_pending(&(fw_key.to_string(), task_key.to_string()))
        && fw
            .executors
            .values()
            .chain(fw.completed_executors.iter())
            .any(|ex| {
                ex.completed_tasks
                    .iter()
                    .any(|t| t.task_id.value == task_key)
            })
}

/// The terminal state for a task unknown to the agent, from the `FrameworkInfo` the master
/// sent (absent from masters before 1.1: not partition-aware).
pub(crate) fn unknown_task_state(framework: Option<&FrameworkInfo>) -> TaskState {
    let partition_aware = framework.is_some_and(|f| {
        f.capabilities
            .iter()
            .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32))
    });
    if partition_aware {
        TaskState::TaskDropped
    } else {
        TaskState::TaskLost
    }
}

impl Slave {
    /// Answers the master's reconciliation requests (see the module doc).
    pub(crate) fn reconcile_with_master(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        reconciliations: Vec<ReconcileTasksMessage>,
    ) {
        for reconcile in reconciliations {
            let fw_key = reconcile.framework_id.value.as_str();
            let state = unknown_task_state(reconcile.framework.as_ref());
            for status in &reconcile.statuses {
                let task_key = status.task_id.value.as_str();
                if knows_task(self.frameworks.get(fw_key), &self.sum, fw_key, task_key) {
                    tracing::debug!(task = %task_key, framework = %fw_key,
                        "master reconciles a task the agent knows; nothing to send");
                    continue;
                }
                tracing::warn!(task = %task_key, framework = %fw_key, ?state,
                    "reconciling a task unknown to the agent");
                self.agent_update(
                    ctx,
                    &reconcile.framework_id,
                    None,
                    &status.task_id,
                    state,
                    task_status::Reason::Reconciliation,
                    UNKNOWN_TASK_MESSAGE,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, VecDeque};

    use mesos_proto::mesos::internal::StatusUpdate;
    use mesos_proto::mesos::{
        ExecutorId, ExecutorInfo, FrameworkId, Task, TaskGroupInfo, TaskId, TaskInfo, TaskStatus,
    };

    use super::*;
    use crate::slave::{ExecState, Executor};

    fn task_info(id: &str) -> TaskInfo {
        TaskInfo {
            task_id: TaskId { value: id.into() },
            ..Default::default()
        }
    }

    fn task(id: &str, state: TaskState) -> Task {
        Task {
            task_id: TaskId { value: id.into() },
            state: state as i32,
            ..Default::default()
        }
    }

    fn executor(id: &str) -> Executor {
        Executor {
            info: ExecutorInfo {
                executor_id: ExecutorId { value: id.into() },
                ..Default::default()
            },
            container_id: format!("c-{id}"),
            directory: std::path::PathBuf::from("/nonexistent"),
            state: ExecState::Running,
            pid: None,
            stream: None,
            os_pid: None,
            queued: Vec::new(),
            queued_groups: Vec::new(),
            tasks: BTreeMap::new(),
            completed_tasks: VecDeque::new(),
            command_executor: false,
            pending_termination: None,
        }
    }

    fn framework(executors: Vec<Executor>, completed: Vec<Executor>) -> Framework {
        Framework {
            info: FrameworkInfo {
                id: Some(FrameworkId { value: "f".into() }),
                ..Default::default()
            },
            pid: None,
            terminating: false,
            executors: executors
                .into_iter()
                .map(|e| (e.info.executor_id.value.clone(), e))
                .collect(),
            completed_executors: completed.into(),
        }
    }

    fn pending_update(sum: &mut StatusUpdateManager, task: &str, state: TaskState) {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        sum.update(StatusUpdate {
            framework_id: FrameworkId { value: "f".into() },
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                uuid: Some(uuid.clone()),
                ..Default::default()
            },
            uuid: Some(uuid),
            timestamp: 1.0,
            ..Default::default()
        })
        .unwrap();
    }

    #[test]
    fn queued_launched_and_unacknowledged_terminal_tasks_are_known_to_the_agent() {
        let mut sum = StatusUpdateManager::new();
        let mut running = executor("e1");
        running.queued.push(task_info("queued"));
        running.queued_groups.push(TaskGroupInfo {
            tasks: vec![task_info("in-group")],
        });
        running
            .tasks
            .insert("launched".into(), task("launched", TaskState::TaskRunning));
        running
            .completed_tasks
            .push_back(task("finished-unacked", TaskState::TaskFinished));
        pending_update(&mut sum, "finished-unacked", TaskState::TaskFinished);
        let mut exited = executor("e2");
        exited.state = ExecState::Terminated;
        exited
            .completed_tasks
            .push_back(task("failed-unacked", TaskState::TaskFailed));
        pending_update(&mut sum, "failed-unacked", TaskState::TaskFailed);
        let fw = framework(vec![running], vec![exited]);
        for known in [
            "queued",
            "in-group",
            "launched",
            "finished-unacked",
            "failed-unacked",
        ] {
            assert!(knows_task(Some(&fw), &sum, "f", known), "{known}");
        }
    }

    #[test]
    fn tasks_never_received_or_fully_acknowledged_are_unknown_to_the_agent() {
        let mut sum = StatusUpdateManager::new();
        let mut ex = executor("e1");
        // Terminal and acknowledged: forgotten, as in Mesos.
        ex.completed_tasks
            .push_back(task("done", TaskState::TaskFinished));
        let fw = framework(vec![ex], Vec::new());
        assert!(!knows_task(Some(&fw), &sum, "f", "never-received"));
        assert!(!knows_task(Some(&fw), &sum, "f", "done"));
        // An update the agent made for a task no executor has (a kill of a task whose
        // launch was lost) does not make the task known.
        pending_update(&mut sum, "killed-unknown", TaskState::TaskLost);
        assert!(!knows_task(Some(&fw), &sum, "f", "killed-unknown"));
        // No record of the framework at all.
        assert!(!knows_task(None, &sum, "f", "never-received"));
    }

    #[test]
    fn unknown_tasks_end_dropped_only_for_partition_aware_frameworks() {
        let mut info = FrameworkInfo::default();
        assert_eq!(unknown_task_state(None), TaskState::TaskLost);
        assert_eq!(unknown_task_state(Some(&info)), TaskState::TaskLost);
        info.capabilities.push(framework_info::Capability {
            r#type: Some(framework_info::capability::Type::PartitionAware as i32),
        });
        assert_eq!(unknown_task_state(Some(&info)), TaskState::TaskDropped);
    }
}
