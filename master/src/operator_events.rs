//! The operator event stream: `SUBSCRIBE` on `/api/v1` answers a RecordIO stream of
//! `mesos.v1.master.Event`s: SUBSCRIBED with a full `GetState`, HEARTBEAT at once and every
//! 15 s, then TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED,
//! FRAMEWORK_UPDATED and FRAMEWORK_REMOVED. One event per chunk; compact JSON or protobuf.
//!
//! Events are derived by comparing the master's records with what subscribers were last
//! told, each time the master records a change (`Master::changed`), rather than by a hook at
//! every place that changes a task, agent or framework: no path can forget to publish. The
//! comparison costs one pass over the active tasks per change, and only while someone
//! subscribes. Each stream has the byte budget of framework streams (`event_stream`): a
//! subscriber that stops reading is cut off instead of growing the master's memory.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use libprocess::media::ContentType;
use libprocess::{recordio, Ctx, Response};
use mesos_proto::mesos::master::{event, Event};
use mesos_proto::mesos::v1::master as v1;
use mesos_proto::mesos::{FrameworkId, SlaveId, Task, TaskStatus};
use prost::Message as _;

use crate::event_stream::Budget;
use crate::master::Master;
use crate::operator_api::{agent, framework, get_state};

/// Genuine's heartbeat interval for operator streams.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Genuine's default `--max_operator_event_stream_subscribers`.
pub const MAX_SUBSCRIBERS: usize = 1000;

struct Subscriber {
    id: u64,
    tx: tokio::sync::mpsc::UnboundedSender<Bytes>,
    json: bool,
    budget: Budget,
}

/// What subscribers were last told about a task: its state and its latest status.
#[derive(PartialEq, Clone)]
struct TaskMark {
    state: i32,
    statuses: usize,
    last_uuid: Option<Vec<u8>>,
}

impl TaskMark {
    fn of(t: &Task) -> TaskMark {
        TaskMark {
            state: t.state,
            statuses: t.statuses.len(),
            last_uuid: t.statuses.last().and_then(|s| s.uuid.clone()),
        }
    }
}

/// What subscribers were last told about a framework: its flags and its `FrameworkInfo`
/// (a hash of its encoding: an UPDATE_FRAMEWORK or a failover may change it).
type FrameworkMark = (bool, bool, u64);

fn framework_mark(
    active: bool,
    connected: bool,
    info: &mesos_proto::mesos::FrameworkInfo,
) -> FrameworkMark {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    info.encode_to_vec().hash(&mut h);
    (active, connected, h.finish())
}

/// The operator subscribers and the view they share.
#[derive(Default)]
pub struct OperatorEvents {
    subscribers: Vec<Subscriber>,
    next_id: u64,
    heartbeat_running: bool,
    tasks: HashMap<(String, String), TaskMark>,
    agents: HashSet<String>,
    /// Framework id → what FRAMEWORK_UPDATED reports a change of.
    frameworks: HashMap<String, FrameworkMark>,
}

impl OperatorEvents {
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }
}

/// Encodes a v0-typed event as one v1 RecordIO record.
fn record(e: &Event, json: bool) -> Option<Bytes> {
    let v1_event: v1::Event = mesos_proto::evolve(e).ok()?;
    let data = if json {
        let mut v = mesos_proto::to_json(&v1_event);
        if let Some(state) = v.pointer_mut("/subscribed") {
            crate::operator_api::write_empty_lists(state);
        }
        v.to_string().into_bytes()
    } else {
        v1_event.encode_to_vec()
    };
    Some(recordio::encode(&data))
}

fn event(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

impl Master {
    /// SUBSCRIBE: the stream, its SUBSCRIBED snapshot and first HEARTBEAT.
    pub(crate) fn operator_subscribe(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        accept: ContentType,
    ) -> Response {
        if self.operator_events.subscribers.len() >= MAX_SUBSCRIBERS {
            return Response::service_unavailable(format!(
                "Operator event stream subscriber limit ({MAX_SUBSCRIBERS}) reached"
            ));
        }
        if self.operator_events.subscribers.is_empty() {
            self.mark_operator_view();
        }
        let json = accept == ContentType::Json;
        let snapshot = self.snapshot();
        let mut subscribed = event(event::Type::Subscribed);
        subscribed.subscribed = Some(event::Subscribed {
            get_state: Some(get_state(&snapshot)),
            heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
        });
        let Some(first) = record(&subscribed, json) else {
            return Response::new(500, "The cluster state could not be encoded");
        };
        let (response, tx) = Response::stream(200);
        let id = self.operator_events.next_id;
        self.operator_events.next_id += 1;
        // The snapshot always fits: the budget bounds what piles up behind it.
        let sub = Subscriber {
            id,
            tx,
            json,
            budget: Budget::new(
                self.flags
                    .http_framework_max_queued_bytes
                    .saturating_add(first.len()),
            ),
        };
        let ok = match sub.budget.admit(first) {
            Ok(rec) => sub.tx.send(rec).is_ok(),
            Err(_) => false,
        } && send(&sub, &event(event::Type::Heartbeat));
        if ok {
            tracing::info!(subscriber = id, "operator event stream subscribed");
            self.operator_events.subscribers.push(sub);
            self.count_operator_subscribers();
            self.start_operator_heartbeats(ctx);
        }
        response.with_header("Content-Type", accept.as_str())
    }

    fn start_operator_heartbeats(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.operator_events.heartbeat_running {
            return;
        }
        self.operator_events.heartbeat_running = true;
        ctx.delay(HEARTBEAT_INTERVAL, "operator_heartbeat", |m, ctx| {
            m.operator_events.heartbeat_running = false;
            m.broadcast(&event(event::Type::Heartbeat));
            if !m.operator_events.subscribers.is_empty() {
                m.start_operator_heartbeats(ctx);
            }
        });
    }

    /// Sends to every subscriber; drops those gone or over their budget.
    fn broadcast(&mut self, e: &Event) {
        self.operator_events
            .subscribers
            .retain(|s| send(s, e) || dropped(s));
        self.count_operator_subscribers();
    }

    /// Ends every operator event stream (the master was demoted); returns how many.
    /// Subscribers see the response end and, reconnecting, are redirected to the leader.
    pub(crate) fn close_operator_streams(&mut self) -> usize {
        let closed = std::mem::take(&mut self.operator_events.subscribers).len();
        self.count_operator_subscribers();
        closed
    }

    /// `master/operator_event_stream_subscribers`, as genuine reports it.
    fn count_operator_subscribers(&self) {
        self.metrics
            .metrics
            .gauge("master/operator_event_stream_subscribers")
            .set(self.operator_events.subscribers.len() as f64);
    }

    /// Records the current state as what subscribers know (before the first subscribes).
    fn mark_operator_view(&mut self) {
        let ev = &mut self.operator_events;
        ev.tasks = self
            .frameworks
            .registered
            .values()
            .flat_map(|f| {
                f.tasks
                    .values()
                    .map(move |t| ((f.id.clone(), t.task_id.value.clone()), TaskMark::of(t)))
            })
            .collect();
        ev.agents = self.agents.registered.keys().cloned().collect();
        ev.frameworks = self
            .frameworks
            .registered
            .values()
            .map(|f| (f.id.clone(), framework_mark(f.active, f.connected, &f.info)))
            .collect();
    }

    /// Publishes what changed since subscribers were last told (called on every change).
    pub(crate) fn publish_operator_events(&mut self) {
        if self.operator_events.subscribers.is_empty() {
            return;
        }
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        for f in self.frameworks.registered.values() {
            for t in f.tasks.values() {
                let key = (f.id.clone(), t.task_id.value.clone());
                let mark = TaskMark::of(t);
                match self.operator_events.tasks.get(&key) {
                    None => {
                        let mut e = event(event::Type::TaskAdded);
                        e.task_added = Some(event::TaskAdded { task: t.clone() });
                        events.push(e);
                    }
                    Some(old) if *old != mark => events.push(task_updated(&f.id, t)),
                    Some(_) => {}
                }
                self.operator_events.tasks.insert(key.clone(), mark);
                seen.insert(key);
            }
        }
        // Tasks that left the active set: their final update, from the completed ones.
        let gone: Vec<(String, String)> = self
            .operator_events
            .tasks
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let old = self.operator_events.tasks.remove(&key);
            let done = self.frameworks.get(&key.0).and_then(|f| {
                f.completed_tasks
                    .iter()
                    .chain(f.unreachable_tasks.iter())
                    .rev()
                    .find(|t| t.task_id.value == key.1)
            });
            if let Some(t) = done {
                if old.as_ref() != Some(&TaskMark::of(t)) {
                    events.push(task_updated(&key.0, t));
                }
            }
        }
        self.publish_membership(&mut events);
        for e in &events {
            self.broadcast(e);
        }
    }

    /// Agents and frameworks that appeared, changed or left.
    fn publish_membership(&mut self, events: &mut Vec<Event>) {
        let agents_now: HashSet<&String> = self.agents.registered.keys().collect();
        let frameworks_now: HashMap<&String, FrameworkMark> = self
            .frameworks
            .registered
            .values()
            .map(|f| (&f.id, framework_mark(f.active, f.connected, &f.info)))
            .collect();
        let ev = &self.operator_events;
        let same = agents_now.len() == ev.agents.len()
            && agents_now.iter().all(|a| ev.agents.contains(*a))
            && frameworks_now.len() == ev.frameworks.len()
            && frameworks_now
                .iter()
                .all(|(id, flags)| ev.frameworks.get(*id) == Some(flags));
        if same {
            return;
        }
        let snapshot = self.snapshot();
        let ev = &mut self.operator_events;
        for a in &snapshot.agents {
            if ev.agents.insert(a.id.clone()) {
                let mut e = event(event::Type::AgentAdded);
                e.agent_added = Some(event::AgentAdded { agent: agent(a) });
                events.push(e);
            }
        }
        let removed: Vec<String> = ev
            .agents
            .iter()
            .filter(|a| !snapshot.agents.iter().any(|x| &x.id == *a))
            .cloned()
            .collect();
        for id in removed {
            ev.agents.remove(&id);
            let mut e = event(event::Type::AgentRemoved);
            e.agent_removed = Some(event::AgentRemoved {
                agent_id: SlaveId { value: id },
            });
            events.push(e);
        }
        for f in &snapshot.frameworks {
            let flags = framework_mark(f.active, f.connected, &f.info);
            match ev.frameworks.insert(f.id.clone(), flags) {
                None => {
                    let mut e = event(event::Type::FrameworkAdded);
                    e.framework_added = Some(event::FrameworkAdded {
                        framework: framework(f, false),
                    });
                    events.push(e);
                }
                Some(old) if old != flags => {
                    let mut e = event(event::Type::FrameworkUpdated);
                    e.framework_updated = Some(event::FrameworkUpdated {
                        framework: framework(f, false),
                    });
                    events.push(e);
                }
                Some(_) => {}
            }
        }
        let removed: Vec<String> = ev
            .frameworks
            .keys()
            .filter(|id| !snapshot.frameworks.iter().any(|f| &f.id == *id))
            .cloned()
            .collect();
        for id in removed {
            ev.frameworks.remove(&id);
            let mut info = snapshot
                .completed_frameworks
                .iter()
                .find(|f| f.id == id)
                .map(|f| f.info.clone())
                .unwrap_or_default();
            info.id = Some(FrameworkId { value: id });
            let mut e = event(event::Type::FrameworkRemoved);
            e.framework_removed = Some(event::FrameworkRemoved {
                framework_info: info,
            });
            events.push(e);
        }
    }
}

fn task_updated(framework_id: &str, t: &Task) -> Event {
    let status = t.statuses.last().cloned().unwrap_or_else(|| TaskStatus {
        task_id: t.task_id.clone(),
        state: t.state,
        ..Default::default()
    });
    let mut e = event(event::Type::TaskUpdated);
    e.task_updated = Some(event::TaskUpdated {
        framework_id: FrameworkId {
            value: framework_id.to_string(),
        },
        status,
        state: t.state,
    });
    e
}

/// Queues one event on a subscriber's stream; false if it is gone or over its budget.
fn send(s: &Subscriber, e: &Event) -> bool {
    let Some(rec) = record(e, s.json) else {
        return true;
    };
    match s.budget.admit(rec) {
        Ok(rec) => s.tx.send(rec).is_ok(),
        Err(overflow) => {
            tracing::warn!(subscriber = s.id, %overflow, "dropping an operator subscriber that does not read its stream");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_over_its_budget_is_refused_the_event_and_counts_as_gone() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sub = Subscriber {
            id: 1,
            tx,
            json: true,
            budget: Budget::new(64),
        };
        let heartbeat = event(event::Type::Heartbeat);
        assert!(send(&sub, &heartbeat), "a small event fits");
        let mut big = event(event::Type::AgentRemoved);
        big.agent_removed = Some(event::AgentRemoved {
            agent_id: SlaveId {
                value: "x".repeat(100),
            },
        });
        assert!(
            !send(&sub, &big),
            "over the budget: the subscriber is dropped"
        );
        let first = rx.try_recv().unwrap();
        assert!(std::str::from_utf8(&first).unwrap().contains("HEARTBEAT"));
        assert!(
            rx.try_recv().is_err(),
            "nothing beyond the budget was queued"
        );
    }
}

fn dropped(s: &Subscriber) -> bool {
    tracing::info!(subscriber = s.id, "operator event stream closed");
    false
}
