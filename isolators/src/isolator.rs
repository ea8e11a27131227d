//! The [`Isolator`] trait: what an in-process isolator implements (Mesos 0.18's
//! `IsolatorProcess` calls), and the error every isolator returns.
//!
//! Methods take `&mut self` and return a `'static` future so an isolator can do quick work
//! synchronously and hand back `ready(..)`, or clone what it needs into a future that waits
//! (an OOM notification, a `du` run) without blocking its actor's mailbox.

use std::path::Path;

use futures::future::LocalBoxFuture;
use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};

use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation};

/// Why an isolator call failed. Travels to remote clients as its message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IsolatorError {
    #[error("unknown container {0}")]
    UnknownContainer(ContainerId),
    #[error("container {0} is already prepared")]
    AlreadyPrepared(ContainerId),
    #[error("{0}")]
    Failed(String),
}

impl IsolatorError {
    pub fn failed(message: impl std::fmt::Display) -> Self {
        IsolatorError::Failed(message.to_string())
    }
}

/// What every isolator call returns.
pub type IsolatorFuture<T> = LocalBoxFuture<'static, Result<T, IsolatorError>>;

/// Wraps an already known result as an [`IsolatorFuture`].
pub fn ready<T: 'static>(result: Result<T, IsolatorError>) -> IsolatorFuture<T> {
    Box::pin(futures::future::ready(result))
}

/// One kind of isolation, hosted by an [`crate::IsolatorProcess`].
///
/// The call order for a container is `prepare` → (launcher forks) → `isolate(pid)` →
/// `watch` (pending until a limit is hit) / `update` / `usage` → `cleanup`.
pub trait Isolator: Send + Unpin + 'static {
    /// Mesos's name for this isolator (`cgroups/mem`); also names its actor.
    fn name(&self) -> &str;

    /// The containers this isolator holds state for (sorted), so leaks are observable:
    /// after `cleanup` a container must not be listed.
    fn containers(&self) -> Vec<ContainerId>;

    /// Takes over the containers the agent checkpointed; anything else this isolator finds
    /// (cgroups, state) that is not in `states` is an orphan and must be destroyed.
    fn recover(
        &mut self,
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    ) -> IsolatorFuture<()>;

    /// Sets up isolation before the executor exists; may ask the launcher for a command
    /// prefix, environment or namespaces.
    fn prepare(
        &mut self,
        container: &ContainerId,
        executor: &ExecutorInfo,
        directory: &Path,
        user: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>>;

    /// Puts the executor's process (just forked, not yet exec'd) under isolation.
    fn isolate(&mut self, container: &ContainerId, pid: u32) -> IsolatorFuture<()>;

    /// Resolves when the container reaches a limit; stays pending otherwise.
    fn watch(&mut self, container: &ContainerId) -> IsolatorFuture<Limitation>;

    /// Applies the container's new resources (tasks joined or left the executor).
    fn update(&mut self, container: &ContainerId, resources: &[Resource]) -> IsolatorFuture<()>;

    /// The container's usage; the containerizer merges every isolator's statistics.
    fn usage(&mut self, container: &ContainerId) -> IsolatorFuture<ResourceStatistics>;

    /// Releases everything held for the container; unknown containers are not an error
    /// (cleanup may be retried after a crash).
    fn cleanup(&mut self, container: &ContainerId) -> IsolatorFuture<()>;
}

/// Sorted container ids, for [`Isolator::containers`].
pub fn sorted<'a>(ids: impl Iterator<Item = &'a ContainerId>) -> Vec<ContainerId> {
    let mut ids: Vec<ContainerId> = ids.cloned().collect();
    ids.sort();
    ids
}

/// Sum of the scalar resources named `name` (Mesos's `Resources::cpus()`, `mem()`, ...).
pub fn scalar(resources: &[Resource], name: &str) -> Option<f64> {
    let values: Vec<f64> = resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum())
    }
}

/// Megabytes (Mesos's unit for `mem` and `disk`) to bytes, saturating on absurd values.
pub fn mb_to_bytes(mb: f64) -> u64 {
    let bytes = mb * 1024.0 * 1024.0;
    if !bytes.is_finite() || bytes <= 0.0 {
        0
    } else if bytes >= u64::MAX as f64 {
        u64::MAX
    } else {
        bytes as u64
    }
}

/// A scalar resource, e.g. for a limitation's `resources`.
pub fn scalar_resource(name: &str, value: f64) -> Resource {
    use mesos_proto::mesos::value;
    Resource {
        name: name.to_string(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value }),
        ..Default::default()
    }
}

/// Seconds since the epoch for `ResourceStatistics.timestamp`.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// One container's statistics from every isolator's: protobuf merge semantics, so each
/// field comes from the last isolator that set it (isolators report disjoint fields).
pub fn merge_statistics(parts: &[ResourceStatistics]) -> ResourceStatistics {
    use prost::Message;
    let mut merged = ResourceStatistics::default();
    for part in parts {
        // Merging bytes we just encoded cannot fail; keep what merged so far if it did.
        let _ = merged.merge(part.encode_to_vec().as_slice());
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_from_several_isolators_merge_field_by_field() {
        let cpu = ResourceStatistics {
            timestamp: 1.0,
            cpus_user_time_secs: Some(2.5),
            cpus_limit: Some(0.5),
            ..Default::default()
        };
        let mem = ResourceStatistics {
            timestamp: 2.0,
            mem_rss_bytes: Some(42),
            ..Default::default()
        };
        let merged = merge_statistics(&[cpu, mem]);
        assert_eq!(merged.cpus_user_time_secs, Some(2.5));
        assert_eq!(merged.cpus_limit, Some(0.5));
        assert_eq!(merged.mem_rss_bytes, Some(42));
        assert_eq!(merged.timestamp, 2.0);
    }

    #[test]
    fn scalar_sums_named_resources_and_ignores_negative_or_nan_values() {
        let rs = vec![
            scalar_resource("cpus", 0.5),
            scalar_resource("cpus", 1.0),
            scalar_resource("mem", f64::NAN),
            scalar_resource("disk", -3.0),
        ];
        assert_eq!(scalar(&rs, "cpus"), Some(1.5));
        assert_eq!(scalar(&rs, "mem"), None);
        assert_eq!(scalar(&rs, "disk"), None);
    }

    #[test]
    fn megabytes_convert_to_bytes_without_overflow() {
        assert_eq!(mb_to_bytes(32.0), 32 * 1024 * 1024);
        assert_eq!(mb_to_bytes(f64::INFINITY), 0);
        assert_eq!(mb_to_bytes(1e300), u64::MAX);
        assert_eq!(mb_to_bytes(-1.0), 0);
    }
}
