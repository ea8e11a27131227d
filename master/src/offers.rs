//! Offers: allocations from the allocator become offers to frameworks; offers are taken
//! back (rescinded) when their agent goes away, their framework stops, or they time out.

use std::collections::BTreeMap;
use std::time::Duration;

use libprocess::{Ctx, TimerId};
use mesos_proto::mesos::{resource, Address, FrameworkId, Offer, OfferId, Resource, SlaveId, Url};

use crate::allocation::Allocation;
use crate::frameworks::ToFramework;
use crate::master::Master;

/// An outstanding offer.
pub struct OfferEntry {
    pub offer: Offer,
    pub role: String,
    pub timer: Option<TimerId>,
}

/// Outstanding offers by id.
#[derive(Default)]
pub struct Offers {
    pub by_id: BTreeMap<String, OfferEntry>,
    next_id: u64,
}

impl Offers {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&OfferEntry> {
        self.by_id.get(id)
    }

    /// Resources offered on an agent (to anyone).
    pub fn offered_on(&self, agent_id: &str) -> Vec<Resource> {
        self.by_id
            .values()
            .filter(|o| o.offer.slave_id.value == agent_id)
            .flat_map(|o| o.offer.resources.iter().cloned())
            .collect()
    }

    /// Resources offered to a framework.
    pub fn offered_to(&self, framework_id: &str) -> Vec<Resource> {
        self.by_id
            .values()
            .filter(|o| o.offer.framework_id.value == framework_id)
            .flat_map(|o| o.offer.resources.iter().cloned())
            .collect()
    }
}

/// Tags resources with the role they are allocated to (`allocation_info.role`).
pub fn allocate_to(resources: &mut [Resource], role: &str) {
    for r in resources {
        if r.allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .is_none()
        {
            r.allocation_info = Some(resource::AllocationInfo {
                role: Some(role.to_string()),
            });
        }
    }
}

/// Where a framework reaches the agent's HTTP API: `http://<ip>:<port>/<agent pid id>`,
/// with the agent's hostname, as every genuine offer says.
pub fn agent_url(hostname: &str, pid: &libprocess::Upid) -> Url {
    Url {
        scheme: "http".into(),
        address: Address {
            hostname: Some(hostname.to_string()),
            ip: Some(pid.ip.to_string()),
            port: i32::from(pid.port),
        },
        path: Some(format!("/{}", pid.id)),
        ..Default::default()
    }
}

/// An offer as a framework without MULTI_ROLE sees it: no `allocation_info`, neither on
/// the offer nor on its resources (such frameworks compare resources whole).
pub fn without_allocation_info(offer: &Offer) -> Offer {
    let mut offer = offer.clone();
    offer.allocation_info = None;
    for r in &mut offer.resources {
        r.allocation_info = None;
    }
    offer
}

impl Master {
    /// The allocator's decisions: make offers, one message per framework.
    pub(crate) fn offer(&mut self, ctx: &mut Ctx<'_, Self>, allocations: Vec<Allocation>) {
        let mut batches: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for allocation in allocations {
            let usable_framework = self
                .frameworks
                .get(&allocation.framework_id)
                .is_some_and(|f| f.active && f.connected);
            let agent = self
                .agents
                .registered
                .get(&allocation.agent_id)
                .filter(|a| a.active);
            let (true, Some(agent)) = (usable_framework, agent) else {
                // Stale: give the resources straight back.
                self.allocator().recover(
                    &allocation.framework_id,
                    &allocation.agent_id,
                    &allocation.resources,
                    None,
                );
                continue;
            };
            use mesos_proto::mesos::framework_info::capability::Type as Cap;
            let (refinement, multi_role) = self
                .frameworks
                .get(&allocation.framework_id)
                .map(|f| {
                    (
                        f.has_capability(Cap::ReservationRefinement),
                        f.has_capability(Cap::MultiRole),
                    )
                })
                .unwrap_or_default();
            // Frameworks without RESERVATION_REFINEMENT get the pre-refinement format.
            let mut resources = if refinement {
                allocation.resources
            } else {
                crate::resources::downgrade(&allocation.resources)
            };
            allocate_to(&mut resources, &allocation.role);
            let id = format!("{}-O{}", self.info.id, self.offers.next_id);
            self.offers.next_id += 1;
            let executor_ids = agent
                .executors
                .get(&allocation.framework_id)
                .map(|e| e.values().map(|x| x.executor_id.clone()).collect())
                .unwrap_or_default();
            let offer = Offer {
                id: OfferId { value: id.clone() },
                framework_id: FrameworkId {
                    value: allocation.framework_id.clone(),
                },
                slave_id: SlaveId {
                    value: agent.id.clone(),
                },
                hostname: agent.info.hostname.clone(),
                url: Some(agent_url(&agent.info.hostname, &agent.pid)),
                resources,
                attributes: agent.info.attributes.clone(),
                executor_ids,
                allocation_info: Some(resource::AllocationInfo {
                    role: Some(allocation.role.clone()),
                }),
                domain: agent.info.domain.clone(),
                ..Default::default()
            };
            // The master keeps the allocation role on its own copy; what the framework sees
            // carries it only if the framework is MULTI_ROLE aware (MESOS-8237).
            let sent = if multi_role {
                offer.clone()
            } else {
                without_allocation_info(&offer)
            };
            let timer = self.flags.offer_timeout.map(|t| {
                let oid = id.clone();
                ctx.delay(t.0, "offer_timeout", move |m, ctx| {
                    m.offer_timed_out(ctx, &oid)
                })
            });
            if let Some(f) = self.frameworks.get_mut(&allocation.framework_id) {
                f.offers.insert(id.clone());
            }
            self.offers.by_id.insert(
                id,
                OfferEntry {
                    offer: offer.clone(),
                    role: allocation.role,
                    timer,
                },
            );
            batches
                .entry(allocation.framework_id)
                .or_default()
                .push(sent);
        }
        for (framework_id, offers) in batches {
            tracing::debug!(framework = %framework_id, count = offers.len(), "sending offers");
            self.metrics.offers_sent.inc();
            self.send_to_framework(ctx, &framework_id, ToFramework::Offers(offers));
        }
        self.changed();
    }

    /// Takes an offer out of the table (used, declined or rescinded).
    pub(crate) fn take_offer(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) -> Option<OfferEntry> {
        let entry = self.offers.by_id.remove(id)?;
        if let Some(timer) = entry.timer {
            ctx.cancel(timer);
        }
        if let Some(f) = self.frameworks.get_mut(&entry.offer.framework_id.value) {
            f.offers.remove(id);
        }
        Some(entry)
    }

    /// Rescinds an offer: the framework is told, the resources go back to the allocator.
    pub(crate) fn rescind_offer(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: &str,
        refuse: Option<Duration>,
    ) {
        let Some(entry) = self.take_offer(ctx, id) else {
            return;
        };
        let framework_id = entry.offer.framework_id.value.clone();
        self.metrics.offers_rescinded.inc();
        self.send_to_framework(
            ctx,
            &framework_id,
            ToFramework::Rescind(entry.offer.id.clone()),
        );
        self.allocator().recover(
            &framework_id,
            &entry.offer.slave_id.value,
            &entry.offer.resources,
            refuse,
        );
    }

    fn offer_timed_out(&mut self, ctx: &mut Ctx<'_, Self>, id: &str) {
        if self.offers.by_id.contains_key(id) {
            tracing::info!(offer = %id, "offer timed out; rescinding");
            self.rescind_offer(ctx, id, None);
            self.changed();
        }
    }

    /// Rescinds every offer of an agent.
    pub(crate) fn rescind_agent_offers(&mut self, ctx: &mut Ctx<'_, Self>, agent_id: &str) {
        let ids: Vec<String> = self
            .offers
            .by_id
            .iter()
            .filter(|(_, o)| o.offer.slave_id.value == agent_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.rescind_offer(ctx, &id, None);
        }
    }

    /// Takes back every offer of a framework; `tell` also sends rescinds.
    pub(crate) fn rescind_framework_offers(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        tell: bool,
    ) {
        let ids: Vec<String> = self
            .frameworks
            .get(framework_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            if tell {
                self.rescind_offer(ctx, &id, None);
            } else if let Some(entry) = self.take_offer(ctx, &id) {
                self.allocator().recover(
                    framework_id,
                    &entry.offer.slave_id.value,
                    &entry.offer.resources,
                    None,
                );
            }
        }
    }
}
