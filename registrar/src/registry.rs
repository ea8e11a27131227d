//! The registry: what a master must not forget across failovers.
//!
//! Encoded as protobuf with the field numbers of genuine Mesos's `mesos.internal.Registry`
//! (`src/master/registry.proto`), so the bytes are the same shape Mesos stores and tools that
//! know that schema can read them. The messages are declared here with prost's derive
//! rather than in `proto/` because only the registrar reads or writes them.

use mesos_proto::mesos::maintenance::Schedule;
use mesos_proto::mesos::quota::QuotaInfo;
use mesos_proto::mesos::{MachineInfo, MasterInfo, SlaveId, SlaveInfo, TimeInfo, WeightInfo};

/// `mesos.internal.Registry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Registry {
    /// The most recent leading master.
    #[prost(message, optional, tag = "1")]
    pub master: Option<RegistryMaster>,
    /// Admitted agents.
    #[prost(message, optional, tag = "2")]
    pub slaves: Option<Slaves>,
    #[prost(message, optional, tag = "3")]
    pub machines: Option<Machines>,
    #[prost(message, repeated, tag = "4")]
    pub schedules: Vec<Schedule>,
    #[prost(message, repeated, tag = "5")]
    pub quotas: Vec<Quota>,
    #[prost(message, repeated, tag = "6")]
    pub weights: Vec<Weight>,
    /// Agents marked unreachable, oldest first.
    #[prost(message, optional, tag = "7")]
    pub unreachable: Option<UnreachableSlaves>,
    /// Agents marked gone, oldest first.
    #[prost(message, optional, tag = "8")]
    pub gone: Option<GoneSlaves>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegistryMaster {
    #[prost(message, required, tag = "1")]
    pub info: MasterInfo,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Slave {
    #[prost(message, required, tag = "1")]
    pub info: SlaveInfo,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Slaves {
    #[prost(message, repeated, tag = "1")]
    pub slaves: Vec<Slave>,
}

/// An agent removed from the cluster at `timestamp`, by id (unreachable or gone).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemovedSlave {
    #[prost(message, required, tag = "1")]
    pub id: SlaveId,
    #[prost(message, required, tag = "2")]
    pub timestamp: TimeInfo,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UnreachableSlaves {
    #[prost(message, repeated, tag = "1")]
    pub slaves: Vec<RemovedSlave>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GoneSlaves {
    #[prost(message, repeated, tag = "1")]
    pub slaves: Vec<RemovedSlave>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Machine {
    #[prost(message, required, tag = "1")]
    pub info: MachineInfo,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Machines {
    #[prost(message, repeated, tag = "1")]
    pub machines: Vec<Machine>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Quota {
    #[prost(message, required, tag = "1")]
    pub info: QuotaInfo,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Weight {
    #[prost(message, required, tag = "1")]
    pub info: WeightInfo,
}

impl Registry {
    /// Admitted agents.
    pub fn admitted(&self) -> &[Slave] {
        self.slaves
            .as_ref()
            .map(|s| s.slaves.as_slice())
            .unwrap_or(&[])
    }

    /// Unreachable agents, oldest first.
    pub fn unreachable(&self) -> &[RemovedSlave] {
        self.unreachable
            .as_ref()
            .map(|s| s.slaves.as_slice())
            .unwrap_or(&[])
    }

    /// Gone agents, oldest first.
    pub fn gone(&self) -> &[RemovedSlave] {
        self.gone
            .as_ref()
            .map(|s| s.slaves.as_slice())
            .unwrap_or(&[])
    }
}
