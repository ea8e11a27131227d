//! One allocation run (DRF order, filters, grants) and what it explains afterwards:
//! why a framework did or did not get offers.

use super::*;

/// Why a framework did or did not get offers in the last allocation run.
#[derive(Clone, Debug, PartialEq)]
pub enum Explanation {
    /// No such framework.
    UnknownFramework,
    /// No allocation run has happened since the framework was added.
    NotYetAllocated,
    /// It was offered resources of these agents (at most a few named) last run.
    Allocated { agents: Vec<String>, count: usize },
    /// The framework is deactivated (disconnected or failing over).
    Inactive,
    /// It subscribes to no role.
    NoRoles,
    /// It suppressed offers in every one of its roles.
    Suppressed { roles: Vec<String> },
    /// Its refuse filters excluded these agents (at most a few named), and any other agent
    /// went to frameworks ahead of it.
    Filtered { agents: Vec<String>, count: usize },
    /// No agent had allocatable resources for its roles.
    NoAllocatableResources,
    /// Every agent with allocatable resources went to frameworks or roles with a lower
    /// dominant share.
    BelowOthersInDrfOrder { granted_to_others: usize },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::UnknownFramework => write!(f, "unknown framework"),
            Explanation::NotYetAllocated => write!(f, "no allocation run since the framework was added"),
            Explanation::Allocated { agents, count } => {
                write!(f, "offered resources of {count} agent(s): {}", agents.join(", "))
            }
            Explanation::Inactive => write!(f, "framework is inactive"),
            Explanation::NoRoles => write!(f, "framework subscribes to no role"),
            Explanation::Suppressed { roles } => write!(f, "offers suppressed for roles {}", roles.join(", ")),
            Explanation::Filtered { agents, count } => {
                write!(f, "refuse filters excluded {count} agent(s): {}", agents.join(", "))
            }
            Explanation::NoAllocatableResources => write!(f, "no agent had allocatable resources"),
            Explanation::BelowOthersInDrfOrder { granted_to_others } => write!(
                f,
                "below others in DRF order: {granted_to_others} agent(s) went to lower dominant shares"
            ),
        }
    }
}

impl HierarchicalAllocator {
    // ----- allocation --------------------------------------------------------------------

    /// One allocation run over every agent (or only `only_agents`): each agent's available
    /// resources are offered whole to the first eligible framework in DRF order.
    pub fn allocate(&mut self, now: Instant, only_agents: Option<&[String]>) -> Vec<Allocation> {
        self.runs += 1;
        let mut summary = RunSummary::default();
        self.with_filters.clear();
        for (i, slot) in self.frameworks.iter_mut().enumerate() {
            let Some(f) = slot else { continue };
            f.last_run = LastRun::default();
            if !f.filters.is_empty() {
                for fs in f.filters.values_mut() {
                    fs.retain(|flt| flt.until > now);
                }
                f.filters.retain(|_, fs| !fs.is_empty());
                if !f.filters.is_empty() {
                    self.with_filters.push(i);
                }
            }
        }
        for role in self.roles.iter_mut().flatten() {
            if role.total_generation != self.total_generation {
                role.sorter.set_total(self.total.clone());
                role.total_generation = self.total_generation;
            }
        }
        let agents: Vec<usize> = match only_agents {
            Some(ids) => {
                let mut v: Vec<usize> = ids
                    .iter()
                    .filter_map(|id| self.agent_index.get(id.as_str()).copied())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => (0..self.agents.len()).collect(),
        };
        let mut out = Vec::new();
        for a in agents {
            self.allocate_agent(a, now, &mut summary, &mut out);
        }
        summary.allocations = out.len();
        self.last_run = Some(summary);
        out
    }

    fn allocate_agent(
        &mut self,
        a: usize,
        now: Instant,
        summary: &mut RunSummary,
        out: &mut Vec<Allocation>,
    ) {
        let (min_cpus, min_mem) = (
            self.config.min_allocatable_cpus,
            self.config.min_allocatable_mem,
        );
        let agent = &self.agents[a];
        if !agent.active || !agent.available.allocatable(min_cpus, min_mem) {
            return;
        }
        summary.allocatable_agents += 1;
        let agent_id = agent.id.clone();
        let reserved = agent.available.iter().any(|e| !e.is_unreserved());

        // Unreserved resources (with the chosen role's reservations) go to the first
        // eligible framework of the first role in DRF order that has one.
        // (framework, role, the offer if it is not the whole availability)
        let mut choice: Option<(usize, usize, Option<Resources>)> = None;
        {
            let available = &self.agents[a].available;
            let frameworks = &self.frameworks;
            let roles = &mut self.roles;
            self.role_sorter.first_where(|rid| {
                let Some(role) = roles.get_mut(rid.0).and_then(Option::as_mut) else {
                    return false;
                };
                // Without reservations the offer is the whole availability: borrow it.
                let owned;
                let offer = if reserved {
                    owned = available.allocatable_to(&role.name);
                    if !owned.allocatable(min_cpus, min_mem) {
                        return false;
                    }
                    &owned
                } else {
                    available
                };
                let members = &role.members;
                let name = &role.name;
                let picked = role.sorter.first_where(|c| {
                    let Some(fw) = members.get(c.0).copied().flatten() else {
                        return false;
                    };
                    let Some(f) = frameworks[fw].as_ref() else {
                        return false;
                    };
                    !f.is_filtered(&agent_id, name, offer, now)
                });
                match picked.and_then(|c| members.get(c.0).copied().flatten()) {
                    Some(fw) => {
                        choice = Some((fw, rid.0, reserved.then(|| offer.clone())));
                        true
                    }
                    None => false,
                }
            });
        }
        if !reserved && choice.is_none() {
            self.note_filtered(a, now, None);
            return;
        }
        let mut granted_role = None;
        if let Some((fw, ri, offer)) = choice {
            granted_role = Some(ri);
            let offer = offer.unwrap_or_else(|| self.agents[a].available.take());
            self.grant(a, fw, ri, offer, out);
        }
        if reserved {
            // Reservations of other roles go to those roles' frameworks.
            for name in self.agents[a].available.reservation_roles() {
                let Some(ri) = self.role_index(&name) else {
                    continue;
                };
                if Some(ri) == granted_role {
                    continue;
                }
                let offer = self.agents[a].available.reserved_to(&name);
                if !offer.allocatable(min_cpus, min_mem) {
                    continue;
                }
                let frameworks = &self.frameworks;
                let Some(role) = self.roles.get_mut(ri).and_then(Option::as_mut) else {
                    continue;
                };
                let members = &role.members;
                let role_name = &role.name;
                let picked = role.sorter.first_where(|c| {
                    members
                        .get(c.0)
                        .copied()
                        .flatten()
                        .and_then(|fw| frameworks[fw].as_ref())
                        .is_some_and(|f| !f.is_filtered(&agent_id, role_name, &offer, now))
                });
                if let Some(fw) = picked.and_then(|c| members.get(c.0).copied().flatten()) {
                    self.grant(a, fw, ri, offer, out);
                }
            }
            self.note_filtered(a, now, granted_role);
        }
    }

    /// Records, for [`Explanation`], which eligible frameworks a filter kept off agent `a`.
    fn note_filtered(&mut self, a: usize, now: Instant, _granted_role: Option<usize>) {
        if self.with_filters.is_empty() {
            return;
        }
        let agent_id = self.agents[a].id.clone();
        for &i in &self.with_filters {
            let Some(f) = self.frameworks[i].as_mut() else {
                continue;
            };
            if f.filters
                .get(&agent_id)
                .is_some_and(|fs| fs.iter().any(|flt| flt.until > now))
            {
                f.last_run.filtered += 1;
                if f.last_run.filtered_agents.len() < EXPLAIN_AGENTS {
                    f.last_run.filtered_agents.push(agent_id.clone());
                }
            }
        }
    }

    fn grant(
        &mut self,
        a: usize,
        fw: usize,
        ri: usize,
        offer: Resources,
        out: &mut Vec<Allocation>,
    ) {
        self.charge(a, fw, ri, &offer);
        let agent_id = self.agents[a].id.clone();
        let role = self.roles[ri]
            .as_ref()
            .map(|r| r.name.to_string())
            .unwrap_or_default();
        let Some(f) = self.frameworks[fw].as_mut() else {
            return;
        };
        f.last_run.offered += 1;
        if f.last_run.offered_agents.len() < EXPLAIN_AGENTS {
            f.last_run.offered_agents.push(agent_id.clone());
        }
        out.push(Allocation {
            framework_id: f.id.to_string(),
            agent_id: agent_id.to_string(),
            role,
            resources: offer,
        });
    }

    /// Why the framework got (or did not get) offers in the last allocation run.
    pub fn explain(&self, framework_id: &str) -> Explanation {
        let Some((_, f)) = self.framework(framework_id).filter(|(_, f)| f.registered) else {
            return Explanation::UnknownFramework;
        };
        let Some(run) = self
            .last_run
            .as_ref()
            .filter(|_| self.runs > f.added_at_run)
        else {
            return Explanation::NotYetAllocated;
        };
        let names = |v: &[Arc<str>]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        if f.last_run.offered > 0 {
            return Explanation::Allocated {
                agents: names(&f.last_run.offered_agents),
                count: f.last_run.offered,
            };
        }
        if !f.active {
            return Explanation::Inactive;
        }
        if f.roles.is_empty() {
            return Explanation::NoRoles;
        }
        if f.roles.iter().all(|r| f.suppressed.contains(r)) {
            return Explanation::Suppressed {
                roles: names(&f.roles),
            };
        }
        if f.last_run.filtered > 0 {
            return Explanation::Filtered {
                agents: names(&f.last_run.filtered_agents),
                count: f.last_run.filtered,
            };
        }
        if run.allocatable_agents == 0 {
            return Explanation::NoAllocatableResources;
        }
        Explanation::BelowOthersInDrfOrder {
            granted_to_others: run.allocations,
        }
    }

    /// Dominant share of a role (unweighted), for tests and `/roles`.
    pub fn role_share(&self, role: &str) -> f64 {
        self.role_sorter
            .id(role)
            .map(|c| self.role_sorter.dominant_share(c))
            .unwrap_or(0.0)
    }

    /// What the framework holds on each agent, by role.
    pub fn allocations_of(&self, framework_id: &str) -> Vec<(String, String, Resources)> {
        let Some((fw, _)) = self.framework(framework_id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for agent in &self.agents {
            for (x, ri, res) in &agent.allocations {
                if *x == fw {
                    let role = self
                        .roles
                        .get(*ri)
                        .and_then(Option::as_ref)
                        .map(|r| r.name.to_string());
                    out.push((agent.id.to_string(), role.unwrap_or_default(), res.clone()));
                }
            }
        }
        out
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }
}
