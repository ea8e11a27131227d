//! Offer operations this master does not carry out (RESERVE, UNRESERVE, CREATE, DESTROY,
//! GROW_VOLUME, SHRINK_VOLUME, CREATE_DISK, DESTROY_DISK) and operations on invalid
//! offers: each is dropped the way Mesos drops an invalid operation, never silently.
//!
//! The drop is logged and counted as an operation in OPERATION_ERROR
//! (`master/operations/error`, `master/operations/<type>/error`, and their `total`). A v1
//! framework that asked for feedback (operation `id` set) gets an UPDATE_OPERATION_STATUS
//! with OPERATION_ERROR and the reason; a v0 driver that set an `id` gets a framework error,
//! as Mesos answers drivers that ask for feedback they cannot receive. The operation's
//! resources stay unused and go back to the allocator with the rest of the offer, so later
//! operations in the same ACCEPT that relied on it fail their own validation (TASK_ERROR).

use libprocess::Ctx;
use mesos_proto::mesos::{offer, OperationState, OperationStatus};

use crate::frameworks::ToFramework;
use crate::master::Master;

/// The lowercase operation type as Mesos names its metrics (`reserve`, `create_disk`).
pub fn metric_name(kind: offer::operation::Type) -> String {
    kind.as_str_name().to_ascii_lowercase()
}

impl Master {
    /// Drops an offer operation with `message`, reporting it as OPERATION_ERROR.
    pub(crate) fn drop_operation(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        framework_id: &str,
        operation: &offer::Operation,
        message: &str,
    ) {
        let kind = operation.r#type();
        tracing::warn!(framework = %framework_id, operation = kind.as_str_name(), %message, "dropping offer operation");
        if kind == offer::operation::Type::Unknown {
            return;
        }
        let metrics = &self.metrics.metrics;
        let name = metric_name(kind);
        for state in ["total", "error"] {
            metrics.counter(&format!("master/operations/{state}")).inc();
            metrics
                .counter(&format!("master/operations/{name}/{state}"))
                .inc();
        }
        let Some(operation_id) = operation.id.clone() else {
            return;
        };
        let http = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.is_http());
        let what = if http {
            ToFramework::OperationStatus(OperationStatus {
                operation_id: Some(operation_id),
                state: OperationState::OperationError as i32,
                message: Some(message.to_string()),
                ..Default::default()
            })
        } else {
            ToFramework::Error(
                "The 'id' field was set in an offer operation, but operation feedback is not \
                 supported for the SchedulerDriver API; please use the HTTP scheduler API for \
                 this feature"
                    .to_string(),
            )
        };
        self.send_to_framework(ctx, framework_id, what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_metric_names_are_mesos_lowercase_type_names() {
        assert_eq!(metric_name(offer::operation::Type::Reserve), "reserve");
        assert_eq!(
            metric_name(offer::operation::Type::CreateDisk),
            "create_disk"
        );
    }
}
