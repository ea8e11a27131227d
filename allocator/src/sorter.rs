//! Dominant Resource Fairness: orders clients (roles, or frameworks within a role) by their
//! weighted dominant share, so the allocator offers to the least served first.
//!
//! A client's dominant share is the largest fraction it holds of any scalar resource of the
//! cluster total (Ghodsi et al., NSDI 2011), divided by its weight. Ties are broken by name so
//! the order is deterministic. The order lives in a balanced tree updated incrementally when one
//! client's allocation changes (O(log n)), and is rebuilt lazily only when the cluster total
//! changes; this keeps an allocation cycle over tens of thousands of agents cheap.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::resources::{Quantities, Resources};

/// Handle of a client inside one sorter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq)]
struct Share(f64);
impl Eq for Share {}
impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

type Key = (Share, Arc<str>, usize);

/// FNV-1a: agent ids are short and trusted, and SipHash dominated allocation cycles.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A map keyed by short strings, hashed with [`Fnv`].
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[derive(Debug)]
struct Client {
    name: Arc<str>,
    weight: f64,
    active: bool,
    /// Scalar totals over every agent.
    allocated: Quantities,
    /// Scalar allocation per agent.
    per_agent: FnvMap<Arc<str>, Quantities>,
    /// Weighted dominant share as of the last (re)computation; the key in `order`.
    share: f64,
}

/// A DRF sorter over named clients.
#[derive(Debug, Default)]
pub struct DrfSorter {
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    by_name: HashMap<Arc<str>, usize>,
    total: Quantities,
    /// Active clients by (weighted share, name).
    order: BTreeSet<Key>,
    /// The total changed: every share must be recomputed before the next ordering.
    dirty: bool,
}

fn add_into(into: &mut Quantities, q: &Quantities) {
    for (name, v) in q {
        match into.iter_mut().find(|(n, _)| n == name) {
            Some((_, x)) => x.0 = x.0.saturating_add(v.0),
            None => into.push((name.clone(), *v)),
        }
    }
}

fn sub_from(from: &mut Quantities, q: &Quantities) {
    for (name, v) in q {
        if let Some((_, x)) = from.iter_mut().find(|(n, _)| n == name) {
            x.0 = (x.0 - v.0).max(0);
        }
    }
    from.retain(|(_, v)| v.0 > 0);
}

impl DrfSorter {
    pub fn new() -> DrfSorter {
        DrfSorter::default()
    }

    /// Adds an active client with weight 1 (or returns the existing one).
    pub fn add_client(&mut self, name: &str) -> ClientId {
        if let Some(&i) = self.by_name.get(name) {
            return ClientId(i);
        }
        let name: Arc<str> = Arc::from(name);
        let client = Client {
            name: name.clone(),
            weight: 1.0,
            active: true,
            allocated: Vec::new(),
            per_agent: FnvMap::default(),
            share: 0.0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.clients[i] = Some(client);
                i
            }
            None => {
                self.clients.push(Some(client));
                self.clients.len() - 1
            }
        };
        self.by_name.insert(name.clone(), i);
        self.order.insert((Share(0.0), name, i));
        ClientId(i)
    }

    /// Forgets a client and its allocations.
    pub fn remove_client(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(id.0).and_then(Option::take) {
            self.order.remove(&(Share(c.share), c.name.clone(), id.0));
            self.by_name.remove(&c.name);
            self.free.push(id.0);
        }
    }

    pub fn id(&self, name: &str) -> Option<ClientId> {
        self.by_name.get(name).map(|&i| ClientId(i))
    }

    pub fn name(&self, id: ClientId) -> Option<&str> {
        self.client(id).map(|c| &*c.name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(id.0).and_then(Option::as_ref)
    }

    /// Re-keys one client after its allocation or weight changed.
    fn update(&mut self, id: ClientId, f: impl FnOnce(&mut Client)) {
        let dirty = self.dirty;
        let total = &self.total;
        let Some(c) = self.clients.get_mut(id.0).and_then(Option::as_mut) else {
            return;
        };
        let was_active = c.active;
        if was_active {
            self.order.remove(&(Share(c.share), c.name.clone(), id.0));
        }
        f(c);
        if !dirty {
            c.share = weighted_share(&c.allocated, total, c.weight);
        }
        if c.active {
            self.order.insert((Share(c.share), c.name.clone(), id.0));
        }
    }

    pub fn set_weight(&mut self, id: ClientId, weight: f64) {
        let weight = if weight.is_finite() && weight > 0.0 {
            weight
        } else {
            1.0
        };
        self.update(id, |c| c.weight = weight);
    }

    /// Active clients take part in the order; inactive ones keep their allocation.
    pub fn activate(&mut self, id: ClientId) {
        self.update(id, |c| c.active = true);
    }

    pub fn deactivate(&mut self, id: ClientId) {
        self.update(id, |c| c.active = false);
    }

    pub fn is_active(&self, id: ClientId) -> bool {
        self.client(id).is_some_and(|c| c.active)
    }

    /// The cluster grew (an agent was added).
    pub fn add_total(&mut self, resources: &Resources) {
        add_into(&mut self.total, &resources.quantities());
        self.dirty = true;
    }

    /// The cluster shrank (an agent was removed).
    pub fn remove_total(&mut self, resources: &Resources) {
        sub_from(&mut self.total, &resources.quantities());
        self.dirty = true;
    }

    /// Replaces the cluster total (shared by many sorters; see the hierarchical allocator).
    pub fn set_total(&mut self, total: Quantities) {
        self.total = total;
        self.dirty = true;
    }

    /// True if some client takes part in the order.
    pub fn has_active(&self) -> bool {
        !self.order.is_empty()
    }

    /// Records that `resources` of `agent` went to the client.
    pub fn allocated(&mut self, id: ClientId, agent: &Arc<str>, resources: &Resources) {
        self.allocated_quantities(id, agent, &resources.quantities());
    }

    /// Like [`DrfSorter::allocated`], with the scalar quantities already computed.
    pub fn allocated_quantities(&mut self, id: ClientId, agent: &Arc<str>, q: &Quantities) {
        self.update(id, |c| {
            add_into(&mut c.allocated, q);
            match c.per_agent.get_mut(agent) {
                Some(a) => add_into(a, q),
                None => {
                    c.per_agent.insert(agent.clone(), q.clone());
                }
            }
        });
    }

    /// Records that `resources` of `agent` came back from the client.
    pub fn unallocated(&mut self, id: ClientId, agent: &str, resources: &Resources) {
        self.unallocated_quantities(id, agent, &resources.quantities());
    }

    /// Like [`DrfSorter::unallocated`], with the scalar quantities already computed.
    pub fn unallocated_quantities(&mut self, id: ClientId, agent: &str, q: &Quantities) {
        self.update(id, |c| {
            sub_from(&mut c.allocated, q);
            if let Some(a) = c.per_agent.get_mut(agent) {
                sub_from(a, q);
                if a.is_empty() {
                    c.per_agent.remove(agent);
                }
            }
        });
    }

    /// The client's scalar allocation on one agent.
    pub fn allocation_on(&self, id: ClientId, agent: &str) -> Quantities {
        self.client(id)
            .and_then(|c| c.per_agent.get(agent))
            .cloned()
            .unwrap_or_default()
    }

    /// The client's scalar allocation over the whole cluster.
    pub fn allocation(&self, id: ClientId) -> Quantities {
        self.client(id)
            .map(|c| c.allocated.clone())
            .unwrap_or_default()
    }

    /// True if the client holds nothing anywhere.
    pub fn holds_nothing(&self, id: ClientId) -> bool {
        self.client(id).is_none_or(|c| c.per_agent.is_empty())
    }

    /// The client's (unweighted) dominant share of the current total.
    pub fn dominant_share(&self, id: ClientId) -> f64 {
        self.client(id)
            .map(|c| weighted_share(&c.allocated, &self.total, 1.0))
            .unwrap_or(0.0)
    }

    /// Recomputes every share if the total changed since the last ordering.
    pub fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.order.clear();
        for (i, slot) in self.clients.iter_mut().enumerate() {
            if let Some(c) = slot {
                c.share = weighted_share(&c.allocated, &self.total, c.weight);
                if c.active {
                    self.order.insert((Share(c.share), c.name.clone(), i));
                }
            }
        }
    }

    /// The first active client, in DRF order, for which `eligible` holds.
    pub fn first_where(&mut self, mut eligible: impl FnMut(ClientId) -> bool) -> Option<ClientId> {
        self.refresh();
        self.order
            .iter()
            .map(|(_, _, i)| ClientId(*i))
            .find(|&id| eligible(id))
    }

    /// Active clients in DRF order.
    pub fn sorted(&mut self) -> Vec<ClientId> {
        self.refresh();
        self.order.iter().map(|(_, _, i)| ClientId(*i)).collect()
    }

    /// Names of active clients in DRF order.
    pub fn sorted_names(&mut self) -> Vec<String> {
        self.refresh();
        self.order
            .iter()
            .map(|(_, name, _)| name.to_string())
            .collect()
    }
}

fn weighted_share(allocated: &Quantities, total: &Quantities, weight: f64) -> f64 {
    let mut share = 0.0f64;
    for (name, v) in allocated {
        if let Some((_, t)) = total.iter().find(|(n, _)| n == name) {
            if t.0 > 0 {
                share = share.max(v.0 as f64 / t.0 as f64);
            }
        }
    }
    share / weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Resources {
        Resources::parse(text, "*").unwrap()
    }

    /// The example of the DRF paper: 9 cpus and 18 GB; A runs <1 cpu, 4 GB> tasks and B runs
    /// <3 cpus, 1 GB> tasks. Offering each next task to the client with the lowest dominant
    /// share ends with A holding 3 tasks and B 2, both at a dominant share of 2/3.
    #[test]
    fn drf_paper_example_converges_to_equal_dominant_shares() {
        let mut s = DrfSorter::new();
        s.add_total(&res("cpus:9;mem:18"));
        let a = s.add_client("a");
        let b = s.add_client("b");
        let agent: Arc<str> = Arc::from("agent");
        let (task_a, task_b) = (res("cpus:1;mem:4"), res("cpus:3;mem:1"));
        let mut used = Resources::new();
        let mut tasks = HashMap::new();
        while let Some(next) = s.first_where(|_| true) {
            let task = if next == a { &task_a } else { &task_b };
            let total = res("cpus:9;mem:18");
            if !total.contains(&(&used + task)) {
                break;
            }
            used += task;
            s.allocated(next, &agent, task);
            *tasks.entry(next).or_insert(0) += 1;
        }
        assert_eq!(tasks[&a], 3);
        assert_eq!(tasks[&b], 2);
        assert!((s.dominant_share(a) - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.dominant_share(b) - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn ties_are_broken_by_name_and_lower_shares_come_first() {
        let mut s = DrfSorter::new();
        s.add_total(&res("cpus:10;mem:100"));
        let c = s.add_client("c");
        s.add_client("b");
        s.add_client("a");
        assert_eq!(s.sorted_names(), vec!["a", "b", "c"]);
        s.allocated(s.id("a").unwrap(), &Arc::from("x"), &res("mem:10"));
        assert_eq!(s.sorted_names(), vec!["b", "c", "a"]);
        s.allocated(c, &Arc::from("x"), &res("cpus:5"));
        assert_eq!(s.sorted_names(), vec!["b", "a", "c"]);
    }

    #[test]
    fn weights_divide_the_share() {
        let mut s = DrfSorter::new();
        s.add_total(&res("cpus:10"));
        let heavy = s.add_client("heavy");
        let light = s.add_client("light");
        s.set_weight(heavy, 3.0);
        let agent: Arc<str> = Arc::from("x");
        s.allocated(heavy, &agent, &res("cpus:3"));
        s.allocated(light, &agent, &res("cpus:1.5"));
        // heavy: 0.3 / 3 = 0.1 < light: 0.15.
        assert_eq!(s.sorted_names(), vec!["heavy", "light"]);
        assert!((s.dominant_share(heavy) - 0.3).abs() < 1e-9);
    }

    #[test]
    fn inactive_clients_keep_allocations_but_leave_the_order() {
        let mut s = DrfSorter::new();
        s.add_total(&res("cpus:4"));
        let a = s.add_client("a");
        s.add_client("b");
        let agent: Arc<str> = Arc::from("x");
        s.allocated(a, &agent, &res("cpus:1"));
        s.deactivate(a);
        assert_eq!(s.sorted_names(), vec!["b"]);
        assert_eq!(s.allocation_on(a, "x"), res("cpus:1").quantities());
        s.activate(a);
        assert_eq!(s.sorted_names(), vec!["b", "a"]);
        s.unallocated(a, "x", &res("cpus:1"));
        assert!(s.allocation_on(a, "x").is_empty());
        assert_eq!(s.sorted_names(), vec!["a", "b"]);
    }

    #[test]
    fn a_growing_total_lowers_every_share() {
        let mut s = DrfSorter::new();
        s.add_total(&res("cpus:2;mem:100"));
        let a = s.add_client("a");
        let b = s.add_client("b");
        let agent: Arc<str> = Arc::from("x");
        s.allocated(a, &agent, &res("cpus:1"));
        s.allocated(b, &agent, &res("mem:40"));
        assert_eq!(s.sorted_names(), vec!["b", "a"]);
        // Doubling cpus makes a's share 0.25 < b's 0.4.
        s.add_total(&res("cpus:2"));
        assert_eq!(s.sorted_names(), vec!["a", "b"]);
        s.remove_client(a);
        assert_eq!(s.sorted_names(), vec!["b"]);
        assert_eq!(s.id("a"), None);
    }
}
