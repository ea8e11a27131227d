//! The master's counters with genuine 1.11's names beyond the gauges `Master::changed`
//! refreshes: `master/messages_*` (one per kind of message or call handled), the
//! removal reasons, `master/operations/*`, and the mailbox's `master/event_queue_*` depth. Every counter exists
//! from the start at 0, as Mesos registers them, so tools find each key.
//!
//! Where they are counted: libprocess messages from agents and executors by name as the
//! leading master accepts them (`ha::install_leading`), scheduler calls of either
//! transport by type where the master carries them out (`scheduler_call`, `subscribe`);
//! accepts and declines where offers are used (`tasks`).

use std::sync::atomic::Ordering;

use libprocess::Ctx;
use mesos_proto::mesos::scheduler::{call, Call};
use mesos_proto::mesos::FrameworkInfo;

use crate::master::Master;

/// Every `master/messages_*` counter genuine 1.11 registers.
pub const MESSAGE_COUNTERS: &[&str] = &[
    "messages_register_framework",
    "messages_reregister_framework",
    "messages_unregister_framework",
    "messages_deactivate_framework",
    "messages_kill_task",
    "messages_status_update_acknowledgement",
    "messages_resource_request",
    "messages_launch_tasks",
    "messages_decline_offers",
    "messages_revive_offers",
    "messages_suppress_offers",
    "messages_reconcile_operations",
    "messages_reconcile_tasks",
    "messages_framework_to_executor",
    "messages_operation_status_update_acknowledgement",
    "messages_executor_to_framework",
    "messages_register_slave",
    "messages_reregister_slave",
    "messages_unregister_slave",
    "messages_status_update",
    "messages_operation_status_update",
    "messages_exited_executor",
    "messages_update_slave",
    "messages_authenticate",
];

/// The other counters genuine registers at start that no gauge refresh sets.
pub const OTHER_COUNTERS: &[&str] = &[
    "dropped_messages",
    "http_cache_hits",
    "valid_framework_to_executor_messages",
    "invalid_framework_to_executor_messages",
    "valid_executor_to_framework_messages",
    "invalid_executor_to_framework_messages",
    "valid_status_updates",
    "invalid_status_updates",
    "valid_status_update_acknowledgements",
    "invalid_status_update_acknowledgements",
    "valid_operation_status_updates",
    "invalid_operation_status_updates",
    "valid_operation_status_update_acknowledgements",
    "invalid_operation_status_update_acknowledgements",
    "recovery_slave_removals",
    "slave_registrations",
    "slave_reregistrations",
    "slave_removals",
    "slave_removals/reason_unhealthy",
    "slave_removals/reason_unregistered",
    "slave_removals/reason_registered",
    "slave_shutdowns_scheduled",
    "slave_shutdowns_completed",
    "slave_shutdowns_canceled",
    "slave_unreachable_scheduled",
    "slave_unreachable_completed",
    "slave_unreachable_canceled",
];

/// Offer operations genuine keeps `master/operations/<type>/<state>` for.
pub const OPERATION_TYPES: &[&str] = &[
    "create",
    "create_disk",
    "destroy",
    "destroy_disk",
    "grow_volume",
    "reserve",
    "shrink_volume",
    "unreserve",
];

/// The states of `master/operations/[<type>/]<state>`.
pub const OPERATION_STATES: &[&str] = &[
    "total",
    "pending",
    "recovering",
    "unreachable",
    "finished",
    "failed",
    "error",
    "dropped",
    "gone_by_operator",
];

/// The counter of a libprocess message from an agent or executor, by protobuf name.
/// (Scheduler messages are counted as the calls they become.)
pub fn message_counter(full_name: &str) -> Option<&'static str> {
    Some(match full_name.strip_prefix("mesos.internal.")? {
        "RegisterSlaveMessage" => "messages_register_slave",
        "ReregisterSlaveMessage" => "messages_reregister_slave",
        "UnregisterSlaveMessage" => "messages_unregister_slave",
        "UpdateSlaveMessage" => "messages_update_slave",
        "StatusUpdateMessage" => "messages_status_update",
        "ExitedExecutorMessage" => "messages_exited_executor",
        "UpdateOperationStatusMessage" => "messages_operation_status_update",
        "DeactivateFrameworkMessage" => "messages_deactivate_framework",
        "AuthenticateMessage" => "messages_authenticate",
        _ => return None,
    })
}

/// The counter of a scheduler call. ACCEPT and DECLINE are counted where their offers are
/// used (a launch counts `messages_launch_tasks`), SUBSCRIBE where it is carried out.
pub fn call_counter(t: call::Type) -> Option<&'static str> {
    use call::Type as T;
    Some(match t {
        T::Teardown => "messages_unregister_framework",
        T::Kill => "messages_kill_task",
        T::Acknowledge => "messages_status_update_acknowledgement",
        T::AcknowledgeOperationStatus => "messages_operation_status_update_acknowledgement",
        T::Request => "messages_resource_request",
        T::Revive => "messages_revive_offers",
        T::Suppress => "messages_suppress_offers",
        T::Reconcile => "messages_reconcile_tasks",
        T::ReconcileOperations => "messages_reconcile_operations",
        T::Message => "messages_framework_to_executor",
        _ => return None,
    })
}

/// Registers every counter at 0 and the `event_queue_*` gauges of the master's mailbox.
pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    let m = ctx.metrics().clone();
    for name in MESSAGE_COUNTERS.iter().chain(OTHER_COUNTERS) {
        m.counter(&format!("master/{name}"));
    }
    for state in OPERATION_STATES {
        m.counter(&format!("master/operations/{state}"));
        for kind in OPERATION_TYPES {
            m.counter(&format!("master/operations/{kind}/{state}"));
        }
    }
    // No subscriber yet; `operator_events` sets it as they come and go.
    m.gauge("master/operator_event_stream_subscribers");
    let depth = ctx.queue_depth();
    let d = depth.clone();
    m.gauge_fn("master/event_queue_messages", move || {
        d.messages.load(Ordering::Acquire) as f64
    });
    let d = depth.clone();
    m.gauge_fn("master/event_queue_dispatches", move || {
        d.dispatches.load(Ordering::Acquire) as f64
    });
    m.gauge_fn("master/event_queue_http_requests", move || {
        depth.http_requests.load(Ordering::Acquire) as f64
    });
}

impl Master {
    fn count(&self, name: &str) {
        self.metrics
            .metrics
            .counter(&format!("master/{name}"))
            .inc();
    }

    /// Counts a libprocess message the leading master accepted.
    pub(crate) fn count_message(&self, full_name: &str) {
        if let Some(name) = message_counter(full_name) {
            self.count(name);
        }
    }

    /// Counts a scheduler call (either transport) about to be carried out.
    pub(crate) fn count_call(&self, call: &Call) {
        if let Some(name) = call_counter(call.r#type()) {
            self.count(name);
        }
    }

    /// Counts a subscription: a registration without a framework id, else a
    /// re-registration (as genuine).
    pub(crate) fn count_subscribe(&self, info: &FrameworkInfo) {
        let registering = info.id.as_ref().is_none_or(|id| id.value.is_empty());
        self.count(if registering {
            "messages_register_framework"
        } else {
            "messages_reregister_framework"
        });
    }

    /// Counts why an agent was removed: unhealthy (unreachable) or unregistered.
    pub(crate) fn count_agent_removal_reason(&self, unhealthy: bool) {
        self.count(if unhealthy {
            "slave_removals/reason_unhealthy"
        } else {
            "slave_removals/reason_unregistered"
        });
    }

    /// An agent the registry held did not come back after a failover and was removed.
    pub(crate) fn count_recovery_removal(&self) {
        self.count("recovery_slave_removals");
        self.count("slave_removals");
        self.count("slave_removals/reason_unhealthy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_calls_map_to_genuine_counter_names() {
        assert_eq!(
            message_counter("mesos.internal.ReregisterSlaveMessage"),
            Some("messages_reregister_slave")
        );
        assert_eq!(
            message_counter("mesos.internal.ExitedExecutorMessage"),
            Some("messages_exited_executor")
        );
        assert_eq!(message_counter("mesos.scheduler.Call"), None);
        assert_eq!(
            message_counter("mesos.internal.KillTaskMessage"),
            None,
            "counted as the KILL call it becomes"
        );
        assert_eq!(call_counter(call::Type::Kill), Some("messages_kill_task"));
        assert_eq!(
            call_counter(call::Type::Teardown),
            Some("messages_unregister_framework")
        );
        assert_eq!(call_counter(call::Type::Accept), None);
        for name in [
            message_counter("mesos.internal.UpdateSlaveMessage"),
            call_counter(call::Type::Reconcile),
        ]
        .into_iter()
        .flatten()
        {
            assert!(MESSAGE_COUNTERS.contains(&name), "{name} is registered");
        }
    }
}
