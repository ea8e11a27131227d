//! `KillTaskMessage` handling, by the cases of the genuine agent's `killTask`:
//! - unknown framework: ignored (the agent could not deliver an update for it anyway);
//! - task still queued on its executor: TASK_KILLED (REASON_TASK_KILLED_DURING_LAUNCH) for
//!   the task, or for every task of its group;
//! - task the agent has no executor for (e.g. its `RunTaskMessage` was lost): TASK_DROPPED
//!   (TASK_LOST for frameworks without PARTITION_AWARE), REASON_EXECUTOR_TERMINATED,
//!   "Cannot find executor", through the status update manager so it is retried until
//!   acknowledged and the task cannot stay STAGING forever;
//! - executor terminating or gone: ignored; otherwise the kill goes to the executor.

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::KillTaskMessage;
use mesos_proto::mesos::{framework_info, task_status, ExecutorId, TaskId, TaskState};

use crate::slave::{ExecState, Framework, Slave};
use crate::status_update_manager::StatusUpdateManager;

/// Where the agent knows a task from.
enum Found {
    /// Queued on an executor that has not received it yet; `group` holds the other tasks
    /// of its group (killed with it).
    Queued {
        ex_key: String,
        ex_id: ExecutorId,
        killed: Vec<TaskId>,
        group: bool,
    },
    /// Given to an executor (or terminal, its terminal update not yet acknowledged).
    Launched { ex_key: String },
    /// No executor of the framework knows the task.
    Unknown,
}

/// The state the agent reports for a task it never launched.
pub(crate) fn never_launched_state(fw: &Framework) -> TaskState {
    let partition_aware = fw
        .info
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(framework_info::capability::Type::PartitionAware as i32));
    if partition_aware {
        TaskState::TaskDropped
    } else {
        TaskState::TaskLost
    }
}

/// Finds the task and takes it out of its executor's queue if it is queued there. A
/// terminal task whose updates were all acknowledged is unknown, as in Mesos.
fn take_queued_or_find(
    fw: &mut Framework,
    sum: &StatusUpdateManager,
    fw_key: &str,
    task_key: &str,
    task_id: &TaskId,
) -> Found {
    let unacked = sum.has_pending(&(fw_key.to_string(), task_key.to_string()));
    for (key, ex) in fw.executors.iter_mut() {
        if let Some(pos) = ex.queued.iter().position(|t| t.task_id.value == task_key) {
            ex.queued.remove(pos);
            return Found::Queued {
                ex_key: key.clone(),
                ex_id: ex.info.executor_id.clone(),
                killed: vec![task_id.clone()],
                group: false,
            };
        }
        if let Some(pos) = ex
            .queued_groups
            .iter()
            .position(|g| g.tasks.iter().any(|t| t.task_id.value == task_key))
        {
            let group = ex.queued_groups.remove(pos);
            return Found::Queued {
                ex_key: key.clone(),
                ex_id: ex.info.executor_id.clone(),
                killed: group.tasks.into_iter().map(|t| t.task_id).collect(),
                group: true,
            };
        }
        if ex.tasks.contains_key(task_key)
            || (unacked
                && ex
                    .completed_tasks
                    .iter()
                    .any(|t| t.task_id.value == task_key))
        {
            return Found::Launched {
                ex_key: key.clone(),
            };
        }
    }
    Found::Unknown
}

impl Slave {
    pub(crate) fn kill_task(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: KillTaskMessage) {
        if from.address() != self.config.master.address() {
            tracing::warn!(%from, "ignoring KillTaskMessage not from the master");
            return;
        }
        let fw_key = msg.framework_id.value.clone();
        let task_key = msg.task_id.value.clone();
        tracing::info!(task = %task_key, framework = %fw_key, "asked to kill task");
        let Some(fw) = self.frameworks.get_mut(&fw_key) else {
            tracing::warn!(task = %task_key, framework = %fw_key,
                "ignoring kill: no such framework is running");
            return;
        };
        match take_queued_or_find(fw, &self.sum, &fw_key, &task_key, &msg.task_id) {
            Found::Unknown => {
                let state = never_launched_state(fw);
                tracing::warn!(task = %task_key, framework = %fw_key, ?state,
                    "cannot kill task: no executor runs it");
                self.agent_update(
                    ctx,
                    &msg.framework_id,
                    None,
                    &msg.task_id,
                    state,
                    task_status::Reason::ExecutorTerminated,
                    "Cannot find executor",
                );
            }
            Found::Queued {
                ex_key,
                ex_id,
                killed,
                group,
            } => {
                tracing::info!(task = %task_key, "killing a task before delivery to its executor");
                let message = if group {
                    "A task within the task group was killed before delivery to the executor"
                } else {
                    "Killed before delivery to the executor"
                };
                for task_id in &killed {
                    self.agent_update(
                        ctx,
                        &msg.framework_id,
                        Some(ex_id.clone()),
                        task_id,
                        TaskState::TaskKilled,
                        task_status::Reason::TaskKilledDuringLaunch,
                        message,
                    );
                }
                let empty = self.executor_mut(&fw_key, &ex_key).is_some_and(|e| {
                    e.queued.is_empty() && e.queued_groups.is_empty() && e.tasks.is_empty()
                });
                if empty {
                    self.shutdown_executor(ctx, &fw_key, &ex_key);
                }
            }
            Found::Launched { ex_key } => {
                let Some(ex) = self.executor_mut(&fw_key, &ex_key) else {
                    return;
                };
                if matches!(ex.state, ExecState::Terminating | ExecState::Terminated) {
                    tracing::warn!(task = %task_key, executor = %ex_key,
                        "ignoring kill: the executor is terminating");
                    return;
                }
                if let Some(pid) = ex.pid.clone() {
                    ctx.send(&pid, &msg);
                } else if let Some(stream) = &ex.stream {
                    crate::executor_api::send_kill(stream, &msg);
                }
            }
        }
    }
}
