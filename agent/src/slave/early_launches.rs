//! Launches that arrive before the agent knows it is (re-)registered.
//!
//! The master counts an agent as registered once it sends `SlaveRegisteredMessage`, and may
//! launch tasks on it right away. If that message is lost, the agent keeps retrying its
//! registration (the master answers a retry with the same acknowledgement) while the
//! launches sent in between arrive. Genuine agents drop them (a fresh agent has no id yet,
//! so the task names "another" agent), which leaves the tasks STAGING at the master for
//! good. Ours holds the launches from its master until the acknowledgement comes, then runs
//! those addressed to the id it was given; a change of master or a shutdown drops them.

use std::collections::VecDeque;

use super::*;

/// The most launches held (a master that floods an unregistered agent gets the rest dropped).
const MAX_HELD: usize = 1000;

/// A held launch and the master that sent it.
pub(crate) enum Early {
    Task(Upid, RunTaskMessage),
    Group(Upid, RunTaskGroupMessage),
}

#[derive(Default)]
pub(crate) struct EarlyLaunches(VecDeque<Early>);

impl Slave {
    /// Holds a launch from the master until the registration is acknowledged.
    pub(super) fn hold_launch(&mut self, launch: Early) {
        if self.early.0.len() >= MAX_HELD {
            tracing::warn!(
                held = MAX_HELD,
                "too many launches before registration; dropping one"
            );
            return;
        }
        tracing::info!(
            held = self.early.0.len() + 1,
            "holding a launch until the master acknowledges the registration"
        );
        self.early.0.push_back(launch);
    }

    /// Runs the held launches of the current master that name this agent's id.
    pub(super) fn run_held_launches(&mut self, ctx: &mut Ctx<'_, Self>) {
        let held = std::mem::take(&mut self.early.0);
        let master = self.config.master.clone();
        let id = self.id.clone();
        for launch in held {
            match launch {
                Early::Task(from, msg)
                    if from == master && Some(&msg.task.slave_id) == id.as_ref() =>
                {
                    self.run_task(ctx, from, msg)
                }
                Early::Group(from, msg)
                    if from == master
                        && msg
                            .task_group
                            .tasks
                            .iter()
                            .all(|t| Some(&t.slave_id) == id.as_ref()) =>
                {
                    self.run_task_group(ctx, from, msg)
                }
                _ => tracing::warn!("dropping a held launch meant for another master or agent id"),
            }
        }
    }
}
