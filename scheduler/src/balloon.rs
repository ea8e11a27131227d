//! The balloon framework (as in Mesos): one task whose memory grows in steps past its `mem`
//! limit, to show memory isolation at work. Under `cgroups/mem` the agent kills it and
//! reports TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY.

use mesos_proto::mesos::{task_status, FrameworkId, MasterInfo, Offer, TaskState, TaskStatus};

use crate::driver::{DriverHandle, Scheduler};
use crate::framework::{command_task, describe_status, is_terminal};

/// Memory added per step, and the pause between steps.
pub const STEP_MB: u64 = 16;
pub const STEP_SECS: f64 = 0.1;

/// A command that grows its resident memory by `STEP_MB` every `STEP_SECS` up to
/// `limit_mb`, then sleeps (the balloon executor's behaviour, as a plain command task).
pub fn balloon_command(limit_mb: u64) -> String {
    let steps = limit_mb.div_ceil(STEP_MB).max(1);
    format!(
        "exec perl -e 'my @b; for (1..{steps}) {{ push @b, \"x\" x ({STEP_MB}*1024*1024); \
         select(undef, undef, undef, {STEP_SECS}); }} sleep 600'"
    )
}

/// Launches the balloon task on the first offer that fits; stops at its terminal update.
pub struct Balloon {
    pub task_memory_mb: f64,
    pub usage_limit_mb: u64,
    pub launched: bool,
    /// Every update, for whoever runs the framework (printing, tests).
    pub updates: std::sync::mpsc::Sender<TaskStatus>,
}

impl Balloon {
    /// Whether a terminal update is the expected end: killed for its memory.
    pub fn killed_for_memory(status: &TaskStatus) -> bool {
        status.state() == TaskState::TaskFailed
            && status.reason() == task_status::Reason::ContainerLimitationMemory
    }
}

impl Scheduler for Balloon {
    fn registered(&mut self, _: &mut DriverHandle<'_>, id: &FrameworkId, _: &MasterInfo) {
        tracing::info!(framework = %id.value, "balloon framework registered");
    }

    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                driver.decline(offer.id, None);
                continue;
            }
            let mut remaining = offer.resources.clone();
            let command = balloon_command(self.usage_limit_mb);
            match command_task(
                &offer,
                &mut remaining,
                "balloon",
                &command,
                0.1,
                self.task_memory_mb,
            ) {
                Some(task) => {
                    self.launched = true;
                    driver.launch(vec![offer.id], vec![task], None);
                }
                None => driver.decline(offer.id, Some(5.0)),
            }
        }
    }

    fn status_update(&mut self, driver: &mut DriverHandle<'_>, status: &TaskStatus) {
        println!("{}", describe_status(status));
        let _ = self.updates.send(status.clone());
        if is_terminal(status.state) {
            driver.stop(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balloon_grows_in_steps_up_to_its_usage_limit() {
        let cmd = balloon_command(100);
        assert!(cmd.contains("for (1..7)"), "{cmd}");
        assert!(cmd.contains("16*1024*1024"), "{cmd}");
        assert!(balloon_command(0).contains("for (1..1)"));
    }

    #[test]
    fn only_a_memory_limitation_failure_is_the_expected_end() {
        let mut s = TaskStatus {
            state: TaskState::TaskFailed as i32,
            ..Default::default()
        };
        assert!(!Balloon::killed_for_memory(&s));
        s.set_reason(task_status::Reason::ContainerLimitationMemory);
        assert!(Balloon::killed_for_memory(&s));
    }
}
