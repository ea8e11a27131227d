//! The v0 scheduler driver over libprocess: `mesos.scheduler.Call` messages and the older
//! per-operation messages, all funnelled into [`Master::scheduler_call`].
//!
//! Every call but SUBSCRIBE must name a registered framework and come from the UPID that
//! registered it; anything else is dropped (with a log line), as genuine Mesos does.

use libprocess::{Ctx, Upid};
use mesos_proto::mesos::internal::{
    DeactivateFrameworkMessage, FrameworkRegisteredMessage, FrameworkReregisteredMessage,
    KillTaskMessage, LaunchTasksMessage, ReconcileTasksMessage, RegisterFrameworkMessage,
    ReregisterFrameworkMessage, ReviveOffersMessage, StatusUpdateAcknowledgementMessage,
    UnregisterFrameworkMessage,
};
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::{offer, FrameworkId, FrameworkInfo};

use crate::frameworks::{Conn, ToFramework};
use crate::master::Master;

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    crate::ha::install_leading::<Call>(ctx, Master::v0_call);
    crate::ha::install_leading::<RegisterFrameworkMessage>(ctx, |m, ctx, from, msg| {
        m.v0_subscribe(ctx, from, msg.framework, Vec::new());
    });
    crate::ha::install_leading::<ReregisterFrameworkMessage>(ctx, |m, ctx, from, msg| {
        m.v0_subscribe(ctx, from, msg.framework, Vec::new());
    });
    crate::ha::install_leading::<UnregisterFrameworkMessage>(ctx, |m, ctx, from, msg| {
        m.v0_forward(ctx, from, msg.framework_id, call_of(call::Type::Teardown));
    });
    crate::ha::install_leading::<DeactivateFrameworkMessage>(ctx, |m, ctx, from, msg| {
        let id = msg.framework_id.value;
        if m.v0_check(&from, &id) {
            m.deactivate_framework(ctx, &id);
        }
    });
    crate::ha::install_leading::<ReviveOffersMessage>(ctx, |m, ctx, from, msg| {
        let mut c = call_of(call::Type::Revive);
        c.revive = Some(call::Revive { roles: msg.roles });
        m.v0_forward(ctx, from, msg.framework_id, c);
    });
    crate::ha::install_leading::<KillTaskMessage>(ctx, |m, ctx, from, msg| {
        let mut c = call_of(call::Type::Kill);
        c.kill = Some(call::Kill {
            task_id: msg.task_id,
            slave_id: None,
            kill_policy: msg.kill_policy,
        });
        m.v0_forward(ctx, from, msg.framework_id, c);
    });
    crate::ha::install_leading::<StatusUpdateAcknowledgementMessage>(ctx, |m, ctx, from, msg| {
        let mut c = call_of(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            slave_id: msg.slave_id,
            task_id: msg.task_id,
            uuid: msg.uuid,
        });
        m.v0_forward(ctx, from, msg.framework_id, c);
    });
    crate::ha::install_leading::<ReconcileTasksMessage>(ctx, |m, ctx, from, msg| {
        let mut c = call_of(call::Type::Reconcile);
        let tasks = msg
            .statuses
            .into_iter()
            .map(|s| call::reconcile::Task {
                task_id: s.task_id,
                slave_id: s.slave_id,
            })
            .collect();
        c.reconcile = Some(call::Reconcile { tasks });
        m.v0_forward(ctx, from, msg.framework_id, c);
    });
    crate::ha::install_leading::<LaunchTasksMessage>(ctx, |m, ctx, from, msg| {
        let mut c = call_of(call::Type::Accept);
        let launch = offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch {
                task_infos: msg.tasks,
            }),
            ..Default::default()
        };
        c.accept = Some(call::Accept {
            offer_ids: msg.offer_ids,
            operations: vec![launch],
            filters: Some(msg.filters),
        });
        m.v0_forward(ctx, from, msg.framework_id, c);
    });
}

fn call_of(t: call::Type) -> Call {
    Call {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

impl Master {
    fn v0_call(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, call: Call) {
        if call.r#type() == call::Type::Subscribe {
            let Some(subscribe) = call.subscribe else {
                tracing::warn!(from = %from, "SUBSCRIBE without 'subscribe'");
                return;
            };
            let mut info = subscribe.framework_info;
            if info.id.is_none() {
                info.id = call.framework_id;
            }
            self.v0_subscribe(ctx, from, info, subscribe.suppressed_roles);
            return;
        }
        let Some(framework_id) = call.framework_id.clone() else {
            tracing::warn!(from = %from, "dropping a call without framework_id");
            self.metrics.dropped_messages.inc();
            return;
        };
        self.v0_forward(ctx, from, framework_id, call);
    }

    fn v0_subscribe(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        info: FrameworkInfo,
        suppressed: Vec<String>,
    ) {
        match self.subscribe(ctx, info, suppressed, Conn::Pid(from.clone())) {
            Ok(s) => {
                let framework_id = FrameworkId {
                    value: s.framework_id,
                };
                if s.reregistered {
                    ctx.send(
                        &from,
                        &FrameworkReregisteredMessage {
                            framework_id,
                            master_info: self.info.clone(),
                        },
                    );
                } else {
                    ctx.send(
                        &from,
                        &FrameworkRegisteredMessage {
                            framework_id,
                            master_info: self.info.clone(),
                        },
                    );
                }
            }
            Err(message) => {
                tracing::warn!(from = %from, %message, "refusing framework subscription");
                ctx.send(
                    &from,
                    &mesos_proto::mesos::internal::FrameworkErrorMessage { message },
                );
            }
        }
    }

    /// Whether `from` is the registered pid of framework `id`.
    fn v0_check(&mut self, from: &Upid, id: &str) -> bool {
        let Some(framework) = self.frameworks.get(id) else {
            tracing::info!(from = %from, framework = %id, "dropping a call for an unknown (or removed) framework");
            self.metrics.dropped_messages.inc();
            return false;
        };
        let ok = framework.pid() == Some(from);
        if !ok {
            tracing::warn!(from = %from, framework = %id, "dropping a call from a pid that is not the framework's");
            self.metrics.dropped_messages.inc();
        }
        ok
    }

    fn v0_forward(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        framework_id: FrameworkId,
        call: Call,
    ) {
        let id = framework_id.value;
        if !self.v0_check(&from, &id) {
            return;
        }
        if !self.frameworks.get(&id).is_some_and(|f| f.connected) {
            self.send_to_framework(
                ctx,
                &id,
                ToFramework::Error("Framework disconnected".into()),
            );
            return;
        }
        if let Err(error) = self.scheduler_call(ctx, &id, call) {
            tracing::warn!(framework = %id, %error, "dropping an invalid call");
            self.metrics.dropped_messages.inc();
        }
    }

    /// A call from a subscribed framework (either transport). Returns an error for
    /// malformed calls (HTTP answers 400 with it).
    pub(crate) fn scheduler_call(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        call: Call,
    ) -> Result<(), String> {
        self.count_call(&call);
        let t = call.r#type();
        macro_rules! need {
            ($field:ident) => {
                call.$field
                    .ok_or_else(|| format!("Expecting '{}' to be present", stringify!($field)))?
            };
        }
        match t {
            call::Type::Teardown => {
                self.remove_framework(ctx, framework_id, "the framework asked for teardown")
            }
            call::Type::Accept => self.accept(ctx, framework_id, need!(accept)),
            call::Type::Decline => self.decline(ctx, framework_id, need!(decline)),
            call::Type::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.allocator().revive(framework_id, &roles);
            }
            call::Type::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                self.allocator().suppress(framework_id, &roles);
            }
            call::Type::Kill => self.kill(ctx, framework_id, need!(kill)),
            call::Type::Shutdown => self.shutdown_executor(ctx, framework_id, need!(shutdown)),
            call::Type::Acknowledge => self.acknowledge(ctx, framework_id, need!(acknowledge)),
            call::Type::Reconcile => self.reconcile(ctx, framework_id, need!(reconcile)),
            call::Type::Message => self.framework_message(ctx, framework_id, need!(message)),
            call::Type::Request => {
                tracing::debug!(framework = %framework_id, "ignoring REQUEST (resource requests are not used)")
            }
            call::Type::DeclineInverseOffers | call::Type::AcceptInverseOffers => {
                tracing::debug!(framework = %framework_id, "ignoring inverse offer call (no maintenance schedules)")
            }
            call::Type::UpdateFramework => {
                let update = need!(update_framework);
                crate::frameworks::validate_framework_info(&update.framework_info)?;
                if update
                    .framework_info
                    .id
                    .as_ref()
                    .is_some_and(|i| i.value != framework_id)
                {
                    return Err("'framework_info.id' does not match the framework".into());
                }
                let changed = self.frameworks.get(framework_id).is_some_and(|f| {
                    let mut current = f.info.clone();
                    current.id = update.framework_info.id.clone();
                    current != update.framework_info
                });
                self.update_framework(
                    ctx,
                    framework_id,
                    update.framework_info,
                    &update.suppressed_roles,
                );
                if changed {
                    self.send_framework_updates(ctx, framework_id);
                }
            }
            call::Type::Subscribe => return Err("SUBSCRIBE is not valid here".into()),
            other => return Err(format!("Unsupported call type {}", other.as_str_name())),
        }
        Ok(())
    }
}
