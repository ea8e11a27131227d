//! Task reconciliation (RECONCILE call, `ReconcileTasksMessage`): the master answers with
//! what it knows of each task, as genuine Mesos does.
//!
//! A known task is reported in its *status update state* (the state of the latest update
//! the framework was sent), not the agent's latest state: a framework that has not yet
//! acknowledged TASK_RUNNING must not learn TASK_FINISHED out of order, which would let it
//! acknowledge updates the agent has not forwarded yet.

use libprocess::Ctx;
use mesos_proto::mesos::scheduler::call;
use mesos_proto::mesos::{task_status, Task, TaskState, TaskStatus};

use crate::frameworks::ToFramework;
use crate::master::Master;
use crate::tasks::master_update;

const LATEST: &str = "Reconciliation: Latest task state";

/// The state reconciliation reports for a known task: its status update state if it has
/// one, else its state.
pub fn reconciled_state(task: &Task) -> TaskState {
    task.status_update_state
        .and_then(|s| TaskState::try_from(s).ok())
        .or_else(|| TaskState::try_from(task.state).ok())
        .unwrap_or(TaskState::TaskLost)
}

/// The reconciliation status of a known task: reconciled state, SOURCE_MASTER,
/// REASON_RECONCILIATION, no uuid (nothing to acknowledge), and the health, check and
/// container status of its latest statuses.
pub fn reconciliation_status(task: &Task, now: f64) -> TaskStatus {
    let last = task.statuses.last();
    TaskStatus {
        task_id: task.task_id.clone(),
        state: reconciled_state(task) as i32,
        message: Some(LATEST.to_string()),
        source: Some(task_status::Source::Master as i32),
        reason: Some(task_status::Reason::Reconciliation as i32),
        slave_id: Some(task.slave_id.clone()),
        executor_id: task.executor_id.clone(),
        timestamp: Some(now),
        healthy: last.and_then(|s| s.healthy),
        check_status: last.and_then(|s| s.check_status),
        container_status: task
            .statuses
            .iter()
            .rev()
            .find_map(|s| s.container_status.clone()),
        ..Default::default()
    }
}

impl Master {
    /// RECONCILE: the latest known state of the given tasks (all tasks if none given).
    pub(crate) fn reconcile(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        reconcile: call::Reconcile,
    ) {
        let now = ctx.clock().now_secs();
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let aware = framework.partition_aware();
        let reason = task_status::Reason::Reconciliation;
        let mut statuses = Vec::new();
        if reconcile.tasks.is_empty() {
            tracing::info!(framework = %framework_id, "implicit task reconciliation");
            for task in framework.tasks.values() {
                statuses.push(reconciliation_status(task, now));
            }
        } else {
            tracing::info!(framework = %framework_id, tasks = reconcile.tasks.len(), "explicit task reconciliation");
            for wanted in &reconcile.tasks {
                if let Some(task) = framework.tasks.get(&wanted.task_id.value) {
                    statuses.push(reconciliation_status(task, now));
                    continue;
                }
                let agent = wanted.slave_id.as_ref().map(|s| s.value.as_str());
                let (state, message) = match agent {
                    Some(a) if self.agents.unreachable.contains_key(a) => (
                        if aware {
                            TaskState::TaskUnreachable
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(a) if self.agents.registered.contains_key(a) => (
                        if aware {
                            TaskState::TaskGone
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    _ => (
                        if aware {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown",
                    ),
                };
                statuses.push(TaskStatus {
                    task_id: wanted.task_id.clone(),
                    state: state as i32,
                    message: Some(message.to_string()),
                    source: Some(task_status::Source::Master as i32),
                    reason: Some(reason as i32),
                    slave_id: wanted.slave_id.clone(),
                    timestamp: Some(now),
                    ..Default::default()
                });
            }
        }
        for status in statuses {
            self.send_to_framework(
                ctx,
                framework_id,
                ToFramework::Update(Box::new(master_update(framework_id, status)), None),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{ContainerStatus, SlaveId, TaskId};

    fn task(state: TaskState, status_update_state: Option<TaskState>) -> Task {
        Task {
            task_id: TaskId { value: "t".into() },
            slave_id: SlaveId { value: "s".into() },
            state: state as i32,
            status_update_state: status_update_state.map(|s| s as i32),
            ..Default::default()
        }
    }

    #[test]
    fn reconciliation_reports_the_status_update_state_when_set() {
        let t = task(TaskState::TaskFinished, Some(TaskState::TaskRunning));
        let s = reconciliation_status(&t, 1.0);
        assert_eq!(s.state(), TaskState::TaskRunning);
        assert_eq!(s.reason(), task_status::Reason::Reconciliation);
        assert_eq!(s.source(), task_status::Source::Master);
        assert_eq!(s.message.as_deref(), Some(LATEST));
        assert!(s.uuid.is_none());
        let t = task(TaskState::TaskStaging, None);
        assert_eq!(
            reconciliation_status(&t, 1.0).state(),
            TaskState::TaskStaging
        );
    }

    #[test]
    fn reconciliation_carries_health_and_the_latest_container_status() {
        let mut t = task(TaskState::TaskRunning, Some(TaskState::TaskRunning));
        let container = ContainerStatus {
            executor_pid: Some(42),
            ..Default::default()
        };
        t.statuses.push(TaskStatus {
            container_status: Some(container.clone()),
            ..Default::default()
        });
        t.statuses.push(TaskStatus {
            healthy: Some(true),
            ..Default::default()
        });
        let s = reconciliation_status(&t, 1.0);
        assert_eq!(s.healthy, Some(true));
        assert_eq!(s.container_status, Some(container));
    }
}
