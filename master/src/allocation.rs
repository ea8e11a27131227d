//! The allocator as the master sees it.
//!
//! The master tells the allocator about frameworks, agents and returned resources; the
//! allocator answers, in batches, with [`Allocation`]s that the master turns into offers.
//! The allocator is the hierarchical DRF allocator process of `mesos-allocator` (batch runs
//! every `allocation_interval` plus event-driven runs); its decisions come back to the master
//! as a dispatch, so the master's mailbox orders them with everything else, and a stale
//! decision (framework or agent gone meanwhile) is simply handed back.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libprocess::Runtime;
use mesos_allocator::process::AllocatorHandle;
use mesos_allocator::{AllocatorConfig, AllocatorProcess, Explanation, Resources};
use mesos_proto::mesos::Resource;

use crate::flags::Flags;
use crate::master::Master;

/// Resources allocated to a framework (for one of its roles) on one agent.
#[derive(Debug, Clone)]
pub struct Allocation {
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Vec<Resource>,
}

/// What the master asks of an allocator.
pub trait AllocatorApi: Send {
    fn add_framework(
        &mut self,
        framework: &str,
        roles: &[String],
        suppressed_roles: &[String],
        active: bool,
    );
    /// New roles and suppressed roles of a subscribed framework.
    fn update_framework(&mut self, framework: &str, roles: &[String], suppressed_roles: &[String]);
    fn remove_framework(&mut self, framework: &str);
    fn activate_framework(&mut self, framework: &str);
    fn deactivate_framework(&mut self, framework: &str);
    fn add_agent(&mut self, agent: &str, total: &[Resource], used: &[(String, Vec<Resource>)]);
    /// An agent's new total resources (e.g. reported on re-registration).
    fn update_agent(&mut self, agent: &str, total: &[Resource]);
    fn remove_agent(&mut self, agent: &str);
    fn activate_agent(&mut self, agent: &str);
    fn deactivate_agent(&mut self, agent: &str);
    /// Resources coming back (declined, unused, freed); `refuse` filters them from this
    /// framework for that long.
    fn recover(
        &mut self,
        framework: &str,
        agent: &str,
        resources: &[Resource],
        refuse: Option<Duration>,
    );
    fn suppress(&mut self, framework: &str, roles: &[String]);
    fn revive(&mut self, framework: &str, roles: &[String]);
    /// Why each of `frameworks` received offers or none in the last allocation run (the
    /// allocator's explain hook), answered off the master's mailbox.
    fn explain(&self, frameworks: Vec<String>) -> ExplainFuture;
}

/// The allocator's answer to [`AllocatorApi::explain`], in the order asked.
pub type ExplainFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<Explanation>, libprocess::Error>> + Send>,
>;

/// The master's allocator.
pub type Allocator = Box<dyn AllocatorApi>;

/// Role weights from `--weights=role1=2,role2=0.5`.
pub fn parse_weights(text: &str) -> Result<HashMap<String, f64>, String> {
    let mut out = HashMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (role, weight) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not role=weight"))?;
        let weight: f64 = weight
            .trim()
            .parse()
            .map_err(|_| format!("'{weight}' is not a number"))?;
        if !weight.is_finite() || weight <= 0.0 {
            return Err(format!("weight of '{role}' must be positive"));
        }
        out.insert(role.trim().to_string(), weight);
    }
    Ok(out)
}

fn config(flags: &Flags) -> AllocatorConfig {
    let mut config = AllocatorConfig {
        allocation_interval: flags.allocation_interval.0,
        ..Default::default()
    };
    if let Some(w) = &flags.weights {
        match parse_weights(w) {
            Ok(weights) => config.role_weights = weights,
            Err(error) => tracing::warn!(%error, "ignoring --weights"),
        }
    }
    config
}

/// Where allocations go: the master, once it is spawned.
pub(crate) type MasterCell = Arc<OnceLock<libprocess::Pid<Master>>>;

/// Starts the allocator process; its allocations are dispatched to the master in `master`
/// (set right after the master is spawned; nothing is allocated before the master adds
/// agents and frameworks).
pub(crate) fn spawn(
    runtime: &Runtime,
    flags: &Flags,
    master: MasterCell,
) -> Result<Allocator, libprocess::Error> {
    let deliver: Box<dyn Fn(Vec<mesos_allocator::Allocation>) + Send> = Box::new(move |batch| {
        let Some(master) = master.get() else {
            tracing::warn!("allocations before the master started; dropped");
            return;
        };
        let allocations: Vec<Allocation> = batch
            .into_iter()
            .map(|a| Allocation {
                framework_id: a.framework_id,
                agent_id: a.agent_id,
                resources: a.resources.to_protos_allocated(&a.role),
                role: a.role,
            })
            .collect();
        master.dispatch("offer", move |m, ctx| m.offer(ctx, allocations));
    });
    let id = runtime.generate_id("hierarchical-allocator");
    let pid = runtime.spawn(id, AllocatorProcess::new(config(flags), deliver))?;
    Ok(Box::new(ProcessAllocator(AllocatorHandle::new(pid))))
}

/// The `mesos-allocator` hierarchical DRF allocator process, reached by dispatch.
struct ProcessAllocator(AllocatorHandle);

fn res(r: &[Resource]) -> Resources {
    Resources::from_protos_lossy(r)
}

impl AllocatorApi for ProcessAllocator {
    fn add_framework(
        &mut self,
        framework: &str,
        roles: &[String],
        suppressed_roles: &[String],
        active: bool,
    ) {
        self.0
            .add_framework(framework, roles, suppressed_roles, active);
    }
    fn update_framework(&mut self, framework: &str, roles: &[String], suppressed_roles: &[String]) {
        self.0.update_framework(framework, roles, suppressed_roles);
    }
    fn remove_framework(&mut self, framework: &str) {
        self.0.remove_framework(framework);
    }
    fn activate_framework(&mut self, framework: &str) {
        self.0.activate_framework(framework);
    }
    fn deactivate_framework(&mut self, framework: &str) {
        self.0.deactivate_framework(framework);
    }
    fn add_agent(&mut self, agent: &str, total: &[Resource], used: &[(String, Vec<Resource>)]) {
        let used = used.iter().map(|(f, r)| (f.clone(), res(r))).collect();
        self.0.add_agent(agent, res(total), used);
    }
    fn update_agent(&mut self, agent: &str, total: &[Resource]) {
        self.0.update_agent(agent, res(total));
    }
    fn remove_agent(&mut self, agent: &str) {
        self.0.remove_agent(agent);
    }
    fn activate_agent(&mut self, agent: &str) {
        self.0.activate_agent(agent);
    }
    fn deactivate_agent(&mut self, agent: &str) {
        self.0.deactivate_agent(agent);
    }
    fn recover(
        &mut self,
        framework: &str,
        agent: &str,
        resources: &[Resource],
        refuse: Option<Duration>,
    ) {
        self.0.recover(framework, agent, res(resources), refuse);
    }
    fn suppress(&mut self, framework: &str, roles: &[String]) {
        self.0.suppress(framework, roles);
    }
    fn revive(&mut self, framework: &str, roles: &[String]) {
        self.0.revive(framework, roles);
    }
    fn explain(&self, frameworks: Vec<String>) -> ExplainFuture {
        let pid = self.0.pid().clone();
        Box::pin(async move {
            pid.call("allocator::explain", move |me, _| {
                frameworks.iter().map(|id| me.explain(id)).collect()
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_weights;

    #[test]
    fn weights_parse_as_role_equals_positive_number() {
        let w = parse_weights("a=2, b=0.5").unwrap();
        assert_eq!(w["a"], 2.0);
        assert_eq!(w["b"], 0.5);
        assert!(parse_weights("a").is_err());
        assert!(parse_weights("a=-1").is_err());
    }
}
