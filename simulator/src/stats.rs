//! Counters every simulated process updates, and the timings of a failover: from the moment
//! the simulator learns of a new leader (so the ZooKeeper session timeout that precedes it is
//! excluded) to the last agent re-registered and the last framework re-subscribed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libprocess::Upid;

/// Shared counters (relaxed atomics: they are read for progress and reports only).
pub struct Stats {
    pub agents: usize,
    pub frameworks: usize,
    /// Agents currently registered (or re-registered) with the current leader.
    pub agents_registered: AtomicUsize,
    /// Agents that have an id (were admitted by some master at least once).
    pub agents_admitted: AtomicUsize,
    pub frameworks_subscribed: AtomicUsize,
    pub tasks_launched: AtomicU64,
    /// Distinct tasks frameworks saw reach TASK_RUNNING.
    pub tasks_running: AtomicU64,
    pub tasks_finished: AtomicU64,
    /// Tasks that ended in another terminal state (lost, killed, dropped, ...).
    pub tasks_failed: AtomicU64,
    pub offers_received: AtomicU64,
    pub status_updates_sent: AtomicU64,
    pub acks_received: AtomicU64,
    pub registration_messages_sent: AtomicU64,
    epoch: Mutex<Epoch>,
    current: EpochCounters,
}

struct Epoch {
    number: u64,
    master: Option<Upid>,
    started: Instant,
}

/// Per-epoch progress, for the failover report.
#[derive(Default)]
struct EpochCounters {
    agents_reregistered: AtomicUsize,
    frameworks_resubscribed: AtomicUsize,
    /// Nanoseconds from the epoch's start to the latest agent re-registration.
    last_agent_ns: AtomicU64,
    last_framework_ns: AtomicU64,
}

impl EpochCounters {
    fn reset(&self) {
        self.agents_reregistered.store(0, Ordering::Relaxed);
        self.frameworks_resubscribed.store(0, Ordering::Relaxed);
        self.last_agent_ns.store(0, Ordering::Relaxed);
        self.last_framework_ns.store(0, Ordering::Relaxed);
    }
}

/// How a failover went, as seen by the simulated agents and frameworks.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    pub master: String,
    pub agents_reregistered: usize,
    pub frameworks_resubscribed: usize,
    /// Detection of the new leader → last agent re-registered.
    pub agents_done: Duration,
    /// Detection of the new leader → last framework re-subscribed.
    pub frameworks_done: Duration,
}

impl Stats {
    pub fn new(agents: usize, frameworks: usize) -> Stats {
        Stats {
            agents,
            frameworks,
            agents_registered: AtomicUsize::new(0),
            agents_admitted: AtomicUsize::new(0),
            frameworks_subscribed: AtomicUsize::new(0),
            tasks_launched: AtomicU64::new(0),
            tasks_running: AtomicU64::new(0),
            tasks_finished: AtomicU64::new(0),
            tasks_failed: AtomicU64::new(0),
            offers_received: AtomicU64::new(0),
            status_updates_sent: AtomicU64::new(0),
            acks_received: AtomicU64::new(0),
            registration_messages_sent: AtomicU64::new(0),
            epoch: Mutex::new(Epoch {
                number: 0,
                master: None,
                started: Instant::now(),
            }),
            current: EpochCounters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Epoch> {
        self.epoch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A leader was detected: starts a new epoch (numbered from 1) and returns its number.
    pub fn leader_changed(&self, master: &Upid) -> u64 {
        let mut e = self.lock();
        e.number += 1;
        e.master = Some(master.clone());
        e.started = Instant::now();
        self.agents_registered.store(0, Ordering::Relaxed);
        self.frameworks_subscribed.store(0, Ordering::Relaxed);
        self.current.reset();
        e.number
    }

    pub fn epoch(&self) -> u64 {
        self.lock().number
    }

    fn since_epoch_ns(&self) -> u64 {
        u64::try_from(self.lock().started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// An agent re-registered (kept its id) with the leader of `epoch`.
    pub fn agent_reregistered(&self, epoch: u64) {
        if epoch != self.epoch() {
            return;
        }
        let ns = self.since_epoch_ns();
        self.current
            .agents_reregistered
            .fetch_add(1, Ordering::Relaxed);
        self.current.last_agent_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// A framework re-subscribed (kept its id) with the leader of `epoch`.
    pub fn framework_resubscribed(&self, epoch: u64) {
        if epoch != self.epoch() {
            return;
        }
        let ns = self.since_epoch_ns();
        self.current
            .frameworks_resubscribed
            .fetch_add(1, Ordering::Relaxed);
        self.current
            .last_framework_ns
            .fetch_max(ns, Ordering::Relaxed);
    }

    /// The current epoch's failover, once every admitted agent re-registered and every
    /// framework re-subscribed; `None` before that or in the first epoch.
    pub fn failover_done(&self) -> Option<FailoverReport> {
        let (number, master) = {
            let e = self.lock();
            (e.number, e.master.clone())
        };
        if number < 2 {
            return None;
        }
        let agents = self.current.agents_reregistered.load(Ordering::Relaxed);
        let frameworks = self.current.frameworks_resubscribed.load(Ordering::Relaxed);
        let admitted = self.agents_admitted.load(Ordering::Relaxed);
        if agents < admitted || frameworks < self.frameworks {
            return None;
        }
        Some(FailoverReport {
            master: master.map(|m| m.to_string()).unwrap_or_default(),
            agents_reregistered: agents,
            frameworks_resubscribed: frameworks,
            agents_done: Duration::from_nanos(self.current.last_agent_ns.load(Ordering::Relaxed)),
            frameworks_done: Duration::from_nanos(
                self.current.last_framework_ns.load(Ordering::Relaxed),
            ),
        })
    }

    /// Re-registrations counted in the current epoch.
    pub fn agents_reregistered_in_epoch(&self) -> usize {
        self.current.agents_reregistered.load(Ordering::Relaxed)
    }

    /// One progress line.
    pub fn progress_line(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "agents registered {}/{} (admitted {}), frameworks subscribed {}/{}, tasks launched {} running {} finished {} failed {}, offers {}, updates sent {} acked {}",
            self.agents_registered.load(Ordering::Relaxed),
            self.agents,
            self.agents_admitted.load(Ordering::Relaxed),
            self.frameworks_subscribed.load(Ordering::Relaxed),
            self.frameworks,
            l(&self.tasks_launched),
            l(&self.tasks_running),
            l(&self.tasks_finished),
            l(&self.tasks_failed),
            l(&self.offers_received),
            l(&self.status_updates_sent),
            l(&self.acks_received),
        )
    }
}
