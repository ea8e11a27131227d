//! Reliable status updates: one stream per task, one update in flight per stream, resent
//! (10 s doubling up to 10 min) until the master forwards the framework's acknowledgement.
//!
//! A stream is forgotten once its terminal update is acknowledged (as Mesos does); only its
//! key is remembered, among the last [`MAX_CLOSED_STREAMS`], to refuse late updates for the
//! finished task. Memory thus tracks live tasks, not every task the agent ever ran.
//!
//! This module is the bookkeeping only; the `Slave` sends the heads it returns and drives
//! the retry timers with the runtime clock, so tests can pause and advance it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use mesos_proto::mesos::internal::StatusUpdate;
use mesos_proto::mesos::TaskState;

/// First retry interval of an unacknowledged update.
pub const RETRY_MIN: Duration = Duration::from_secs(10);
/// Cap of the retry interval.
pub const RETRY_MAX: Duration = Duration::from_secs(600);

/// Keys of closed streams remembered (to refuse updates for finished tasks).
pub const MAX_CLOSED_STREAMS: usize = 10_000;

/// `(framework id, task id)`.
pub type StreamKey = (String, String);

/// Why an update or acknowledgement was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UpdateError {
    #[error("status update has no uuid")]
    NoUuid,
    #[error("duplicate status update")]
    Duplicate,
    #[error("the stream of task {0} is closed (its terminal update was acknowledged)")]
    Closed(String),
    #[error("no status update stream for task {0}")]
    UnknownStream(String),
    #[error("acknowledgement does not match the update in flight for task {0}")]
    Mismatch(String),
}

#[derive(Debug, Default)]
struct Stream {
    pending: VecDeque<StatusUpdate>,
    seen: HashSet<Vec<u8>>,
    /// Delay before the next resend of the head.
    next_retry: Duration,
}

/// The result of an acknowledgement.
#[derive(Debug, PartialEq)]
pub struct Acked {
    /// The acknowledged update.
    pub acked: StatusUpdate,
    /// The next update to forward, if any.
    pub next: Option<StatusUpdate>,
    /// The acknowledged update was terminal: the stream is finished.
    pub closed: bool,
}

/// All streams of this agent.
#[derive(Debug)]
pub struct StatusUpdateManager {
    streams: BTreeMap<StreamKey, Stream>,
    /// Recently closed streams, oldest first, at most `closed_cap`.
    closed: VecDeque<StreamKey>,
    closed_set: HashSet<StreamKey>,
    closed_cap: usize,
    /// The armed retry of each stream's head (timers run on the agent's clock; the agent
    /// arms them when it forwards a head, the manager owns them).
    retry_timers: std::collections::HashMap<StreamKey, libprocess::TimerId>,
}

impl Default for StatusUpdateManager {
    fn default() -> Self {
        Self::with_closed_cap(MAX_CLOSED_STREAMS)
    }
}

fn terminal(u: &StatusUpdate) -> bool {
    mesos_proto::task_state::is_terminal(u.status.state())
}

/// The key of an update's stream.
pub fn key_of(u: &StatusUpdate) -> StreamKey {
    (u.framework_id.value.clone(), u.status.task_id.value.clone())
}

impl StatusUpdateManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// A manager remembering at most `cap` closed streams.
    pub fn with_closed_cap(cap: usize) -> Self {
        StatusUpdateManager {
            streams: BTreeMap::new(),
            closed: VecDeque::new(),
            closed_set: HashSet::new(),
            closed_cap: cap,
            retry_timers: std::collections::HashMap::new(),
        }
    }

    /// Streams still open (some update not yet acknowledged as terminal).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Closed streams remembered.
    pub fn closed_streams(&self) -> usize {
        self.closed.len()
    }

    fn remember_closed(&mut self, key: StreamKey) {
        if self.closed_set.insert(key.clone()) {
            self.closed.push_back(key);
        }
        while self.closed.len() > self.closed_cap {
            if let Some(old) = self.closed.pop_front() {
                self.closed_set.remove(&old);
            }
        }
    }

    /// Queues an update. Returns it back if it became the head (send it now).
    pub fn update(&mut self, update: StatusUpdate) -> Result<Option<StatusUpdate>, UpdateError> {
        let uuid = update
            .uuid
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or(UpdateError::NoUuid)?;
        let key = key_of(&update);
        if self.closed_set.contains(&key) {
            return Err(UpdateError::Closed(key.1));
        }
        let stream = self.streams.entry(key.clone()).or_default();
        if !stream.seen.insert(uuid) {
            return Err(UpdateError::Duplicate);
        }
        stream.pending.push_back(update.clone());
        if stream.pending.len() == 1 {
            stream.next_retry = RETRY_MIN;
            Ok(Some(update))
        } else {
            Ok(None)
        }
    }

    /// The update in flight on a stream.
    pub fn head(&self, key: &StreamKey) -> Option<&StatusUpdate> {
        self.streams.get(key).and_then(|s| s.pending.front())
    }

    /// Every stream's head (to resend after (re-)registering).
    pub fn heads(&self) -> Vec<StatusUpdate> {
        self.streams
            .values()
            .filter_map(|s| s.pending.front().cloned())
            .collect()
    }

    /// The delay before the head's next resend; doubles the following one (capped).
    pub fn next_retry(&mut self, key: &StreamKey) -> Option<Duration> {
        let s = self.streams.get_mut(key)?;
        s.pending.front()?;
        let now = s.next_retry.max(RETRY_MIN);
        s.next_retry = (now * 2).min(RETRY_MAX);
        Some(now)
    }

    /// Applies the master's acknowledgement of the head.
    pub fn acknowledge(&mut self, key: &StreamKey, uuid: &[u8]) -> Result<Acked, UpdateError> {
        let s = self
            .streams
            .get_mut(key)
            .ok_or_else(|| UpdateError::UnknownStream(key.1.clone()))?;
        match s.pending.front() {
            Some(head) if head.uuid.as_deref() == Some(uuid) => {}
            _ => return Err(UpdateError::Mismatch(key.1.clone())),
        }
        let acked = s
            .pending
            .pop_front()
            .ok_or_else(|| UpdateError::Mismatch(key.1.clone()))?;
        let closed = terminal(&acked);
        s.next_retry = RETRY_MIN;
        let next = if closed {
            None
        } else {
            s.pending.front().cloned()
        };
        if closed {
            self.streams.remove(key);
            self.remember_closed(key.clone());
        }
        Ok(Acked {
            acked,
            next,
            closed,
        })
    }

    /// Whether a stream still holds updates the master has not acknowledged.
    pub fn has_pending(&self, key: &StreamKey) -> bool {
        self.streams.get(key).is_some_and(|s| !s.pending.is_empty())
    }

    /// Records the retry timer armed for a stream's head; returns the one it replaces.
    pub fn arm_retry(
        &mut self,
        key: StreamKey,
        timer: libprocess::TimerId,
    ) -> Option<libprocess::TimerId> {
        self.retry_timers.insert(key, timer)
    }

    /// Takes a stream's retry timer (to cancel it, or because it fired).
    pub fn take_retry(&mut self, key: &StreamKey) -> Option<libprocess::TimerId> {
        self.retry_timers.remove(key)
    }

    /// Takes every retry timer of a framework's streams (framework terminating).
    pub fn take_framework_retries(&mut self, framework_id: &str) -> Vec<libprocess::TimerId> {
        let keys: Vec<StreamKey> = self
            .retry_timers
            .keys()
            .filter(|(f, _)| f == framework_id)
            .cloned()
            .collect();
        keys.iter()
            .filter_map(|k| self.retry_timers.remove(k))
            .collect()
    }

    /// Forgets a framework's streams (framework removed).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.streams.retain(|(f, _), _| f != framework_id);
        self.closed.retain(|(f, _)| f != framework_id);
        self.closed_set.retain(|(f, _)| f != framework_id);
    }

    /// The latest state queued for a task, if any.
    pub fn latest_state(&self, key: &StreamKey) -> Option<TaskState> {
        self.streams
            .get(key)
            .and_then(|s| s.pending.back())
            .map(|u| u.status.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{FrameworkId, TaskId, TaskStatus};

    fn upd(task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
        StatusUpdate {
            framework_id: FrameworkId { value: "f".into() },
            status: TaskStatus {
                task_id: TaskId { value: task.into() },
                state: state as i32,
                uuid: Some(vec![uuid; 16]),
                ..Default::default()
            },
            uuid: Some(vec![uuid; 16]),
            timestamp: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn one_update_in_flight_per_stream_and_acks_release_the_next() {
        let mut m = StatusUpdateManager::new();
        assert!(m
            .update(upd("t", TaskState::TaskStarting, 1))
            .unwrap()
            .is_some());
        assert!(m
            .update(upd("t", TaskState::TaskRunning, 2))
            .unwrap()
            .is_none());
        assert!(m
            .update(upd("other", TaskState::TaskRunning, 3))
            .unwrap()
            .is_some());
        let key = ("f".to_string(), "t".to_string());
        assert_eq!(
            m.acknowledge(&key, &[2; 16]),
            Err(UpdateError::Mismatch("t".into()))
        );
        let a = m.acknowledge(&key, &[1; 16]).unwrap();
        assert_eq!(a.next.unwrap().status.state(), TaskState::TaskRunning);
        assert!(!a.closed);
    }

    #[test]
    fn terminal_ack_closes_the_stream() {
        let mut m = StatusUpdateManager::new();
        let key = ("f".to_string(), "t".to_string());
        m.update(upd("t", TaskState::TaskFinished, 1)).unwrap();
        assert!(m.acknowledge(&key, &[1; 16]).unwrap().closed);
        assert_eq!(
            m.update(upd("t", TaskState::TaskRunning, 2)),
            Err(UpdateError::Closed("t".into()))
        );
        assert!(!m.has_pending(&key));
    }

    #[test]
    fn duplicates_and_uuidless_updates_are_refused() {
        let mut m = StatusUpdateManager::new();
        m.update(upd("t", TaskState::TaskRunning, 1)).unwrap();
        assert_eq!(
            m.update(upd("t", TaskState::TaskRunning, 1)),
            Err(UpdateError::Duplicate)
        );
        let mut u = upd("t", TaskState::TaskRunning, 5);
        u.uuid = None;
        assert_eq!(m.update(u), Err(UpdateError::NoUuid));
    }

    #[test]
    fn retry_interval_doubles_from_ten_seconds_to_ten_minutes() {
        let mut m = StatusUpdateManager::new();
        let key = ("f".to_string(), "t".to_string());
        assert_eq!(m.next_retry(&key), None);
        m.update(upd("t", TaskState::TaskRunning, 1)).unwrap();
        let seq: Vec<u64> = (0..8)
            .map(|_| m.next_retry(&key).unwrap().as_secs())
            .collect();
        assert_eq!(seq, vec![10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn acknowledged_terminal_streams_are_forgotten_and_only_the_newest_keys_kept() {
        let mut m = StatusUpdateManager::with_closed_cap(3);
        for i in 0..10u8 {
            let task = format!("t{i}");
            m.update(upd(&task, TaskState::TaskRunning, 2 * i + 1))
                .unwrap();
            m.update(upd(&task, TaskState::TaskFinished, 2 * i + 2))
                .unwrap();
            let key = ("f".to_string(), task);
            m.acknowledge(&key, &[2 * i + 1; 16]).unwrap();
            assert!(m.acknowledge(&key, &[2 * i + 2; 16]).unwrap().closed);
        }
        assert_eq!(m.open_streams(), 0);
        assert_eq!(m.closed_streams(), 3);
        // The newest closed streams still refuse updates; the oldest were forgotten.
        assert_eq!(
            m.update(upd("t9", TaskState::TaskRunning, 100)),
            Err(UpdateError::Closed("t9".into()))
        );
        assert!(m.update(upd("t0", TaskState::TaskRunning, 101)).is_ok());
        m.remove_framework("f");
        assert_eq!((m.open_streams(), m.closed_streams()), (0, 0));
    }
}
