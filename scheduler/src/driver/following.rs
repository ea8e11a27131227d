//! A v0 driver with a `zk://` master follows the leader ZooKeeper names, as the genuine
//! driver follows its detector: not only when its master's connection breaks, but whenever
//! another master (or the same one in a new term, with a new MasterInfo id) leads. A master
//! that lost its leadership without dying (ours demotes itself) never breaks the
//! connection, so without this the framework would keep talking to a standby.

use libprocess::Ctx;
use mesos_proto::mesos::MasterInfo;
use mesos_zookeeper::{Detector, SessionOptions};
use tokio::sync::watch;

use super::{Driver, BACKOFF_FACTOR};

impl Driver {
    /// Starts following the leader (with `zk://`).
    pub(super) fn start_following(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(url) = self.detect.clone() else {
            return;
        };
        let detector = Detector::start(url, SessionOptions::default());
        let mut rx = detector.watch();
        rx.borrow_and_update();
        self.detector = Some(detector);
        follow(ctx, rx);
    }

    /// The detector's leader changed.
    fn leader_detected(&mut self, ctx: &mut Ctx<'_, Self>, leader: Option<MasterInfo>) {
        let Some(info) = leader else {
            tracing::warn!("no leading master is known; waiting for one");
            return;
        };
        let Some(pid) = crate::detection::master_pid(&info) else {
            tracing::warn!(id = %info.id, "the leading master's MasterInfo names no pid");
            return;
        };
        let same_term = self.master_id.as_deref().is_none_or(|id| id == info.id);
        if self.done.is_none() || (pid == self.master && same_term) {
            return;
        }
        tracing::info!(old = %self.master, new = %pid, id = %info.id, "another master leads; subscribing to it");
        if self.registered {
            self.registered = false;
            self.callback(ctx, |s, d| s.disconnected(d));
        }
        ctx.unlink(&self.master.clone());
        self.master = pid;
        self.master_id = Some(info.id);
        self.backoff = BACKOFF_FACTOR;
        ctx.link(&self.master.clone());
        self.subscribe(ctx);
    }
}

fn follow(ctx: &mut Ctx<'_, Driver>, mut rx: watch::Receiver<Option<MasterInfo>>) {
    ctx.then(
        async move {
            let alive = rx.changed().await.is_ok();
            (rx, alive)
        },
        |me: &mut Driver, ctx, (rx, alive)| {
            if alive {
                let leader = rx.borrow().clone();
                me.leader_detected(ctx, leader);
                follow(ctx, rx);
            }
        },
    );
}
