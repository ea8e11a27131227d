//! Bounds on what the agent remembers of finished work, so a long-running agent's memory
//! does not grow with every task it ever ran. The limits are the genuine agent's
//! (`src/slave/constants.hpp` and `--max_completed_executors_per_framework`); the oldest
//! entries go first.

use std::collections::VecDeque;

use crate::slave::Slave;

/// Completed frameworks kept for `/state` (Mesos: `MAX_COMPLETED_FRAMEWORKS`).
pub const MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// Default of `--max_completed_executors_per_framework`.
pub const DEFAULT_MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK: usize = 150;
/// Completed tasks kept per executor (Mesos: `MAX_COMPLETED_TASKS_PER_EXECUTOR`).
pub const MAX_COMPLETED_TASKS_PER_EXECUTOR: usize = 200;

/// Appends `item`, dropping the oldest entries beyond `cap` (nothing is kept when `cap` is
/// 0). Returns how many entries were dropped.
pub fn push_bounded<T>(list: &mut VecDeque<T>, item: T, cap: usize) -> usize {
    list.push_back(item);
    let mut dropped = 0;
    while list.len() > cap {
        list.pop_front();
        dropped += 1;
    }
    dropped
}

impl Slave {
    /// Status update streams still open and closed-stream keys remembered.
    pub fn update_streams(&self) -> (usize, usize) {
        (self.sum.open_streams(), self.sum.closed_streams())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_beyond_the_cap() {
        let mut l = VecDeque::new();
        let dropped: usize = (0..10).map(|i| push_bounded(&mut l, i, 3)).sum();
        assert_eq!(l, VecDeque::from(vec![7, 8, 9]));
        assert_eq!(dropped, 7);
        let mut none = VecDeque::new();
        assert_eq!(push_bounded(&mut none, 1, 0), 1);
        assert!(none.is_empty());
    }
}
