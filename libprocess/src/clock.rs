//! A clock that tests can pause and advance, like libprocess's `Clock::pause/advance/settle`.
//!
//! Every timer in the runtime (delayed messages, timeouts in the master and agent) goes
//! through this clock, so a test can freeze time, advance it by a minute and watch the
//! timeouts fire deterministically, without sleeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

type Callback = Box<dyn FnOnce() + Send>;

/// Identifies a scheduled timer so it can be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

#[derive(Default)]
struct State {
    /// While paused, the frozen virtual time.
    paused_at: Option<Instant>,
    /// Virtual time minus real time, accumulated by advances.
    offset: Duration,
    next_id: u64,
    /// Deadline-ordered timers; the id breaks ties in scheduling order.
    timers: BTreeMap<(Instant, u64), ()>,
    callbacks: HashMap<u64, Callback>,
}

/// The runtime's clock. Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    /// Local deliveries queued but not yet handled; `settle` waits for zero.
    pending: Arc<AtomicUsize>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            state: Arc::new(Mutex::new(State::default())),
            wake: Arc::new(Notify::new()),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the timer table inconsistent in a way
        // that matters more than stopping all timers, so recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual monotonic now.
    pub fn now(&self) -> Instant {
        let s = self.lock();
        s.paused_at.unwrap_or_else(|| Instant::now() + s.offset)
    }

    /// Virtual wall-clock time in seconds since the epoch (used for Mesos timestamps).
    pub fn now_secs(&self) -> f64 {
        let s = self.lock();
        let skew = match s.paused_at {
            Some(frozen) => (frozen + s.offset).saturating_duration_since(Instant::now()),
            None => s.offset,
        };
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + skew;
        wall.as_secs_f64()
    }

    pub fn is_paused(&self) -> bool {
        self.lock().paused_at.is_some()
    }

    /// Freezes virtual time: no timer fires until `advance` or `resume`.
    pub fn pause(&self) {
        let mut s = self.lock();
        if s.paused_at.is_none() {
            s.paused_at = Some(Instant::now() + s.offset);
        }
    }

    /// Lets time run again from where it was frozen.
    pub fn resume(&self) {
        {
            let mut s = self.lock();
            if let Some(frozen) = s.paused_at.take() {
                s.offset = frozen.saturating_duration_since(Instant::now());
            }
        }
        self.wake.notify_one();
    }

    /// Moves paused time forward and fires every timer now due, in deadline order.
    pub fn advance(&self, by: Duration) {
        {
            let mut s = self.lock();
            match s.paused_at.as_mut() {
                Some(frozen) => *frozen += by,
                None => s.offset += by,
            }
        }
        self.fire_due();
        self.wake.notify_one();
    }

    /// Runs `callback` once `after` has elapsed in virtual time.
    pub fn schedule(&self, after: Duration, callback: impl FnOnce() + Send + 'static) -> TimerId {
        let deadline = self.now() + after;
        let id = {
            let mut s = self.lock();
            s.next_id += 1;
            let id = s.next_id;
            s.timers.insert((deadline, id), ());
            s.callbacks.insert(id, Box::new(callback));
            id
        };
        self.wake.notify_one();
        TimerId(id)
    }

    /// Cancels a timer; returns false if it already fired or was cancelled.
    pub fn cancel(&self, timer: TimerId) -> bool {
        self.lock().callbacks.remove(&timer.0).is_some()
    }

    /// Number of timers not yet fired or cancelled.
    pub fn pending_timers(&self) -> usize {
        self.lock().callbacks.len()
    }

    fn fire_due(&self) {
        loop {
            let callback = {
                let mut s = self.lock();
                let now = s.paused_at.unwrap_or_else(|| Instant::now() + s.offset);
                let Some((&(deadline, id), _)) = s.timers.iter().next() else {
                    return;
                };
                if deadline > now {
                    return;
                }
                s.timers.remove(&(deadline, id));
                s.callbacks.remove(&id)
            };
            if let Some(cb) = callback {
                cb();
            }
        }
    }

    /// How long the driver may sleep before the next timer is due (None: no timer or paused).
    fn next_wait(&self) -> Option<Duration> {
        let s = self.lock();
        if s.paused_at.is_some() {
            return None;
        }
        let now = Instant::now() + s.offset;
        s.timers
            .keys()
            .next()
            .map(|(deadline, _)| deadline.saturating_duration_since(now))
    }

    /// Drives real-time timers; runs for the life of the runtime.
    pub(crate) async fn drive(self) {
        loop {
            self.fire_due();
            match self.next_wait() {
                Some(wait) => {
                    let _ = tokio::time::timeout(wait, self.wake.notified()).await;
                }
                None => self.wake.notified().await,
            }
        }
    }

    pub(crate) fn pending_counter(&self) -> Arc<AtomicUsize> {
        self.pending.clone()
    }

    /// Waits until every locally queued message and dispatch has been handled.
    ///
    /// Like libprocess's `Clock::settle`, this is meant for tests with a paused clock: after
    /// `advance`, `settle` makes sure the timers' effects have run.
    pub async fn settle(&self) {
        let mut idle_rounds = 0;
        while idle_rounds < 3 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            if self.pending.load(Ordering::Acquire) == 0 {
                idle_rounds += 1;
            } else {
                idle_rounds = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn paused_clock_fires_timers_only_when_advanced_past_their_deadline() {
        let clock = Clock::new();
        clock.pause();
        let fired = Arc::new(AtomicU32::new(0));
        let f = fired.clone();
        clock.schedule(Duration::from_secs(15), move || {
            f.fetch_add(1, Ordering::SeqCst);
        });
        clock.advance(Duration::from_secs(14));
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert_eq!(clock.pending_timers(), 0);
    }

    #[test]
    fn timers_fire_in_deadline_order_and_cancelled_ones_never_fire() {
        let clock = Clock::new();
        clock.pause();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (secs, tag) in [(3u64, 'c'), (1, 'a'), (2, 'b')] {
            let o = order.clone();
            clock.schedule(Duration::from_secs(secs), move || {
                o.lock().unwrap().push(tag)
            });
        }
        let o = order.clone();
        let cancelled = clock.schedule(Duration::from_secs(1), move || o.lock().unwrap().push('x'));
        assert!(clock.cancel(cancelled));
        clock.advance(Duration::from_secs(10));
        assert_eq!(*order.lock().unwrap(), vec!['a', 'b', 'c']);
    }

    #[test]
    fn virtual_time_moves_with_advance() {
        let clock = Clock::new();
        clock.pause();
        let t0 = clock.now();
        let w0 = clock.now_secs();
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now() - t0, Duration::from_secs(60));
        assert!((clock.now_secs() - w0 - 60.0).abs() < 0.5);
    }
}
