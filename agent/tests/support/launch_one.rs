//! A framework for end-to-end agent tests: launches one long command task (`t1`,
//! `sleep 30`) on the first offer, declines the rest, and hands every status update to the
//! test. Included by the test files that need it (`#[path]`), so it is not a test target.

use mesos_proto::mesos::{Offer, TaskStatus};
use mesos_scheduler::framework::command_task;
use mesos_scheduler::{DriverHandle, Scheduler};
use tokio::sync::mpsc;

pub struct LaunchOne {
    pub launched: bool,
    pub updates: mpsc::UnboundedSender<TaskStatus>,
}

impl Scheduler for LaunchOne {
    fn resource_offers(&mut self, driver: &mut DriverHandle<'_>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched {
                driver.decline(offer.id, None);
                continue;
            }
            let mut remaining = offer.resources.clone();
            let task = command_task(&offer, &mut remaining, "t1", "sleep 30", 0.1, 32.0)
                .expect("the offer fits the task");
            self.launched = true;
            driver.launch(vec![offer.id], vec![task], None);
        }
    }

    fn status_update(&mut self, _: &mut DriverHandle<'_>, status: &TaskStatus) {
        let _ = self.updates.send(status.clone());
    }
}
