//! Test filters over deliveries: drop, hold or observe messages and dispatches.
//!
//! The equivalents of Mesos's `DROP_PROTOBUF`, `FUTURE_PROTOBUF`, `DROP_DISPATCH` and friends.
//! Every delivery to a local process (from the network or from a local sender) and every
//! dispatch passes through [`Filters`], so fault tests are deterministic: "lose the next
//! `PongSlaveMessage`" or "hold all `StatusUpdateMessage`s, then release them".

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::encoder::Message;
use crate::pid::Upid;

/// A delivery about to happen.
#[derive(Debug, Clone)]
pub enum Event {
    Message(Message),
    Dispatch { to: Upid, method: String },
}

impl Event {
    pub fn name(&self) -> &str {
        match self {
            Event::Message(m) => &m.name,
            Event::Dispatch { method, .. } => method,
        }
    }
    pub fn to(&self) -> &Upid {
        match self {
            Event::Message(m) => &m.to,
            Event::Dispatch { to, .. } => to,
        }
    }
    /// The message body (empty for dispatches).
    pub fn body(&self) -> Bytes {
        match self {
            Event::Message(m) => m.body.clone(),
            Event::Dispatch { .. } => Bytes::new(),
        }
    }
}

/// What a rule applies to. Unset parts match anything.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    dispatch: bool,
    name: Option<String>,
    from: Option<Upid>,
    to: Option<Upid>,
    to_id: Option<String>,
}

impl Matcher {
    /// Messages with this name (e.g. `mesos.internal.PongSlaveMessage`).
    pub fn message(name: impl Into<String>) -> Self {
        Matcher {
            name: Some(name.into()),
            ..Default::default()
        }
    }
    /// Any message.
    pub fn any_message() -> Self {
        Matcher::default()
    }
    /// Dispatches of this method name onto a process.
    pub fn dispatch(method: impl Into<String>) -> Self {
        Matcher {
            dispatch: true,
            name: Some(method.into()),
            ..Default::default()
        }
    }
    pub fn from(mut self, from: &Upid) -> Self {
        self.from = Some(from.clone());
        self
    }
    pub fn to(mut self, to: &Upid) -> Self {
        self.to = Some(to.clone());
        self
    }
    /// Receiver by process id only, whatever its address.
    pub fn to_id(mut self, id: impl Into<String>) -> Self {
        self.to_id = Some(id.into());
        self
    }

    fn matches(&self, ev: &Event) -> bool {
        let kind_ok = matches!(
            (self.dispatch, ev),
            (false, Event::Message(_)) | (true, Event::Dispatch { .. })
        );
        kind_ok
            && self.name.as_deref().is_none_or(|n| n == ev.name())
            && self.to.as_ref().is_none_or(|t| t == ev.to())
            && self.to_id.as_deref().is_none_or(|t| t == ev.to().id)
            && self.from.as_ref().is_none_or(|f| match ev {
                Event::Message(m) => &m.from == f,
                Event::Dispatch { .. } => false,
            })
    }
}

/// A deferred delivery, kept while held.
pub(crate) type Thunk = Box<dyn FnOnce() + Send>;

enum Action {
    Drop {
        once: bool,
        seen: Option<oneshot::Sender<Event>>,
    },
    Observe {
        seen: Option<oneshot::Sender<Event>>,
    },
    Hold {
        held: Arc<Mutex<Vec<Thunk>>>,
        count: Arc<AtomicUsize>,
    },
    Count(Arc<AtomicUsize>),
}

struct Rule {
    id: u64,
    matcher: Matcher,
    action: Action,
}

/// The filter table of one runtime.
#[derive(Default)]
pub struct Filters {
    active: AtomicBool,
    next_id: AtomicU64,
    rules: Mutex<Vec<Rule>>,
}

/// Identifies an installed rule, for [`Filters::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleId(u64);

/// Messages held by a [`Filters::hold`] rule.
pub struct Held {
    id: RuleId,
    held: Arc<Mutex<Vec<Thunk>>>,
    count: Arc<AtomicUsize>,
}

impl Held {
    /// How many deliveries are being held.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
    pub fn rule(&self) -> RuleId {
        self.id
    }
}

impl Filters {
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn add(&self, matcher: Matcher, action: Action) -> RuleId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.push(Rule {
            id,
            matcher,
            action,
        });
        self.active.store(true, Ordering::Release);
        RuleId(id)
    }

    /// Drops every matching delivery until the rule is removed.
    pub fn drop_all(&self, matcher: Matcher) -> RuleId {
        self.add(
            matcher,
            Action::Drop {
                once: false,
                seen: None,
            },
        )
    }

    /// Drops the next matching delivery and yields it.
    pub fn drop_next(&self, matcher: Matcher) -> oneshot::Receiver<Event> {
        let (tx, rx) = oneshot::channel();
        self.add(
            matcher,
            Action::Drop {
                once: true,
                seen: Some(tx),
            },
        );
        rx
    }

    /// Lets the next matching delivery through and yields a copy of it.
    pub fn expect(&self, matcher: Matcher) -> oneshot::Receiver<Event> {
        let (tx, rx) = oneshot::channel();
        self.add(matcher, Action::Observe { seen: Some(tx) });
        rx
    }

    /// Counts matching deliveries (which still go through).
    pub fn count(&self, matcher: Matcher) -> Arc<AtomicUsize> {
        let n = Arc::new(AtomicUsize::new(0));
        self.add(matcher, Action::Count(n.clone()));
        n
    }

    /// Holds every matching delivery until [`Filters::release`].
    pub fn hold(&self, matcher: Matcher) -> Held {
        let held = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let id = self.add(
            matcher,
            Action::Hold {
                held: held.clone(),
                count: count.clone(),
            },
        );
        Held { id, held, count }
    }

    /// Removes the hold rule and delivers what it held, in arrival order.
    pub fn release(&self, held: Held) {
        self.remove(held.id);
        let thunks = std::mem::take(&mut *held.held.lock().unwrap_or_else(|e| e.into_inner()));
        for t in thunks {
            t();
        }
    }

    /// Removes a rule; held deliveries of a removed hold rule are discarded.
    pub fn remove(&self, id: RuleId) {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.retain(|r| r.id != id.0);
        self.active.store(!rules.is_empty(), Ordering::Release);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.clear();
        self.active.store(false, Ordering::Release);
    }

    /// Runs the rules over `ev`: returns the delivery to perform now, or None if the
    /// delivery was dropped or held.
    pub(crate) fn apply(&self, ev: &Event, deliver: Thunk) -> Option<Thunk> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut finished = Vec::new();
        let mut verdict = Some(deliver);
        for rule in rules.iter_mut() {
            if !rule.matcher.matches(ev) {
                continue;
            }
            match &mut rule.action {
                Action::Count(n) => {
                    n.fetch_add(1, Ordering::SeqCst);
                }
                Action::Observe { seen } => {
                    if let Some(tx) = seen.take() {
                        let _ = tx.send(ev.clone());
                    }
                    finished.push(rule.id);
                }
                Action::Drop { once, seen } => {
                    if let Some(tx) = seen.take() {
                        let _ = tx.send(ev.clone());
                    }
                    if *once {
                        finished.push(rule.id);
                    }
                    verdict = None;
                    break;
                }
                Action::Hold { held, count } => {
                    if let Some(t) = verdict.take() {
                        held.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    break;
                }
            }
        }
        rules.retain(|r| !finished.contains(&r.id));
        self.active.store(!rules.is_empty(), Ordering::Release);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str) -> Event {
        Event::Message(Message {
            from: Upid::parse("a@127.0.0.1:1").unwrap(),
            to: Upid::parse("b@127.0.0.1:2").unwrap(),
            name: name.into(),
            body: Bytes::new(),
        })
    }

    fn thunk(hits: &Arc<AtomicUsize>) -> Thunk {
        let h = hits.clone();
        Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn drop_next_drops_exactly_one_matching_message() {
        let f = Filters::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let mut seen = f.drop_next(Matcher::message("x"));
        assert!(f.apply(&ev("y"), thunk(&hits)).is_some());
        assert!(f.apply(&ev("x"), thunk(&hits)).is_none());
        assert!(f.apply(&ev("x"), thunk(&hits)).is_some());
        assert_eq!(seen.try_recv().unwrap().name(), "x");
        assert!(!f.is_active());
    }

    #[test]
    fn hold_then_release_delivers_in_order() {
        let f = Filters::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = f.hold(Matcher::message("x"));
        for i in 0..3 {
            let o = order.clone();
            assert!(f
                .apply(&ev("x"), Box::new(move || o.lock().unwrap().push(i)))
                .is_none());
        }
        assert_eq!(held.count(), 3);
        assert!(order.lock().unwrap().is_empty());
        f.release(held);
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn dispatch_matchers_do_not_match_messages() {
        let f = Filters::default();
        let hits = Arc::new(AtomicUsize::new(0));
        f.drop_all(Matcher::dispatch("x"));
        assert!(f.apply(&ev("x"), thunk(&hits)).is_some());
        let d = Event::Dispatch {
            to: Upid::parse("b@127.0.0.1:2").unwrap(),
            method: "x".into(),
        };
        assert!(f.apply(&d, thunk(&hits)).is_none());
    }
}
