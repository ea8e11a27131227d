//! A simulated framework speaking the v0 scheduler driver's messages (`mesos.scheduler.Call`
//! over libprocess, as the genuine 1.11 driver does): it subscribes, launches small command
//! tasks on its offers until it has launched its target, then declines with a filter so offers
//! keep circulating, acknowledges every agent status update, and re-subscribes with its
//! framework id when a new master leads (a master failover, not a scheduler failover, so
//! `force` is not set).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Ctx, Process, Upid};
use mesos_proto::mesos::internal::{
    FrameworkErrorMessage, FrameworkRegisteredMessage, FrameworkReregisteredMessage,
    ResourceOffersMessage, StatusUpdateMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{
    framework_info, offer, CommandInfo, Filters, FrameworkId, FrameworkInfo, Offer, Resource,
    TaskId, TaskInfo, TaskState,
};
use rand::Rng;

use crate::Shared;

const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Decline filter for an agent already holding `tasks_per_agent` tasks.
const FULL_AGENT_REFUSE_SECONDS: f64 = 600.0;

/// One simulated framework (`scheduler-<uuid>`).
pub struct SimFramework {
    index: usize,
    shared: Arc<Shared>,
    master: Option<Upid>,
    epoch: u64,
    id: Option<FrameworkId>,
    registered: bool,
    generation: u64,
    backoff: Duration,
    launched: usize,
    /// Last state seen per task (for the running/finished counters).
    tasks: HashMap<String, TaskState>,
}

impl SimFramework {
    pub(crate) fn new(index: usize, shared: Arc<Shared>) -> SimFramework {
        SimFramework {
            index,
            shared,
            master: None,
            epoch: 0,
            id: None,
            registered: false,
            generation: 0,
            backoff: FIRST_BACKOFF,
            launched: 0,
            tasks: HashMap::new(),
        }
    }

    fn info(&self) -> FrameworkInfo {
        let config = &self.shared.config;
        let multi_role = config.role != "*";
        FrameworkInfo {
            user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
            name: format!("simulated-framework-{}", self.index),
            id: self.id.clone(),
            failover_timeout: Some(config.failover_timeout),
            checkpoint: Some(true),
            hostname: Some(config.hostname.clone()),
            roles: if multi_role {
                vec![config.role.clone()]
            } else {
                vec![]
            },
            capabilities: if multi_role {
                vec![framework_info::Capability {
                    r#type: Some(framework_info::capability::Type::MultiRole as i32),
                }]
            } else {
                vec![]
            },
            ..Default::default()
        }
    }

    pub(crate) fn master_detected(&mut self, ctx: &mut Ctx<'_, Self>, master: Upid, epoch: u64) {
        if self.registered {
            decrement(&self.shared.stats.frameworks_subscribed);
        }
        ctx.link(&master);
        self.master = Some(master);
        self.epoch = epoch;
        self.registered = false;
        self.backoff = FIRST_BACKOFF;
        self.generation += 1;
        self.subscribe(ctx, self.generation);
    }

    fn call(&self, ctx: &Ctx<'_, Self>, mut call: Call) {
        if let Some(master) = &self.master {
            call.framework_id = self.id.clone();
            ctx.send(master, &call);
        }
    }

    fn subscribe(&mut self, ctx: &mut Ctx<'_, Self>, generation: u64) {
        if generation != self.generation || self.registered {
            return;
        }
        self.call(
            ctx,
            Call {
                r#type: Some(call::Type::Subscribe as i32),
                subscribe: Some(call::Subscribe {
                    framework_info: self.info(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let wait = self
            .backoff
            .mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        ctx.delay(wait, "subscribe_retry", move |me, ctx| {
            me.subscribe(ctx, generation)
        });
    }

    fn is_master(&self, from: &Upid) -> bool {
        self.master.as_ref() == Some(from)
    }

    fn on_subscribed(&mut self) {
        self.registered = true;
        self.generation += 1;
        self.backoff = FIRST_BACKOFF;
        self.shared
            .stats
            .frameworks_subscribed
            .fetch_add(1, Ordering::Relaxed);
    }

    fn registered_msg(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: FrameworkRegisteredMessage,
    ) {
        if !self.is_master(&from) || self.registered {
            return;
        }
        tracing::info!(framework = %msg.framework_id.value, "framework registered");
        self.id = Some(msg.framework_id);
        self.on_subscribed();
    }

    fn reregistered_msg(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: FrameworkReregisteredMessage,
    ) {
        if !self.is_master(&from) || self.registered {
            return;
        }
        if self.id.as_ref() != Some(&msg.framework_id) {
            tracing::warn!(got = %msg.framework_id.value, "re-registered under another framework id");
            self.id = Some(msg.framework_id);
        }
        self.shared.stats.framework_resubscribed(self.epoch);
        self.on_subscribed();
    }

    fn error(&mut self, _ctx: &mut Ctx<'_, Self>, from: Upid, msg: FrameworkErrorMessage) {
        if self.is_master(&from) {
            tracing::error!(framework = self.index, message = %msg.message, "framework error from the master");
        }
    }

    /// Takes `amount` of a scalar from the first offered entry of `name` that has it, as a
    /// copy of that entry (so role, reservations and allocation info are kept).
    fn take(remaining: &mut [Resource], name: &str, amount: f64) -> Option<Resource> {
        let entry = remaining.iter_mut().find(|r| {
            r.name == name && r.scalar.as_ref().is_some_and(|s| s.value + 1e-9 >= amount)
        })?;
        let scalar = entry.scalar.as_mut()?;
        scalar.value -= amount;
        let mut taken = entry.clone();
        if let Some(s) = taken.scalar.as_mut() {
            s.value = amount;
        }
        Some(taken)
    }

    fn tasks_for(&mut self, offer: &Offer) -> Vec<TaskInfo> {
        let config = &self.shared.config;
        let mut remaining = offer.resources.clone();
        let mut tasks = Vec::new();
        let mut placed = self.shared.placed.lock().unwrap_or_else(|e| e.into_inner());
        let on_agent = placed.entry(offer.slave_id.value.clone()).or_insert(0);
        while self.launched < config.tasks_per_framework && *on_agent < config.tasks_per_agent {
            let mut probe = remaining.clone();
            let (Some(cpus), Some(mem)) = (
                Self::take(&mut probe, "cpus", config.task_cpus),
                Self::take(&mut probe, "mem", config.task_mem),
            ) else {
                break;
            };
            remaining = probe;
            *on_agent += 1;
            let id = format!("sim-{}-{}", self.index, self.launched);
            self.launched += 1;
            tasks.push(TaskInfo {
                name: id.clone(),
                task_id: TaskId { value: id },
                slave_id: offer.slave_id.clone(),
                resources: vec![cpus, mem],
                command: Some(CommandInfo {
                    value: Some("sleep 1000000".into()),
                    shell: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        tasks
    }

    fn offers(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: ResourceOffersMessage) {
        if !self.is_master(&from) || !self.registered {
            return;
        }
        let stats = self.shared.stats.clone();
        let filters = Some(Filters {
            refuse_seconds: Some(self.shared.config.refuse_seconds),
        });
        for offer in msg.offers {
            stats.offers_received.fetch_add(1, Ordering::Relaxed);
            let tasks = self.tasks_for(&offer);
            if tasks.is_empty() {
                // Still short of tasks but this agent is full: do not see it again soon, so
                // the agents with room come round (the tail of the fill is otherwise slow).
                let filters = if self.launched < self.shared.config.tasks_per_framework {
                    Some(Filters {
                        refuse_seconds: Some(FULL_AGENT_REFUSE_SECONDS),
                    })
                } else {
                    filters
                };
                self.call(
                    ctx,
                    Call {
                        r#type: Some(call::Type::Decline as i32),
                        decline: Some(call::Decline {
                            offer_ids: vec![offer.id],
                            filters,
                        }),
                        ..Default::default()
                    },
                );
                continue;
            }
            stats
                .tasks_launched
                .fetch_add(tasks.len() as u64, Ordering::Relaxed);
            for t in &tasks {
                self.tasks
                    .insert(t.task_id.value.clone(), TaskState::TaskStaging);
            }
            let launch = offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            };
            self.call(
                ctx,
                Call {
                    r#type: Some(call::Type::Accept as i32),
                    accept: Some(call::Accept {
                        offer_ids: vec![offer.id],
                        operations: vec![launch],
                        filters,
                    }),
                    ..Default::default()
                },
            );
        }
    }

    fn status_update(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: StatusUpdateMessage) {
        if !self.is_master(&from) {
            return;
        }
        let update = msg.update;
        let state = TaskState::try_from(update.status.state).unwrap_or(TaskState::TaskUnknown);
        let task = update.status.task_id.value.clone();
        let previous = self.tasks.insert(task, state);
        self.count(previous, state);
        // Agent-originated updates carry a uuid and need an acknowledgement.
        let uuid = update.uuid.clone().unwrap_or_default();
        let from_agent = msg.pid.as_deref().is_some_and(|p| !p.is_empty());
        if uuid.is_empty() || !from_agent {
            return;
        }
        let Some(slave_id) = update.slave_id.clone().or(update.status.slave_id.clone()) else {
            return;
        };
        self.call(
            ctx,
            Call {
                r#type: Some(call::Type::Acknowledge as i32),
                acknowledge: Some(call::Acknowledge {
                    slave_id,
                    task_id: update.status.task_id,
                    uuid,
                }),
                ..Default::default()
            },
        );
    }

    /// Keeps `tasks_running` a gauge of distinct running tasks and counts terminal ones once.
    fn count(&self, previous: Option<TaskState>, state: TaskState) {
        let stats = &self.shared.stats;
        let was_running = previous == Some(TaskState::TaskRunning);
        let was_terminal = previous.is_some_and(mesos_proto::task_state::is_terminal);
        if state == TaskState::TaskRunning && !was_running && !was_terminal {
            stats.tasks_running.fetch_add(1, Ordering::Relaxed);
        }
        if mesos_proto::task_state::is_terminal(state) && !was_terminal {
            if was_running {
                let _ =
                    stats
                        .tasks_running
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
            }
            if state == TaskState::TaskFinished {
                stats.tasks_finished.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.tasks_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn decrement(counter: &std::sync::atomic::AtomicUsize) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

impl Process for SimFramework {
    fn initialize(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.install(Self::registered_msg);
        ctx.install(Self::reregistered_msg);
        ctx.install(Self::error);
        ctx.install(Self::offers);
        ctx.install(Self::status_update);
        for ignored in [
            "mesos.internal.RescindResourceOfferMessage",
            "mesos.internal.LostSlaveMessage",
            "mesos.internal.ExitedExecutorMessage",
            "mesos.internal.ExecutorToFrameworkMessage",
        ] {
            ctx.install_raw(ignored, |_, _, _, _| {});
        }
    }

    /// The master's connection broke: subscribe again (to the same master, unless a detector
    /// names another meanwhile).
    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Upid) {
        if self.master.as_ref() != Some(pid) {
            return;
        }
        if self.registered {
            self.registered = false;
            decrement(&self.shared.stats.frameworks_subscribed);
        }
        self.generation += 1;
        let generation = self.generation;
        ctx.delay(FIRST_BACKOFF, "resubscribe", move |me, ctx| {
            if let Some(m) = me.master.clone() {
                ctx.link(&m);
            }
            me.subscribe(ctx, generation)
        });
    }
}
