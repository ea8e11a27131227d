//! Bounded history: what the master keeps about finished things, capped with Mesos's flags.
//!
//! Peers decide how many tasks finish, become unreachable, or how many agents vanish; each
//! list here keeps only the latest entries (`--max_completed_tasks_per_framework`,
//! `--max_unreachable_tasks_per_framework`, `--registry_max_agent_count` and
//! `--registry_max_agent_age` for unreachable agents), so memory and `/state` stay bounded.

use std::collections::VecDeque;

use libprocess::Ctx;
use mesos_proto::mesos::Task;

use crate::frameworks::Framework;
use crate::master::Master;

/// Appends `item`, then drops the oldest entries beyond `cap`.
pub fn push_capped<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    list.push_back(item);
    while list.len() > cap {
        list.pop_front();
    }
}

impl Framework {
    /// Files a finished task under `completed_tasks`, keeping the latest `cap`.
    pub fn complete_task(&mut self, task: Task, cap: usize) {
        push_capped(&mut self.completed_tasks, task, cap);
    }

    /// Files a task of an unreachable agent under `unreachable_tasks` (one entry per task
    /// id), keeping the latest `cap`.
    pub fn unreachable_task(&mut self, task: Task, cap: usize) {
        self.take_unreachable(&task.task_id.value);
        push_capped(&mut self.unreachable_tasks, task, cap);
    }

    /// Takes a task back out of `unreachable_tasks` (its agent came back).
    pub fn take_unreachable(&mut self, task_id: &str) -> Option<Task> {
        let i = self
            .unreachable_tasks
            .iter()
            .position(|t| t.task_id.value == task_id)?;
        self.unreachable_tasks.remove(i)
    }
}

impl Master {
    /// Records an agent as unreachable since `now`, then prunes the list.
    pub(crate) fn mark_agent_unreachable(&mut self, id: &str, now: f64) {
        self.agents.unreachable.insert(id.to_string(), now);
        self.prune_unreachable_agents(now);
    }

    /// Prunes unreachable agents every `--registry_gc_interval`, so that old entries age out
    /// even when no agent becomes unreachable.
    pub(crate) fn start_registry_gc(&mut self, ctx: &mut Ctx<'_, Self>) {
        let interval = self.flags.registry_gc_interval.0;
        ctx.delay(interval, "registry_gc", |m, ctx| {
            let before = m.agents.unreachable.len();
            m.prune_unreachable_agents(ctx.clock().now_secs());
            if m.agents.unreachable.len() != before {
                m.changed();
            }
            m.start_registry_gc(ctx);
        });
    }

    /// Forgets unreachable agents older than `--registry_max_agent_age`, then the oldest
    /// beyond `--registry_max_agent_count`.
    fn prune_unreachable_agents(&mut self, now: f64) {
        let unreachable = &mut self.agents.unreachable;
        let max_age = self.flags.registry_max_agent_age.0.as_secs_f64();
        unreachable.retain(|_, since| now - *since <= max_age);
        let excess = unreachable
            .len()
            .saturating_sub(self.flags.registry_max_agent_count);
        if excess > 0 {
            let mut by_age: Vec<(f64, String)> = unreachable
                .iter()
                .map(|(id, since)| (*since, id.clone()))
                .collect();
            by_age.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            for (_, id) in by_age.into_iter().take(excess) {
                unreachable.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_capped_keeps_the_latest_entries() {
        let mut q = VecDeque::new();
        for i in 0..5 {
            push_capped(&mut q, i, 3);
        }
        assert_eq!(q, VecDeque::from([2, 3, 4]));
        push_capped(&mut q, 9, 0);
        assert!(q.is_empty());
    }
}
