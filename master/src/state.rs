//! `/master/state` in Mesos's JSON shape, rendered from a snapshot off the master's mailbox.
//!
//! The master only copies its records into a [`Snapshot`] (and only when something changed
//! since the last request); building the JSON text happens on a blocking thread, so a large
//! cluster's state never stalls scheduling.

use std::sync::Arc;

use mesos_proto::mesos::{
    ExecutorInfo, FrameworkInfo, MasterInfo, Offer, Resource, SlaveInfo, Task, TaskState,
};
use serde_json::{json, Map, Value};

use crate::master::Master;
use crate::resources;

/// The last snapshot and the master generation it was taken at.
#[derive(Default)]
pub struct Cache {
    generation: u64,
    snapshot: Option<Arc<Snapshot>>,
}

/// An agent as `/state` shows it.
pub struct AgentView {
    pub id: String,
    pub info: SlaveInfo,
    pub pid: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub used: Vec<Resource>,
    pub offered: Vec<Resource>,
    pub active: bool,
    pub version: String,
    pub capabilities: Vec<String>,
}

/// A framework as `/state` shows it.
pub struct FrameworkView {
    pub id: String,
    pub info: FrameworkInfo,
    pub pid: Option<String>,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub tasks: Vec<Task>,
    pub completed_tasks: Vec<Task>,
    pub unreachable_tasks: Vec<Task>,
    pub offers: Vec<Offer>,
    pub used: Vec<Resource>,
    pub offered: Vec<Resource>,
    pub executors: Vec<(String, ExecutorInfo)>,
}

/// Everything `/state` needs, copied out of the master.
pub struct Snapshot {
    pub info: MasterInfo,
    pub start_time: f64,
    pub flags: Vec<(String, String)>,
    pub cluster: Option<String>,
    pub agents: Vec<AgentView>,
    pub unreachable_agents: usize,
    /// Agents of the recovered registry not re-registered yet.
    pub recovered_agents: Vec<SlaveInfo>,
    pub frameworks: Vec<FrameworkView>,
    pub completed_frameworks: Vec<FrameworkView>,
}

impl Master {
    /// The current snapshot, re-taken only if the master changed since the last one.
    pub(crate) fn snapshot(&mut self) -> Arc<Snapshot> {
        if let Some(s) = &self.state_cache.snapshot {
            if self.state_cache.generation == self.generation {
                return s.clone();
            }
        }
        let snapshot = Arc::new(self.take_snapshot());
        self.state_cache = Cache {
            generation: self.generation,
            snapshot: Some(snapshot.clone()),
        };
        snapshot
    }

    fn take_snapshot(&self) -> Snapshot {
        // Offered resources per agent in one pass over the offers (not one per agent).
        let mut offered: std::collections::HashMap<&str, Vec<mesos_proto::mesos::Resource>> =
            std::collections::HashMap::new();
        for o in self.offers.by_id.values() {
            offered
                .entry(o.offer.slave_id.value.as_str())
                .or_default()
                .extend(o.offer.resources.iter().cloned());
        }
        let agents = self
            .agents
            .registered
            .values()
            .map(|a| {
                let mut used = Vec::new();
                for (fid, tid) in &a.tasks {
                    if let Some(t) = self.frameworks.get(fid).and_then(|f| f.tasks.get(tid)) {
                        let freed = self
                            .frameworks
                            .get(fid)
                            .is_some_and(|f| f.freed.contains(tid));
                        if !freed {
                            used.extend(t.resources.iter().cloned());
                        }
                    }
                }
                for executors in a.executors.values() {
                    for e in executors.values() {
                        used.extend(e.resources.iter().cloned());
                    }
                }
                AgentView {
                    id: a.id.clone(),
                    info: a.info.clone(),
                    pid: a.pid.to_string(),
                    registered_time: a.registered_time,
                    reregistered_time: a.reregistered_time,
                    used,
                    offered: offered.remove(a.id.as_str()).unwrap_or_default(),
                    active: a.active,
                    version: a.version.clone(),
                    capabilities: a
                        .capabilities
                        .iter()
                        .filter_map(|c| {
                            mesos_proto::mesos::slave_info::capability::Type::try_from(*c).ok()
                        })
                        .map(|t| t.as_str_name().to_string())
                        .collect(),
                }
            })
            .collect();
        // Executors per framework in one pass over the agents (not one per framework).
        let mut executors_of: std::collections::HashMap<&str, Vec<_>> =
            std::collections::HashMap::new();
        for a in self.agents.registered.values() {
            for (fid, executors) in &a.executors {
                executors_of
                    .entry(fid.as_str())
                    .or_default()
                    .extend(executors.values().map(|e| (a.id.clone(), e.clone())));
            }
        }
        let view = |f: &crate::frameworks::Framework| {
            let used = f
                .tasks
                .values()
                .filter(|t| !f.freed.contains(&t.task_id.value))
                .flat_map(|t| t.resources.iter().cloned())
                .collect();
            let executors = executors_of.get(f.id.as_str()).cloned().unwrap_or_default();
            FrameworkView {
                id: f.id.clone(),
                info: f.info.clone(),
                pid: f.pid().map(|p| p.to_string()),
                active: f.active,
                connected: f.connected,
                recovered: f.recovered,
                registered_time: f.registered_time,
                reregistered_time: f.reregistered_time,
                unregistered_time: f.unregistered_time,
                tasks: f.tasks.values().cloned().collect(),
                completed_tasks: f.completed_tasks.iter().cloned().collect(),
                unreachable_tasks: f.unreachable_tasks.iter().cloned().collect(),
                offers: f
                    .offers
                    .iter()
                    .filter_map(|o| self.offers.get(o))
                    .map(|o| o.offer.clone())
                    .collect(),
                used,
                offered: self.offers.offered_to(&f.id),
                executors,
            }
        };
        Snapshot {
            info: self.info.clone(),
            start_time: self.start_time,
            flags: self.flags.to_map(),
            cluster: self.flags.cluster.clone(),
            agents,
            unreachable_agents: self.agents.unreachable.len(),
            recovered_agents: self.ha.recovery.awaited_infos(),
            frameworks: self.frameworks.registered.values().map(view).collect(),
            completed_frameworks: self.frameworks.completed.iter().map(view).collect(),
        }
    }
}

/// A task as Mesos's `model(Task)` writes it (`/state`, `/tasks`).
pub(crate) fn task_json(t: &Task) -> Value {
    let state = TaskState::try_from(t.state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_UNKNOWN");
    let role = t
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .unwrap_or_else(|| "*".into());
    let statuses: Vec<Value> = t.statuses.iter().map(status_json).collect();
    let mut m = Map::new();
    m.insert("id".into(), json!(t.task_id.value));
    m.insert("name".into(), json!(t.name));
    m.insert("framework_id".into(), json!(t.framework_id.value));
    m.insert(
        "executor_id".into(),
        json!(t
            .executor_id
            .as_ref()
            .map(|e| e.value.clone())
            .unwrap_or_default()),
    );
    m.insert("slave_id".into(), json!(t.slave_id.value));
    m.insert("state".into(), json!(state));
    m.insert("resources".into(), resources::state_json(&t.resources));
    m.insert("role".into(), json!(role));
    m.insert("statuses".into(), Value::Array(statuses));
    if let Some(user) = &t.user {
        m.insert("user".into(), json!(user));
    }
    if let Some(labels) = &t.labels {
        m.insert("labels".into(), labels_json(labels));
    }
    if let Some(discovery) = &t.discovery {
        m.insert("discovery".into(), mesos_proto::to_json(discovery));
    }
    if let Some(container) = &t.container {
        m.insert("container".into(), mesos_proto::to_json(container));
    }
    Value::Object(m)
}

/// A task status as Mesos's `json(TaskStatus)` writes it: state and timestamp always,
/// labels, container status and health when the status carries them.
pub(crate) fn status_json(s: &mesos_proto::mesos::TaskStatus) -> Value {
    let state = TaskState::try_from(s.state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_UNKNOWN");
    let mut m = Map::new();
    m.insert("state".into(), json!(state));
    m.insert("timestamp".into(), json!(s.timestamp.unwrap_or_default()));
    if let Some(labels) = &s.labels {
        m.insert("labels".into(), labels_json(labels));
    }
    if let Some(c) = &s.container_status {
        m.insert("container_status".into(), mesos_proto::to_json(c));
    }
    if let Some(h) = s.healthy {
        m.insert("healthy".into(), json!(h));
    }
    Value::Object(m)
}

/// `Labels` as the array of `{key, value}` objects Mesos writes (not the wrapper object).
fn labels_json(labels: &mesos_proto::mesos::Labels) -> Value {
    mesos_proto::to_json(labels)
        .get("labels")
        .cloned()
        .unwrap_or(json!([]))
}

pub(crate) fn framework_json(f: &FrameworkView) -> Value {
    let info = &f.info;
    let capabilities: Vec<&str> = info
        .capabilities
        .iter()
        .filter_map(|c| {
            c.r#type.and_then(|t| {
                mesos_proto::mesos::framework_info::capability::Type::try_from(t).ok()
            })
        })
        .map(|t| t.as_str_name())
        .collect();
    let mut m = Map::new();
    m.insert("id".into(), json!(f.id));
    m.insert("name".into(), json!(info.name));
    if let Some(pid) = &f.pid {
        m.insert("pid".into(), json!(pid));
    }
    m.insert("used_resources".into(), resources::state_json(&f.used));
    m.insert(
        "offered_resources".into(),
        resources::state_json(&f.offered),
    );
    m.insert(
        "resources".into(),
        resources::state_json(&[f.used.clone(), f.offered.clone()].concat()),
    );
    m.insert("capabilities".into(), json!(capabilities));
    m.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    m.insert(
        "webui_url".into(),
        json!(info.webui_url.clone().unwrap_or_default()),
    );
    m.insert("active".into(), json!(f.active));
    m.insert("connected".into(), json!(f.connected));
    m.insert("recovered".into(), json!(f.recovered));
    m.insert("user".into(), json!(info.user));
    m.insert(
        "failover_timeout".into(),
        json!(info.failover_timeout.unwrap_or(0.0)),
    );
    m.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    m.insert("registered_time".into(), json!(f.registered_time));
    m.insert(
        "unregistered_time".into(),
        json!(f.unregistered_time.unwrap_or(0.0)),
    );
    if let Some(t) = f.reregistered_time {
        m.insert("reregistered_time".into(), json!(t));
    }
    if let Some(p) = &info.principal {
        m.insert("principal".into(), json!(p));
    }
    let multi = capabilities.contains(&"MULTI_ROLE");
    if multi {
        m.insert("roles".into(), json!(info.roles));
    } else {
        m.insert(
            "role".into(),
            json!(crate::frameworks::roles_of(info)
                .first()
                .cloned()
                .unwrap_or_default()),
        );
    }
    m.insert(
        "tasks".into(),
        Value::Array(f.tasks.iter().map(task_json).collect()),
    );
    m.insert(
        "unreachable_tasks".into(),
        Value::Array(f.unreachable_tasks.iter().map(task_json).collect()),
    );
    m.insert(
        "completed_tasks".into(),
        Value::Array(f.completed_tasks.iter().map(task_json).collect()),
    );
    let offers: Vec<Value> = f
        .offers
        .iter()
        .map(|o| {
            json!({
                "id": o.id.value,
                "framework_id": o.framework_id.value,
                "slave_id": o.slave_id.value,
                "resources": resources::state_json(&o.resources),
            })
        })
        .collect();
    m.insert("offers".into(), Value::Array(offers));
    let executors: Vec<Value> = f
        .executors
        .iter()
        .map(|(agent, e)| {
            json!({
                "executor_id": e.executor_id.value,
                "name": e.name.clone().unwrap_or_default(),
                "framework_id": f.id,
                "command": e.command.as_ref().map(mesos_proto::to_json).unwrap_or(json!({})),
                "resources": resources::state_json(&e.resources),
                "slave_id": agent,
            })
        })
        .collect();
    m.insert("executors".into(), Value::Array(executors));
    // Genuine writes the (here always empty) offer constraints of every framework.
    m.insert("offer_constraints".into(), json!({}));
    if let Some(labels) = &info.labels {
        m.insert(
            "labels".into(),
            mesos_proto::to_json(labels)
                .get("labels")
                .cloned()
                .unwrap_or(json!([])),
        );
    }
    Value::Object(m)
}

/// An agent's attributes as a JSON object (name → value, genuine's rendering).
fn attributes_json(info: &SlaveInfo) -> Map<String, Value> {
    info.attributes
        .iter()
        .map(|attr| {
            let v = if let Some(s) = &attr.scalar {
                json!(s.value)
            } else if let Some(t) = &attr.text {
                json!(t.value)
            } else if let Some(r) = &attr.ranges {
                json!(resources::ranges_text(r))
            } else if let Some(s) = &attr.set {
                json!(format!("{{{}}}", s.item.join(", ")))
            } else {
                Value::Null
            };
            (attr.name.clone(), v)
        })
        .collect()
}

/// A recovered agent (admitted by the registry, not re-registered yet) as genuine lists
/// it in `recovered_slaves`: its SlaveInfo's id, hostname, port, attributes and domain.
pub(crate) fn recovered_agent_json(info: &SlaveInfo) -> Value {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("")),
    );
    m.insert("hostname".into(), json!(info.hostname));
    m.insert("port".into(), json!(info.port.unwrap_or(5051)));
    m.insert("attributes".into(), Value::Object(attributes_json(info)));
    if let Some(d) = &info.domain {
        m.insert("domain".into(), mesos_proto::to_json(d));
    }
    Value::Object(m)
}

pub(crate) fn agent_json(a: &AgentView) -> Value {
    let attributes = attributes_json(&a.info);
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    m.insert("hostname".into(), json!(a.info.hostname));
    m.insert("port".into(), json!(a.info.port.unwrap_or(5051)));
    m.insert("attributes".into(), Value::Object(attributes));
    m.insert("pid".into(), json!(a.pid));
    m.insert("registered_time".into(), json!(a.registered_time));
    if let Some(t) = a.reregistered_time {
        m.insert("reregistered_time".into(), json!(t));
    }
    m.insert("resources".into(), resources::state_json(&a.info.resources));
    m.insert("used_resources".into(), resources::state_json(&a.used));
    m.insert(
        "offered_resources".into(),
        resources::state_json(&a.offered),
    );
    m.insert(
        "reserved_resources".into(),
        resources::reserved_state_json(&a.info.resources),
    );
    m.insert(
        "unreserved_resources".into(),
        resources::state_json(&resources::unreserved(&a.info.resources)),
    );
    m.insert("active".into(), json!(a.active));
    m.insert("deactivated".into(), json!(!a.active));
    m.insert("version".into(), json!(a.version));
    m.insert("capabilities".into(), json!(a.capabilities));
    Value::Object(m)
}

/// Renders `/master/state`.
pub fn render(s: &Snapshot) -> String {
    let active = s.agents.iter().filter(|a| a.active).count();
    let leader = s.info.pid.clone().unwrap_or_default();
    let mut m = Map::new();
    m.insert("version".into(), json!(crate::VERSION));
    m.insert("build_date".into(), json!(""));
    m.insert("build_time".into(), json!(0.0));
    m.insert("build_user".into(), json!(""));
    m.insert("start_time".into(), json!(s.start_time));
    m.insert("elected_time".into(), json!(s.start_time));
    m.insert("id".into(), json!(s.info.id));
    m.insert("pid".into(), json!(leader));
    m.insert(
        "hostname".into(),
        json!(s.info.hostname.clone().unwrap_or_default()),
    );
    m.insert(
        "capabilities".into(),
        json!(["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]),
    );
    m.insert("activated_slaves".into(), json!(active));
    m.insert("deactivated_slaves".into(), json!(s.agents.len() - active));
    m.insert("unreachable_slaves".into(), json!(s.unreachable_agents));
    m.insert("leader".into(), json!(leader));
    m.insert(
        "leader_info".into(),
        json!({
            "id": s.info.id,
            "pid": leader,
            "port": s.info.port,
            "hostname": s.info.hostname.clone().unwrap_or_default(),
        }),
    );
    if let Some(c) = &s.cluster {
        m.insert("cluster".into(), json!(c));
    }
    let flags: Map<String, Value> = s.flags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("flags".into(), Value::Object(flags));
    m.insert(
        "slaves".into(),
        Value::Array(s.agents.iter().map(agent_json).collect()),
    );
    m.insert(
        "recovered_slaves".into(),
        s.recovered_agents
            .iter()
            .map(recovered_agent_json)
            .collect(),
    );
    m.insert(
        "frameworks".into(),
        Value::Array(s.frameworks.iter().map(framework_json).collect()),
    );
    m.insert(
        "completed_frameworks".into(),
        Value::Array(s.completed_frameworks.iter().map(framework_json).collect()),
    );
    m.insert("orphan_tasks".into(), json!([]));
    m.insert("unregistered_frameworks".into(), json!([]));
    Value::Object(m).to_string()
}
