//! What an executor's live tasks become when it terminates (the genuine agent's
//! `sendExecutorTerminatedStatusUpdate`): TASK_FAILED with REASON_EXECUTOR_TERMINATED and
//! "Executor terminated" unless the agent ended the executor for a known cause (registration
//! timeout, launch failure) or the containerizer ended the container for one (a resource
//! limitation: the container's termination carries its state, reason and message), whose
//! state, reason and message win. The container's cause comes first, as in Mesos.

use mesos_proto::mesos::{task_status, TaskState};

use crate::containerizer::Termination;

/// Why the agent is ending an executor, recorded before it destroys the container, so the
/// executor's tasks carry that cause rather than a generic failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingTermination {
    pub state: TaskState,
    pub reason: task_status::Reason,
    pub message: String,
}

/// The state, reason and message for each non-terminal task of an executor that ended.
/// `exit` is the container's termination, or why it is unknown (the containerizer lost it).
pub(crate) fn executor_terminated_status(
    pending: Option<&PendingTermination>,
    exit: &Result<Termination, String>,
) -> (TaskState, task_status::Reason, String) {
    let container = exit.as_ref().ok();
    let state = container
        .and_then(|t| t.state)
        .or(pending.map(|p| p.state))
        .unwrap_or(TaskState::TaskFailed);
    let reason = container
        .and_then(|t| t.reasons.first().copied())
        .or(pending.map(|p| p.reason))
        .unwrap_or(task_status::Reason::ExecutorTerminated);
    let mut messages: Vec<String> = Vec::new();
    if let Some(p) = pending.filter(|p| !p.message.is_empty()) {
        messages.push(p.message.clone());
    }
    if let Some(m) = container
        .and_then(|t| t.message.as_ref())
        .filter(|m| !m.is_empty())
    {
        messages.push(m.clone());
    }
    if let Err(why) = exit {
        messages.push(format!("Abnormal executor termination: {why}"));
    }
    let message = if messages.is_empty() {
        "Executor terminated".to_string()
    } else {
        messages.join("; ")
    };
    (state, reason, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    use mesos_executors::child::Exit;

    fn exited(code: i32) -> Result<Termination, String> {
        Ok(Termination {
            status: Some(Exit {
                raw: code << 8,
                code: Some(code),
                signal: None,
            }),
            ..Default::default()
        })
    }

    #[test]
    fn tasks_of_an_executor_that_exited_on_its_own_fail_with_executor_terminated() {
        assert_eq!(
            executor_terminated_status(None, &exited(3)),
            (
                TaskState::TaskFailed,
                task_status::Reason::ExecutorTerminated,
                "Executor terminated".to_string()
            )
        );
    }

    #[test]
    fn the_agents_recorded_cause_wins_over_the_default() {
        let pending = PendingTermination {
            state: TaskState::TaskFailed,
            reason: task_status::Reason::ContainerLimitationMemory,
            message: "Memory limit exceeded".into(),
        };
        assert_eq!(
            executor_terminated_status(Some(&pending), &exited(137)),
            (
                TaskState::TaskFailed,
                task_status::Reason::ContainerLimitationMemory,
                "Memory limit exceeded".to_string()
            )
        );
    }

    #[test]
    fn a_container_limitation_wins_over_the_default_and_carries_its_message() {
        let termination = Termination {
            status: None,
            state: Some(TaskState::TaskFailed),
            reasons: vec![task_status::Reason::ContainerLimitationMemory],
            message: Some("Memory limit exceeded: Requested: 64MB".into()),
        };
        assert_eq!(
            executor_terminated_status(None, &Ok(termination)),
            (
                TaskState::TaskFailed,
                task_status::Reason::ContainerLimitationMemory,
                "Memory limit exceeded: Requested: 64MB".to_string()
            )
        );
    }

    #[test]
    fn an_unknown_exit_is_reported_as_abnormal_termination() {
        let (state, reason, message) =
            executor_terminated_status(None, &Err("unknown container".into()));
        assert_eq!(state, TaskState::TaskFailed);
        assert_eq!(reason, task_status::Reason::ExecutorTerminated);
        assert_eq!(message, "Abnormal executor termination: unknown container");
        let pending = PendingTermination {
            state: TaskState::TaskFailed,
            reason: task_status::Reason::ExecutorRegistrationTimeout,
            message: "Executor did not register within 1mins".into(),
        };
        let (_, _, message) = executor_terminated_status(Some(&pending), &Err("discarded".into()));
        assert_eq!(
            message,
            "Executor did not register within 1mins; Abnormal executor termination: discarded"
        );
    }
}
