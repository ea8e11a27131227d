//! Registry operations: each mutates a registry or refuses, like the operations genuine
//! Mesos's master hands its registrar (admit, mark unreachable / reachable / gone, prune).

use std::collections::HashSet;

use mesos_proto::mesos::{SlaveId, SlaveInfo, TimeInfo};

use crate::registry::{GoneSlaves, Registry, RemovedSlave, Slave, Slaves, UnreachableSlaves};

/// Why an operation was refused (the registry is left as it was).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    #[error("agent {0} is already admitted")]
    AlreadyAdmitted(String),
    #[error("agent {0} is not admitted")]
    NotAdmitted(String),
    #[error("agent {0} is gone")]
    Gone(String),
    #[error("agent {0} is not in the registry")]
    NotFound(String),
    #[error("agent info has no id")]
    MissingId,
}

/// One change to the registry.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// A new agent registers.
    AdmitSlave(SlaveInfo),
    /// An admitted agent re-registers with new info.
    UpdateSlave(SlaveInfo),
    /// An admitted agent stopped answering: move it to the unreachable list.
    MarkSlaveUnreachable { id: SlaveId, time: TimeInfo },
    /// An unreachable (or unknown, after a failover) agent came back.
    MarkSlaveReachable(SlaveInfo),
    /// The operator declared the agent gone for good.
    MarkSlaveGone { id: SlaveId, time: TimeInfo },
    /// Forget unreachable / gone entries (bounding the registry's size).
    Prune {
        unreachable: Vec<SlaveId>,
        gone: Vec<SlaveId>,
    },
}

impl Operation {
    /// Applies to `registry`; `Ok(true)` if it changed, `Ok(false)` for a no-op. `admitted`
    /// indexes the registry's admitted ids and is kept in step.
    pub fn apply(
        &self,
        registry: &mut Registry,
        admitted: &mut HashSet<String>,
    ) -> Result<bool, OperationError> {
        match self {
            Operation::AdmitSlave(info) => {
                let id = id_of(info)?;
                if admitted.contains(&id) {
                    return Err(OperationError::AlreadyAdmitted(id));
                }
                if registry.gone().iter().any(|g| g.id.value == id) {
                    return Err(OperationError::Gone(id));
                }
                push_admitted(registry, admitted, info.clone(), id);
                Ok(true)
            }
            Operation::UpdateSlave(info) => {
                let id = id_of(info)?;
                let slaves = registry.slaves.get_or_insert_with(Slaves::default);
                match slaves
                    .slaves
                    .iter_mut()
                    .find(|s| s.info.id.as_ref().map(|i| i.value.as_str()) == Some(&id))
                {
                    Some(s) if s.info == *info => Ok(false),
                    Some(s) => {
                        s.info = info.clone();
                        Ok(true)
                    }
                    None => Err(OperationError::NotAdmitted(id)),
                }
            }
            Operation::MarkSlaveUnreachable { id, time } => {
                if !admitted.remove(&id.value) {
                    return Err(OperationError::NotAdmitted(id.value.clone()));
                }
                if let Some(s) = registry.slaves.as_mut() {
                    s.slaves
                        .retain(|s| s.info.id.as_ref().map(|i| &i.value) != Some(&id.value));
                }
                registry
                    .unreachable
                    .get_or_insert_with(UnreachableSlaves::default)
                    .slaves
                    .push(RemovedSlave {
                        id: id.clone(),
                        timestamp: *time,
                    });
                Ok(true)
            }
            Operation::MarkSlaveReachable(info) => {
                let id = id_of(info)?;
                if admitted.contains(&id) {
                    // Already admitted (e.g. a retry): nothing to do.
                    return Ok(false);
                }
                if registry.gone().iter().any(|g| g.id.value == id) {
                    return Err(OperationError::Gone(id));
                }
                if let Some(u) = registry.unreachable.as_mut() {
                    u.slaves.retain(|s| s.id.value != id);
                }
                push_admitted(registry, admitted, info.clone(), id);
                Ok(true)
            }
            Operation::MarkSlaveGone { id, time } => {
                if registry.gone().iter().any(|g| g.id.value == id.value) {
                    return Ok(false);
                }
                let was_admitted = admitted.remove(&id.value);
                if was_admitted {
                    if let Some(s) = registry.slaves.as_mut() {
                        s.slaves
                            .retain(|s| s.info.id.as_ref().map(|i| &i.value) != Some(&id.value));
                    }
                }
                let was_unreachable = registry
                    .unreachable()
                    .iter()
                    .any(|u| u.id.value == id.value);
                if was_unreachable {
                    if let Some(u) = registry.unreachable.as_mut() {
                        u.slaves.retain(|s| s.id.value != id.value);
                    }
                }
                if !was_admitted && !was_unreachable {
                    return Err(OperationError::NotFound(id.value.clone()));
                }
                registry
                    .gone
                    .get_or_insert_with(GoneSlaves::default)
                    .slaves
                    .push(RemovedSlave {
                        id: id.clone(),
                        timestamp: *time,
                    });
                Ok(true)
            }
            Operation::Prune { unreachable, gone } => {
                let mut changed = false;
                if let Some(u) = registry.unreachable.as_mut() {
                    let before = u.slaves.len();
                    u.slaves
                        .retain(|s| !unreachable.iter().any(|id| id.value == s.id.value));
                    changed |= u.slaves.len() != before;
                }
                if let Some(g) = registry.gone.as_mut() {
                    let before = g.slaves.len();
                    g.slaves
                        .retain(|s| !gone.iter().any(|id| id.value == s.id.value));
                    changed |= g.slaves.len() != before;
                }
                Ok(changed)
            }
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::AdmitSlave(_) => "AdmitSlave",
            Operation::UpdateSlave(_) => "UpdateSlave",
            Operation::MarkSlaveUnreachable { .. } => "MarkSlaveUnreachable",
            Operation::MarkSlaveReachable(_) => "MarkSlaveReachable",
            Operation::MarkSlaveGone { .. } => "MarkSlaveGone",
            Operation::Prune { .. } => "Prune",
        }
    }
}

fn id_of(info: &SlaveInfo) -> Result<String, OperationError> {
    info.id
        .as_ref()
        .map(|i| i.value.clone())
        .ok_or(OperationError::MissingId)
}

fn push_admitted(
    registry: &mut Registry,
    admitted: &mut HashSet<String>,
    info: SlaveInfo,
    id: String,
) {
    registry
        .slaves
        .get_or_insert_with(Slaves::default)
        .slaves
        .push(Slave { info });
    admitted.insert(id);
}

/// The admitted ids of a registry (the index [`Operation::apply`] keeps).
pub fn admitted_ids(registry: &Registry) -> HashSet<String> {
    registry
        .admitted()
        .iter()
        .filter_map(|s| s.info.id.as_ref().map(|i| i.value.clone()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn agent(id: &str) -> SlaveInfo {
        SlaveInfo {
            hostname: format!("{id}.example"),
            id: Some(SlaveId { value: id.into() }),
            ..Default::default()
        }
    }

    fn sid(id: &str) -> SlaveId {
        SlaveId { value: id.into() }
    }

    fn t(ns: i64) -> TimeInfo {
        TimeInfo { nanoseconds: ns }
    }

    #[test]
    fn admit_twice_is_refused_and_leaves_the_registry_unchanged() {
        let mut r = Registry::default();
        let mut ids = HashSet::new();
        assert_eq!(
            Operation::AdmitSlave(agent("a")).apply(&mut r, &mut ids),
            Ok(true)
        );
        let before = r.clone();
        assert_eq!(
            Operation::AdmitSlave(agent("a")).apply(&mut r, &mut ids),
            Err(OperationError::AlreadyAdmitted("a".into()))
        );
        assert_eq!(r, before);
    }

    #[test]
    fn unreachable_then_reachable_moves_the_agent_between_lists() {
        let mut r = Registry::default();
        let mut ids = HashSet::new();
        Operation::AdmitSlave(agent("a"))
            .apply(&mut r, &mut ids)
            .unwrap();
        let op = Operation::MarkSlaveUnreachable {
            id: sid("a"),
            time: t(5),
        };
        assert_eq!(op.apply(&mut r, &mut ids), Ok(true));
        assert!(r.admitted().is_empty());
        assert_eq!(r.unreachable()[0].timestamp.nanoseconds, 5);
        assert_eq!(
            op.apply(&mut r, &mut ids),
            Err(OperationError::NotAdmitted("a".into()))
        );
        assert_eq!(
            Operation::MarkSlaveReachable(agent("a")).apply(&mut r, &mut ids),
            Ok(true)
        );
        assert!(r.unreachable().is_empty());
        assert_eq!(r.admitted().len(), 1);
        assert_eq!(
            Operation::MarkSlaveReachable(agent("a")).apply(&mut r, &mut ids),
            Ok(false)
        );
    }

    #[test]
    fn gone_agent_cannot_come_back() {
        let mut r = Registry::default();
        let mut ids = HashSet::new();
        Operation::AdmitSlave(agent("a"))
            .apply(&mut r, &mut ids)
            .unwrap();
        let gone = Operation::MarkSlaveGone {
            id: sid("a"),
            time: t(9),
        };
        assert_eq!(gone.apply(&mut r, &mut ids), Ok(true));
        assert_eq!(gone.apply(&mut r, &mut ids), Ok(false));
        assert_eq!(
            Operation::MarkSlaveReachable(agent("a")).apply(&mut r, &mut ids),
            Err(OperationError::Gone("a".into()))
        );
        assert_eq!(
            Operation::AdmitSlave(agent("a")).apply(&mut r, &mut ids),
            Err(OperationError::Gone("a".into()))
        );
        let unknown = Operation::MarkSlaveGone {
            id: sid("zz"),
            time: t(1),
        };
        assert_eq!(
            unknown.apply(&mut r, &mut ids),
            Err(OperationError::NotFound("zz".into()))
        );
        let prune = Operation::Prune {
            unreachable: vec![],
            gone: vec![sid("a")],
        };
        assert_eq!(prune.apply(&mut r, &mut ids), Ok(true));
        assert!(r.gone().is_empty());
    }

    #[test]
    fn registry_bytes_use_the_genuine_registry_field_numbers() {
        use prost::Message as _;
        let mut r = Registry::default();
        let mut ids = HashSet::new();
        Operation::AdmitSlave(agent("a"))
            .apply(&mut r, &mut ids)
            .unwrap();
        Operation::AdmitSlave(agent("b"))
            .apply(&mut r, &mut ids)
            .unwrap();
        Operation::MarkSlaveUnreachable {
            id: sid("b"),
            time: t(1),
        }
        .apply(&mut r, &mut ids)
        .unwrap();
        let bytes = r.encode_to_vec();
        // Field 2 (slaves, length-delimited) comes first; field 7 (unreachable) follows.
        assert_eq!(bytes[0], (2 << 3) | 2);
        let unreachable_key = (7 << 3) | 2;
        assert!(bytes.contains(&unreachable_key));
        assert_eq!(Registry::decode(bytes.as_slice()).unwrap(), r);
    }
}
