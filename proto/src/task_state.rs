//! Task-state predicates shared by master, agent, executors and schedulers.

use crate::mesos::TaskState;

/// Whether no status update follows this state (Mesos's `isTerminalState`).
pub fn is_terminal(state: TaskState) -> bool {
    use TaskState::*;
    matches!(
        state,
        TaskFinished
            | TaskFailed
            | TaskKilled
            | TaskLost
            | TaskError
            | TaskDropped
            | TaskGone
            | TaskGoneByOperator
    )
}

/// [`is_terminal`] for a raw enum value; unknown values are not terminal.
pub fn is_terminal_value(state: i32) -> bool {
    TaskState::try_from(state).is_ok_and(is_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_eight_mesos_terminal_states_are_terminal() {
        let terminal: Vec<TaskState> = (0..64)
            .filter_map(|v| TaskState::try_from(v).ok())
            .filter(|s| is_terminal(*s))
            .collect();
        use TaskState::*;
        let mut want = vec![
            TaskFinished,
            TaskFailed,
            TaskKilled,
            TaskLost,
            TaskError,
            TaskDropped,
            TaskGone,
            TaskGoneByOperator,
        ];
        want.sort_by_key(|s| *s as i32);
        assert_eq!(terminal, want);
        assert!(!is_terminal_value(TaskUnreachable as i32));
        assert!(is_terminal_value(TaskGone as i32));
        assert!(!is_terminal_value(9999));
    }
}
