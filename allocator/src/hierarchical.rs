//! The hierarchical DRF allocator core: which framework is offered which agent's resources.
//!
//! Sans-IO: a plain deterministic struct with time passed in, so every decision can be unit
//! tested; [`crate::process`] runs it inside the master's runtime.
//!
//! Two levels of DRF, as in Mesos: roles are ordered by their weighted dominant share, and
//! within a role its frameworks are. For each agent, the available resources go whole to the
//! first framework (in that order) that is active, not suppressed in the role, and not
//! filtered for those resources on that agent; resources reserved to other roles then go to
//! those roles' frameworks. Sorters are updated incrementally after each grant, so one cycle
//! costs O(agents × log(frameworks)) when nothing is filtered.
//!
//! Agents are visited in the order they were added (Mesos shuffles them; a fixed order keeps
//! runs reproducible). Used resources reported by an agent are charged to the framework's role
//! that holds their reservation, else to its first role.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::resources::{Quantities, Resources};
use crate::sorter::{ClientId, DrfSorter, FnvMap};

mod cycle;
pub use cycle::Explanation;

/// How many filtered agents an [`Explanation`] names.
const EXPLAIN_AGENTS: usize = 10;

/// Allocator tunables.
#[derive(Clone, Debug)]
pub struct AllocatorConfig {
    /// Period of the batch allocation run.
    pub allocation_interval: Duration,
    /// The filter the master applies to a decline that carries no `Filters`.
    pub default_refuse: Duration,
    /// Role weights (default 1).
    pub role_weights: HashMap<String, f64>,
    /// The smallest offer: at least this many cpus ...
    pub min_allocatable_cpus: f64,
    /// ... or this many MB of memory.
    pub min_allocatable_mem: f64,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            allocation_interval: Duration::from_secs(1),
            default_refuse: Duration::from_secs(5),
            role_weights: HashMap::new(),
            min_allocatable_cpus: 0.01,
            min_allocatable_mem: 32.0,
        }
    }
}

/// One decision: offer `resources` of `agent_id` to `framework_id`, allocated to `role`.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Resources,
}

/// A refuse filter: `resources` of one agent, in one role, not to be offered again before
/// `until`.
#[derive(Clone, Debug)]
struct Filter {
    role: Arc<str>,
    resources: Resources,
    until: Instant,
}

/// What happened to a framework in the last run, for [`Explanation`].
#[derive(Clone, Debug, Default)]
struct LastRun {
    offered: usize,
    offered_agents: Vec<Arc<str>>,
    filtered: usize,
    filtered_agents: Vec<Arc<str>>,
}

#[derive(Debug)]
struct Framework {
    id: Arc<str>,
    /// False for a placeholder created for used resources of a framework not yet added.
    registered: bool,
    active: bool,
    roles: Vec<Arc<str>>,
    suppressed: BTreeSet<Arc<str>>,
    /// Filters by agent.
    filters: FnvMap<Arc<str>, Vec<Filter>>,
    /// Roles (role index) where this framework is a client of the role's sorter, with its id.
    clients: Vec<(usize, ClientId)>,
    last_run: LastRun,
    /// Per role index: on how many agents the framework holds resources in that role.
    held: Vec<(usize, usize)>,
    /// The run counter when the framework was added.
    added_at_run: u64,
}

impl Framework {
    fn client_in(&self, role: usize) -> Option<ClientId> {
        self.clients
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, c)| *c)
    }

    fn is_filtered(&self, agent: &str, role: &str, offer: &Resources, now: Instant) -> bool {
        self.filters.get(agent).is_some_and(|fs| {
            fs.iter()
                .any(|f| f.until > now && &*f.role == role && f.resources.contains(offer))
        })
    }
}

#[derive(Debug)]
struct Role {
    name: Arc<str>,
    /// Frameworks of this role, by their own DRF share.
    sorter: DrfSorter,
    /// Framework index of each client of `sorter` (indexed by `ClientId`).
    members: Vec<Option<usize>>,
    /// The cluster-total generation `sorter` has seen.
    total_generation: u64,
}

#[derive(Debug)]
struct Agent {
    id: Arc<str>,
    total: Resources,
    available: Resources,
    active: bool,
    /// What is allocated here, by framework index and role index.
    allocations: Vec<(usize, usize, Resources)>,
}

/// Summary of the last allocation run.
#[derive(Clone, Debug, Default)]
struct RunSummary {
    /// Agents that had allocatable resources when visited.
    allocatable_agents: usize,
    allocations: usize,
}

/// The allocator core.
#[derive(Debug)]
pub struct HierarchicalAllocator {
    config: AllocatorConfig,
    frameworks: Vec<Option<Framework>>,
    framework_index: FnvMap<Arc<str>, usize>,
    free_frameworks: Vec<usize>,
    /// Roles by role-sorter client index.
    roles: Vec<Option<Role>>,
    role_sorter: DrfSorter,
    agents: Vec<Agent>,
    agent_index: FnvMap<Arc<str>, usize>,
    total: Quantities,
    total_generation: u64,
    runs: u64,
    last_run: Option<RunSummary>,
    /// Frameworks with live filters during the current run.
    with_filters: Vec<usize>,
}

impl HierarchicalAllocator {
    pub fn new(config: AllocatorConfig) -> Self {
        HierarchicalAllocator {
            config,
            frameworks: Vec::new(),
            framework_index: FnvMap::default(),
            free_frameworks: Vec::new(),
            roles: Vec::new(),
            role_sorter: DrfSorter::new(),
            agents: Vec::new(),
            agent_index: FnvMap::default(),
            total: Vec::new(),
            total_generation: 1,
            runs: 0,
            last_run: None,
            with_filters: Vec::new(),
        }
    }

    pub fn config(&self) -> &AllocatorConfig {
        &self.config
    }

    // ----- roles -------------------------------------------------------------------------

    fn role_index(&self, name: &str) -> Option<usize> {
        self.role_sorter.id(name).map(|c| c.0)
    }

    fn ensure_role(&mut self, name: &str) -> usize {
        if let Some(i) = self.role_index(name) {
            return i;
        }
        let id = self.role_sorter.add_client(name);
        let weight = self.config.role_weights.get(name).copied().unwrap_or(1.0);
        self.role_sorter.set_weight(id, weight);
        self.role_sorter.deactivate(id);
        if self.roles.len() <= id.0 {
            self.roles.resize_with(id.0 + 1, || None);
        }
        self.roles[id.0] = Some(Role {
            name: Arc::from(name),
            sorter: DrfSorter::new(),
            members: Vec::new(),
            total_generation: 0,
        });
        id.0
    }

    /// Sets a role's weight (also for roles created later).
    pub fn set_role_weight(&mut self, role: &str, weight: f64) {
        self.config.role_weights.insert(role.to_string(), weight);
        if let Some(i) = self.role_index(role) {
            self.role_sorter.set_weight(ClientId(i), weight);
        }
    }

    /// Activates the role in the role sorter iff one of its frameworks may be offered;
    /// forgets it when it has neither frameworks nor allocations.
    fn sync_role(&mut self, role: usize) {
        let Some(r) = self.roles.get(role).and_then(Option::as_ref) else {
            return;
        };
        if r.sorter.is_empty() {
            self.role_sorter.remove_client(ClientId(role));
            self.roles[role] = None;
            return;
        }
        if r.sorter.has_active() {
            self.role_sorter.activate(ClientId(role));
        } else {
            self.role_sorter.deactivate(ClientId(role));
        }
    }

    // ----- frameworks --------------------------------------------------------------------

    fn framework(&self, id: &str) -> Option<(usize, &Framework)> {
        let &i = self.framework_index.get(id)?;
        self.frameworks[i].as_ref().map(|f| (i, f))
    }

    fn new_framework(&mut self, id: &str) -> usize {
        let id: Arc<str> = Arc::from(id);
        let fw = Framework {
            id: id.clone(),
            registered: false,
            active: false,
            roles: Vec::new(),
            suppressed: BTreeSet::new(),
            filters: FnvMap::default(),
            clients: Vec::new(),
            last_run: LastRun::default(),
            held: Vec::new(),
            added_at_run: self.runs,
        };
        let i = match self.free_frameworks.pop() {
            Some(i) => {
                self.frameworks[i] = Some(fw);
                i
            }
            None => {
                self.frameworks.push(Some(fw));
                self.frameworks.len() - 1
            }
        };
        self.framework_index.insert(id, i);
        i
    }

    /// Adds (or re-adds, updating roles) a framework subscribed to `roles`.
    pub fn add_framework(
        &mut self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
        active: bool,
    ) {
        let i = match self.framework(framework_id) {
            Some((i, _)) => i,
            None => self.new_framework(framework_id),
        };
        if let Some(fw) = self.frameworks[i].as_mut() {
            if !fw.registered {
                fw.added_at_run = self.runs;
            }
            fw.registered = true;
            fw.active = active;
        }
        tracing::debug!(
            framework = framework_id,
            ?roles,
            active,
            "allocator: framework added"
        );
        self.set_roles(i, roles, suppressed_roles);
    }

    /// Changes a framework's roles and suppressed roles (UPDATE_FRAMEWORK).
    pub fn update_framework(
        &mut self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
    ) {
        if let Some((i, _)) = self.framework(framework_id) {
            self.set_roles(i, roles, suppressed_roles);
        }
    }

    fn set_roles(&mut self, fw: usize, roles: &[String], suppressed: &[String]) {
        let Some(f) = self.frameworks[fw].as_mut() else {
            return;
        };
        let mut new_roles: Vec<Arc<str>> = Vec::new();
        for r in roles {
            if !new_roles.iter().any(|x| **x == **r) {
                new_roles.push(Arc::from(r.as_str()));
            }
        }
        f.roles = new_roles.clone();
        f.suppressed = suppressed
            .iter()
            .filter(|s| roles.contains(s))
            .map(|s| Arc::from(s.as_str()))
            .collect();
        let mut touched: Vec<usize> = f.clients.iter().map(|(r, _)| *r).collect();
        for r in &new_roles {
            let ri = self.ensure_role(r);
            if !touched.contains(&ri) {
                touched.push(ri);
            }
        }
        for ri in touched {
            self.sync_framework_role(fw, ri);
        }
    }

    /// Makes framework `fw`'s client in role `ri` match its state: present and active iff
    /// subscribed, active and not suppressed; kept (inactive) while it holds resources there.
    fn sync_framework_role(&mut self, fw: usize, ri: usize) {
        self.sync_framework_role_keeping(fw, ri, false);
    }

    /// Like `sync_framework_role`; with `keep`, the client exists afterwards even if the
    /// framework neither subscribes to the role nor holds anything in it yet.
    fn sync_framework_role_keeping(&mut self, fw: usize, ri: usize, keep: bool) {
        let Some(f) = self.frameworks[fw].as_ref() else {
            return;
        };
        let Some(role) = self.roles.get(ri).and_then(Option::as_ref) else {
            return;
        };
        let subscribed = f.roles.contains(&role.name);
        let offerable =
            subscribed && f.active && f.registered && !f.suppressed.contains(&role.name);
        let holds = keep || f.held.iter().any(|(r, n)| *r == ri && *n > 0);
        let client = f.client_in(ri);
        let fw_id = f.id.clone();
        let role = self.roles[ri].as_mut().expect("role checked above");
        match client {
            None if subscribed || holds => {
                let c = role.sorter.add_client(&fw_id);
                if role.members.len() <= c.0 {
                    role.members.resize(c.0 + 1, None);
                }
                role.members[c.0] = Some(fw);
                if !offerable {
                    role.sorter.deactivate(c);
                }
                if let Some(f) = self.frameworks[fw].as_mut() {
                    f.clients.push((ri, c));
                }
            }
            None => {}
            Some(c) if !subscribed && !holds => {
                role.sorter.remove_client(c);
                role.members[c.0] = None;
                if let Some(f) = self.frameworks[fw].as_mut() {
                    f.clients.retain(|(r, _)| *r != ri);
                }
            }
            Some(c) => {
                if offerable {
                    role.sorter.activate(c);
                } else {
                    role.sorter.deactivate(c);
                }
            }
        }
        self.sync_role(ri);
    }

    fn sync_framework(&mut self, fw: usize) {
        let Some(f) = self.frameworks[fw].as_ref() else {
            return;
        };
        let roles: Vec<usize> = f.clients.iter().map(|(r, _)| *r).collect();
        for ri in roles {
            self.sync_framework_role(fw, ri);
        }
    }

    /// Forgets a framework; whatever it still holds goes back to the agents.
    pub fn remove_framework(&mut self, framework_id: &str) {
        let Some((fw, _)) = self.framework(framework_id) else {
            return;
        };
        for a in 0..self.agents.len() {
            let held: Vec<(usize, Resources)> = self.agents[a]
                .allocations
                .iter()
                .filter(|(x, _, _)| *x == fw)
                .map(|(_, r, res)| (*r, res.clone()))
                .collect();
            for (ri, res) in held {
                self.release(a, fw, ri, &res);
            }
        }
        if let Some(f) = self.frameworks[fw].take() {
            for (ri, c) in f.clients {
                if let Some(role) = self.roles.get_mut(ri).and_then(Option::as_mut) {
                    role.sorter.remove_client(c);
                    if let Some(m) = role.members.get_mut(c.0) {
                        *m = None;
                    }
                }
                self.sync_role(ri);
            }
            self.framework_index.remove(&f.id);
            self.free_frameworks.push(fw);
        }
        tracing::debug!(framework = framework_id, "allocator: framework removed");
    }

    pub fn activate_framework(&mut self, framework_id: &str) {
        self.set_active(framework_id, true);
    }

    pub fn deactivate_framework(&mut self, framework_id: &str) {
        self.set_active(framework_id, false);
    }

    fn set_active(&mut self, framework_id: &str, active: bool) {
        let Some((fw, _)) = self.framework(framework_id) else {
            return;
        };
        if let Some(f) = self.frameworks[fw].as_mut() {
            f.active = active;
        }
        self.sync_framework(fw);
    }

    /// Stops offers to the framework in `roles` (all its roles if empty).
    pub fn suppress(&mut self, framework_id: &str, roles: &[String]) {
        let Some((fw, _)) = self.framework(framework_id) else {
            return;
        };
        if let Some(f) = self.frameworks[fw].as_mut() {
            let targets: Vec<Arc<str>> = if roles.is_empty() {
                f.roles.clone()
            } else {
                f.roles
                    .iter()
                    .filter(|r| roles.iter().any(|x| **x == ***r))
                    .cloned()
                    .collect()
            };
            f.suppressed.extend(targets);
        }
        self.sync_framework(fw);
    }

    /// Resumes offers in `roles` (all its roles if empty) and clears their refuse filters.
    pub fn revive(&mut self, framework_id: &str, roles: &[String]) {
        let Some((fw, _)) = self.framework(framework_id) else {
            return;
        };
        if let Some(f) = self.frameworks[fw].as_mut() {
            let hit = |r: &str| roles.is_empty() || roles.iter().any(|x| x == r);
            f.suppressed.retain(|r| !hit(r));
            for fs in f.filters.values_mut() {
                fs.retain(|flt| !hit(&flt.role));
            }
            f.filters.retain(|_, fs| !fs.is_empty());
        }
        self.sync_framework(fw);
    }

    // ----- agents ------------------------------------------------------------------------

    fn bump_total(&mut self) {
        self.total_generation += 1;
        self.role_sorter.set_total(self.total.clone());
    }

    /// Adds an agent with its total resources and what frameworks already use there.
    pub fn add_agent(&mut self, agent_id: &str, total: Resources, used: &[(String, Resources)]) {
        if self.agent_index.contains_key(agent_id) {
            self.remove_agent(agent_id);
        }
        let id: Arc<str> = Arc::from(agent_id);
        add_quantities(&mut self.total, &total.quantities());
        self.bump_total();
        let a = self.agents.len();
        self.agents.push(Agent {
            id: id.clone(),
            available: total.clone(),
            total,
            active: true,
            allocations: Vec::new(),
        });
        self.agent_index.insert(id, a);
        for (framework_id, resources) in used {
            let fw = match self.framework(framework_id) {
                Some((i, _)) => i,
                None => self.new_framework(framework_id),
            };
            let ri = self.role_for_used(fw, resources);
            self.sync_framework_role_keeping(fw, ri, true);
            let granted = self.agents[a].available.intersection(resources);
            self.charge(a, fw, ri, &granted);
            self.sync_framework_role(fw, ri);
        }
        tracing::debug!(agent = agent_id, "allocator: agent added");
    }

    /// The role to charge for used resources: the framework's role holding their
    /// reservation, else its first role, else `*`.
    fn role_for_used(&mut self, fw: usize, used: &Resources) -> usize {
        let roles = self.frameworks[fw]
            .as_ref()
            .map(|f| f.roles.clone())
            .unwrap_or_default();
        let reserved = used.reservation_roles();
        let name = roles
            .iter()
            .find(|r| reserved.iter().any(|x| x == &***r))
            .or(roles.first())
            .map(|r| r.to_string())
            .unwrap_or_else(|| "*".to_string());
        self.ensure_role(&name)
    }

    /// Removes an agent and every allocation on it.
    pub fn remove_agent(&mut self, agent_id: &str) {
        let Some(&a) = self.agent_index.get(agent_id) else {
            return;
        };
        let held: Vec<(usize, usize, Resources)> = self.agents[a].allocations.clone();
        for (fw, ri, res) in held {
            self.release(a, fw, ri, &res);
        }
        let agent = self.agents.swap_remove(a);
        self.agent_index.remove(&agent.id);
        if let Some(moved) = self.agents.get(a) {
            self.agent_index.insert(moved.id.clone(), a);
        }
        sub_quantities(&mut self.total, &agent.total.quantities());
        self.bump_total();
        for f in self.frameworks.iter_mut().flatten() {
            f.filters.remove(&agent.id);
        }
        tracing::debug!(agent = agent_id, "allocator: agent removed");
    }

    /// Changes an agent's total resources; allocations stay, availability follows.
    pub fn update_agent(&mut self, agent_id: &str, total: Resources) {
        let Some(&a) = self.agent_index.get(agent_id) else {
            return;
        };
        let agent = &mut self.agents[a];
        sub_quantities(&mut self.total, &agent.total.quantities());
        add_quantities(&mut self.total, &total.quantities());
        let mut available = total.clone();
        for (_, _, res) in &agent.allocations {
            available.subtract(res);
        }
        agent.available = available;
        agent.total = total;
        self.bump_total();
    }

    pub fn activate_agent(&mut self, agent_id: &str) {
        if let Some(&a) = self.agent_index.get(agent_id) {
            self.agents[a].active = true;
        }
    }

    /// A deactivated agent keeps its allocations but is offered to nobody.
    pub fn deactivate_agent(&mut self, agent_id: &str) {
        if let Some(&a) = self.agent_index.get(agent_id) {
            self.agents[a].active = false;
        }
    }

    /// What the agent has not allocated.
    pub fn available(&self, agent_id: &str) -> Option<&Resources> {
        self.agent_index
            .get(agent_id)
            .map(|&a| &self.agents[a].available)
    }

    // ----- allocation bookkeeping -------------------------------------------------------

    /// Records that `res` of agent `a` went to framework `fw` in role `ri`.
    fn charge(&mut self, a: usize, fw: usize, ri: usize, res: &Resources) {
        if res.is_empty() {
            return;
        }
        let agent = &mut self.agents[a];
        agent.available.subtract(res);
        match agent
            .allocations
            .iter_mut()
            .find(|(x, r, _)| *x == fw && *r == ri)
        {
            Some((_, _, held)) => held.add(res),
            None => {
                agent.allocations.push((fw, ri, res.clone()));
                if let Some(f) = self.frameworks[fw].as_mut() {
                    match f.held.iter_mut().find(|(r, _)| *r == ri) {
                        Some((_, n)) => *n += 1,
                        None => f.held.push((ri, 1)),
                    }
                }
            }
        }
        let q = res.quantities();
        let agent_id = agent.id.clone();
        self.role_sorter
            .allocated_quantities(ClientId(ri), &agent_id, &q);
        let client = self.frameworks[fw].as_ref().and_then(|f| f.client_in(ri));
        if let (Some(c), Some(role)) = (client, self.roles.get_mut(ri).and_then(Option::as_mut)) {
            role.sorter.allocated_quantities(c, &agent_id, &q);
        }
    }

    /// Gives back `res` (already known to be held by `fw` in `ri` on agent `a`).
    fn release(&mut self, a: usize, fw: usize, ri: usize, res: &Resources) {
        let agent = &mut self.agents[a];
        let Some(pos) = agent
            .allocations
            .iter()
            .position(|(x, r, _)| *x == fw && *r == ri)
        else {
            return;
        };
        agent.allocations[pos].2.subtract(res);
        if agent.allocations[pos].2.is_empty() {
            agent.allocations.swap_remove(pos);
            if let Some(f) = self.frameworks[fw].as_mut() {
                if let Some((_, n)) = f.held.iter_mut().find(|(r, _)| *r == ri) {
                    *n = n.saturating_sub(1);
                }
                f.held.retain(|(_, n)| *n > 0);
            }
        }
        let agent = &mut self.agents[a];
        agent.available.add(res);
        let q = res.quantities();
        let agent_id = agent.id.clone();
        self.role_sorter
            .unallocated_quantities(ClientId(ri), &agent_id, &q);
        let client = self.frameworks[fw].as_ref().and_then(|f| f.client_in(ri));
        if let (Some(c), Some(role)) = (client, self.roles.get_mut(ri).and_then(Option::as_mut)) {
            role.sorter.unallocated_quantities(c, &agent_id, &q);
        }
        self.sync_framework_role(fw, ri);
    }

    /// Resources come back from a framework (declined, rescinded, task finished). With
    /// `refuse` (non-zero), the framework is not offered them on this agent again before
    /// `now + refuse`.
    pub fn recover(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        let (Some((fw, _)), Some(&a)) =
            (self.framework(framework_id), self.agent_index.get(agent_id))
        else {
            return;
        };
        let mut remaining = resources.clone();
        let held: Vec<(usize, Resources)> = self.agents[a]
            .allocations
            .iter()
            .filter(|(x, _, _)| *x == fw)
            .map(|(_, r, res)| (*r, res.clone()))
            .collect();
        let mut roles = Vec::new();
        for (ri, res) in held {
            let back = res.intersection(&remaining);
            if back.is_empty() {
                continue;
            }
            remaining.subtract(&back);
            self.release(a, fw, ri, &back);
            roles.push(ri);
        }
        let Some(refuse) = refuse.filter(|d| !d.is_zero()) else {
            return;
        };
        let agent = self.agents[a].id.clone();
        let role_names: Vec<Arc<str>> = roles
            .iter()
            .filter_map(|&ri| self.roles.get(ri).and_then(Option::as_ref))
            .map(|r| r.name.clone())
            .collect();
        if let Some(f) = self.frameworks[fw].as_mut() {
            let until = now + refuse;
            let filters = f.filters.entry(agent).or_default();
            for role in role_names {
                filters.push(Filter {
                    role,
                    resources: resources.clone(),
                    until,
                });
            }
        }
    }
}

fn add_quantities(into: &mut Quantities, q: &Quantities) {
    for (name, v) in q {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some((_, x)) => x.0 = x.0.saturating_add(v.0),
            None => into.push((name.clone(), *v)),
        }
    }
}

fn sub_quantities(from: &mut Quantities, q: &Quantities) {
    for (name, v) in q {
        if let Some((_, x)) = from.iter_mut().find(|(n, _)| n == name) {
            x.0 = (x.0 - v.0).max(0);
        }
    }
    from.retain(|(_, v)| v.0 > 0);
}

#[cfg(test)]
mod tests;
