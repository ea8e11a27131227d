//! The read-only endpoints operators' tools poll besides `/state`: `/state-summary`,
//! `/slaves`, `/frameworks`, `/tasks`, `/roles`, and the `.json` aliases of the 0.2x era
//! (genuine 1.11 dropped them, tools still request them). All are rendered from the same
//! snapshot as `/state`, on a blocking thread, so polling never delays scheduling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use libprocess::http::json_reply;
use libprocess::{Ctx, Reply, Request, Response};
use mesos_proto::mesos::{Resource, Task, TaskState};
use serde_json::{json, Map, Value};

use crate::master::Master;
use crate::resources;
use crate::state::{agent_json, framework_json, task_json, FrameworkView, Snapshot};

/// `/tasks` returns at most this many tasks unless `limit` says otherwise (as genuine).
pub const TASK_LIMIT: usize = 100;

type Render = fn(&Snapshot, &Request) -> String;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    let endpoints: [(&str, Render); 5] = [
        ("state-summary", render_summary),
        ("slaves", render_slaves),
        ("frameworks", render_frameworks),
        ("tasks", render_tasks),
        ("roles", render_roles),
    ];
    for (name, render) in endpoints {
        for path in [format!("/{name}"), format!("/{name}.json")] {
            ctx.route(&path, move |m, _ctx, req| m.snapshot_endpoint(req, render));
        }
    }
}

impl Master {
    /// Serves a GET from the current snapshot, rendered on a blocking thread.
    pub(crate) fn snapshot_endpoint(&mut self, req: Request, render: Render) -> Reply {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::method_not_allowed("GET").into();
        }
        let snapshot: Arc<Snapshot> = self.snapshot();
        let (reply, tx) = Reply::later();
        tokio::task::spawn_blocking(move || {
            let body = render(&snapshot, &req);
            let _ = tx.send(json_reply(&req, body));
        });
        reply
    }
}

/// Task counts by state, under the `TASK_*` keys of genuine `/state-summary`.
#[derive(Default)]
struct Counts([usize; 10]);

const SUMMARY_STATES: [TaskState; 10] = [
    TaskState::TaskStaging,
    TaskState::TaskStarting,
    TaskState::TaskRunning,
    TaskState::TaskKilling,
    TaskState::TaskFinished,
    TaskState::TaskKilled,
    TaskState::TaskFailed,
    TaskState::TaskLost,
    TaskState::TaskError,
    TaskState::TaskUnreachable,
];

impl Counts {
    fn add(&mut self, t: &Task) {
        if let Some(i) = SUMMARY_STATES.iter().position(|s| *s as i32 == t.state) {
            if let Some(c) = self.0.get_mut(i) {
                *c += 1;
            }
        }
    }

    fn write(&self, m: &mut Map<String, Value>) {
        for (state, n) in SUMMARY_STATES.iter().zip(self.0) {
            m.insert(state.as_str_name().to_string(), json!(n));
        }
    }
}

fn all_tasks(f: &FrameworkView) -> impl Iterator<Item = &Task> {
    f.tasks
        .iter()
        .chain(&f.unreachable_tasks)
        .chain(&f.completed_tasks)
}

/// `/state-summary`: agents and frameworks without their tasks, with per-state task
/// counts and which frameworks run on which agents.
fn render_summary(s: &Snapshot, _req: &Request) -> String {
    let mut agent_counts: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut agent_frameworks: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut framework_agents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let frameworks: Vec<&FrameworkView> = s.frameworks.iter().collect();
    let mut framework_counts: Vec<Counts> = Vec::new();
    for f in &frameworks {
        let mut counts = Counts::default();
        for t in all_tasks(f) {
            counts.add(t);
            agent_counts.entry(&t.slave_id.value).or_default().add(t);
        }
        for t in &f.tasks {
            agent_frameworks
                .entry(&t.slave_id.value)
                .or_default()
                .insert(&f.id);
            framework_agents
                .entry(&f.id)
                .or_default()
                .insert(&t.slave_id.value);
        }
        for (agent, _) in &f.executors {
            agent_frameworks.entry(agent).or_default().insert(&f.id);
            framework_agents.entry(&f.id).or_default().insert(agent);
        }
        framework_counts.push(counts);
    }
    let slaves: Vec<Value> = s
        .agents
        .iter()
        .map(|a| {
            let mut v = agent_json(a);
            if let Value::Object(m) = &mut v {
                agent_counts
                    .get(a.id.as_str())
                    .unwrap_or(&Counts::default())
                    .write(m);
                let ids: Vec<&str> = agent_frameworks
                    .get(a.id.as_str())
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                m.insert("framework_ids".into(), json!(ids));
            }
            v
        })
        .collect();
    let frameworks: Vec<Value> = frameworks
        .iter()
        .zip(&framework_counts)
        .map(|(f, counts)| {
            let full = framework_json(f);
            let mut m = Map::new();
            for key in [
                "id",
                "name",
                "pid",
                "used_resources",
                "offered_resources",
                "capabilities",
                "hostname",
                "webui_url",
                "active",
                "connected",
                "recovered",
            ] {
                if let Some(v) = full.get(key) {
                    m.insert(key.into(), v.clone());
                }
            }
            counts.write(&mut m);
            let ids: Vec<&str> = framework_agents
                .get(f.id.as_str())
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            m.insert("slave_ids".into(), json!(ids));
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert(
        "hostname".into(),
        json!(s.info.hostname.clone().unwrap_or_default()),
    );
    if let Some(c) = &s.cluster {
        m.insert("cluster".into(), json!(c));
    }
    m.insert("slaves".into(), Value::Array(slaves));
    m.insert("frameworks".into(), Value::Array(frameworks));
    Value::Object(m).to_string()
}

/// `/slaves` (`?slave_id=` for one).
fn render_slaves(s: &Snapshot, req: &Request) -> String {
    let wanted = req.query("slave_id");
    let slaves: Vec<Value> = s
        .agents
        .iter()
        .filter(|a| wanted.is_none_or(|id| id == a.id))
        .map(agent_full_json)
        .collect();
    let recovered: Vec<Value> = s
        .recovered_agents
        .iter()
        .filter(|i| wanted.is_none_or(|id| i.id.as_ref().is_some_and(|x| x.value == id)))
        .map(crate::state::recovered_agent_json)
        .collect();
    json!({ "slaves": slaves, "recovered_slaves": recovered }).to_string()
}

/// An agent as `/slaves` shows it: the `/state` object plus its resources as full
/// protobuf JSON (`*_full`), which keep reservations and allocation roles intact.
fn agent_full_json(a: &crate::state::AgentView) -> Value {
    let full = |r: &[Resource]| Value::Array(r.iter().map(mesos_proto::to_json).collect());
    let mut v = agent_json(a);
    if let Value::Object(m) = &mut v {
        let mut reserved: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
        let mut unreserved = Vec::new();
        for r in &a.info.resources {
            match reservation_role(r) {
                Some(role) => reserved.entry(role).or_default().push(r.clone()),
                None => unreserved.push(r.clone()),
            }
        }
        let reserved: Map<String, Value> = reserved
            .into_iter()
            .map(|(role, r)| (role, full(&r)))
            .collect();
        m.insert("reserved_resources_full".into(), Value::Object(reserved));
        m.insert("unreserved_resources_full".into(), full(&unreserved));
        m.insert("used_resources_full".into(), full(&a.used));
        m.insert("offered_resources_full".into(), full(&a.offered));
    }
    v
}

/// `/frameworks` (`?framework_id=` for one).
fn render_frameworks(s: &Snapshot, req: &Request) -> String {
    let wanted = req.query("framework_id");
    let pick = |list: &[FrameworkView]| -> Vec<Value> {
        list.iter()
            .filter(|f| wanted.is_none_or(|id| id == f.id))
            .map(framework_json)
            .collect()
    };
    json!({
        "frameworks": pick(&s.frameworks),
        "completed_frameworks": pick(&s.completed_frameworks),
        "unregistered_frameworks": [],
    })
    .to_string()
}

/// Paging of `/tasks`, from the query as genuine reads it: a `limit` or `offset` that is
/// not a number is the default; a negative `limit` means all tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
    pub ascending: bool,
}

impl Page {
    pub fn from_request(req: &Request) -> Page {
        let limit = match req.query("limit").map(|l| l.trim().parse::<i64>()) {
            Some(Ok(n)) if n < 0 => usize::MAX,
            Some(Ok(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => TASK_LIMIT,
        };
        // A negative offset is past every task in genuine (it wraps as an unsigned size).
        let offset = match req.query("offset").map(|o| o.trim().parse::<i64>()) {
            Some(Ok(n)) if n < 0 => usize::MAX,
            Some(Ok(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => 0,
        };
        Page {
            limit,
            offset,
            ascending: req.query("order") == Some("asc"),
        }
    }
}

/// The earliest status timestamp (genuine orders `/tasks` by it); none sorts first.
fn first_timestamp(t: &Task) -> f64 {
    t.statuses
        .iter()
        .filter_map(|s| s.timestamp)
        .reduce(f64::min)
        .unwrap_or(0.0)
}

/// `/tasks`: active, unreachable and completed tasks of current and completed frameworks,
/// filtered by `framework_id` / `task_id`, ordered by first status time (`order=asc|desc`,
/// descending by default), then paged by `offset` and `limit`.
fn render_tasks(s: &Snapshot, req: &Request) -> String {
    let page = Page::from_request(req);
    let framework_id = req.query("framework_id");
    let task_id = req.query("task_id");
    let mut tasks: Vec<&Task> = s
        .frameworks
        .iter()
        .chain(&s.completed_frameworks)
        .filter(|f| framework_id.is_none_or(|id| id == f.id))
        .flat_map(all_tasks)
        .filter(|t| task_id.is_none_or(|id| id == t.task_id.value))
        .collect();
    tasks.sort_by(|a, b| {
        first_timestamp(a)
            .total_cmp(&first_timestamp(b))
            .then_with(|| a.task_id.value.cmp(&b.task_id.value))
    });
    if !page.ascending {
        tasks.reverse();
    }
    let tasks: Vec<Value> = tasks
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .map(task_json)
        .collect();
    json!({ "tasks": tasks }).to_string()
}

/// The role of an allocated or offered resource.
fn allocation_role(r: &Resource) -> Option<&str> {
    r.allocation_info.as_ref().and_then(|a| a.role.as_deref())
}

/// The role a resource is reserved to, in either reservation format (`*` is none).
fn reservation_role(r: &Resource) -> Option<String> {
    #[allow(deprecated)] // pre-refinement agents send the reservation here
    let legacy = r.role.clone().filter(|role| role != "*");
    r.reservations
        .last()
        .and_then(|res| res.role.clone())
        .or(legacy)
}

/// Weights from `--weights` (`role=weight,...`); unparsable entries are ignored.
pub fn parse_weights(flag: Option<&str>) -> BTreeMap<String, f64> {
    flag.unwrap_or_default()
        .split(',')
        .filter_map(|kv| {
            let (role, w) = kv.split_once('=')?;
            let w: f64 = w.trim().parse().ok()?;
            (w.is_finite() && w > 0.0).then(|| (role.trim().to_string(), w))
        })
        .collect()
}

/// A role as `/roles` shows it.
pub struct RoleView {
    pub name: String,
    pub weight: f64,
    pub frameworks: Vec<String>,
    pub allocated: Vec<Resource>,
    pub offered: Vec<Resource>,
    pub reserved: Vec<Resource>,
}

/// The roles known to the master: those of subscribed frameworks, of reservations on
/// agents, and those given a weight.
pub fn roles(s: &Snapshot) -> Vec<RoleView> {
    let weights = parse_weights(
        s.flags
            .iter()
            .find(|(k, _)| k == "weights")
            .map(|(_, v)| v.as_str()),
    );
    let mut roles: BTreeMap<String, RoleView> = BTreeMap::new();
    for f in &s.frameworks {
        for role in crate::frameworks::roles_of(&f.info) {
            role_entry(&mut roles, &weights, &role)
                .frameworks
                .push(f.id.clone());
        }
        for r in &f.used {
            if let Some(role) = allocation_role(r) {
                role_entry(&mut roles, &weights, role)
                    .allocated
                    .push(r.clone());
            }
        }
        for r in &f.offered {
            if let Some(role) = allocation_role(r) {
                role_entry(&mut roles, &weights, role)
                    .offered
                    .push(r.clone());
            }
        }
    }
    for a in &s.agents {
        for r in &a.info.resources {
            let role = reservation_role(r);
            if let Some(role) = role {
                role_entry(&mut roles, &weights, &role)
                    .reserved
                    .push(r.clone());
            }
        }
    }
    for role in weights.keys() {
        role_entry(&mut roles, &weights, role);
    }
    roles.into_values().collect()
}

fn role_entry<'a>(
    roles: &'a mut BTreeMap<String, RoleView>,
    weights: &BTreeMap<String, f64>,
    name: &str,
) -> &'a mut RoleView {
    roles.entry(name.to_string()).or_insert_with(|| RoleView {
        name: name.to_string(),
        weight: weights.get(name).copied().unwrap_or(1.0),
        frameworks: Vec::new(),
        allocated: Vec::new(),
        offered: Vec::new(),
        reserved: Vec::new(),
    })
}

/// `/roles`: each role's weight, frameworks and resources (allocated, offered, reserved),
/// with its quota (no quota is configured here: empty guarantee and limit).
fn render_roles(s: &Snapshot, _req: &Request) -> String {
    let roles: Vec<Value> = roles(s)
        .iter()
        .map(|r| {
            let consumed = [r.allocated.clone(), r.reserved.clone()].concat();
            json!({
                "name": r.name,
                "weight": r.weight,
                "frameworks": r.frameworks,
                "resources": resources::state_json(&[r.allocated.clone(), r.offered.clone()].concat()),
                "allocated": resources::state_json(&r.allocated),
                "offered": resources::state_json(&r.offered),
                "reserved": resources::state_json(&r.reserved),
                "quota": {
                    "role": r.name,
                    "guarantee": {},
                    "limit": {},
                    "consumed": resources::state_json(&consumed),
                },
            })
        })
        .collect();
    json!({ "roles": roles }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_paging_defaults_to_100_and_a_negative_limit_means_all() {
        let page = |q: &str| Page::from_request(&Request::new("GET", &format!("/tasks?{q}")));
        assert_eq!(page("").limit, TASK_LIMIT);
        assert_eq!(page("limit=-1").limit, usize::MAX);
        assert_eq!(page("limit=abc").limit, TASK_LIMIT);
        assert_eq!(page("limit=3&offset=2").offset, 2);
        assert_eq!(page("offset=-1").offset, usize::MAX);
        assert!(page("order=asc").ascending);
        assert!(!page("order=sideways").ascending);
    }

    #[test]
    fn weights_flag_parses_pairs_and_ignores_bad_entries() {
        let w = parse_weights(Some("a=2,b=x,c=0.5,=,d=-1,e=inf"));
        assert_eq!(w.len(), 2);
        assert_eq!(w["a"], 2.0);
        assert_eq!(w["c"], 0.5);
    }
}
