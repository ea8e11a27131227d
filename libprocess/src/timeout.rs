//! Timeouts on the runtime's [`Clock`], so a paused clock holds them and `advance` fires them.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::{Clock, TimerId};

/// Cancels the timer when the wait ends either way.
struct Cancel<'a>(&'a Clock, TimerId);

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        self.0.cancel(self.1);
    }
}

/// `fut`'s output, or `None` if `after` elapses first on `clock`.
pub(crate) async fn timeout<F: Future>(
    clock: &Clock,
    after: Duration,
    fut: F,
) -> Option<F::Output> {
    let (tx, rx) = oneshot::channel::<()>();
    let id = clock.schedule(after, move || {
        let _ = tx.send(());
    });
    let _cancel = Cancel(clock, id);
    let expired = async {
        if rx.await.is_err() {
            // The timer was dropped without firing: it never will.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        out = fut => Some(out),
        () = expired => None,
    }
}
