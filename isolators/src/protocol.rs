//! The isolator messages: typed requests and responses that travel between a client
//! ([`crate::IsolatorHandle`]) and an isolator process over the libprocess transport.
//!
//! These are our own messages, not Mesos's, so bodies are MessagePack (`rmp-serde`)
//! rather than protobuf; the Mesos types they carry (`ExecutorInfo`, `Resource`,
//! `ResourceStatistics`) are embedded as their protobuf bytes so that an external isolator
//! sees exactly the proto the agent has. Every request names its call in the message name
//! (`mesos_rs.isolator.Prepare`, ...) so test filters can drop or hold one kind of call.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};
use serde::{Deserialize, Serialize};

/// Prefix of every isolator message name.
pub const MESSAGE_PREFIX: &str = "mesos_rs.isolator.";
/// Name of the single response message (the correlation id says which call it answers).
pub const RESPONSE: &str = "mesos_rs.isolator.Response";

/// A container id, validated because isolators use it as a path component (cgroup names,
/// directories) and it may come from a peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

/// Why a container id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container id {0:?}: must be 1-255 characters of [A-Za-z0-9._-], not '.' or '..'")]
pub struct InvalidContainerId(pub String);

impl ContainerId {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidContainerId> {
        let value = value.into();
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if value.is_empty() || value.len() > 255 || !valid_chars || value == "." || value == ".." {
            return Err(InvalidContainerId(value));
        }
        Ok(ContainerId(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContainerId {
    type Error = InvalidContainerId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ContainerId::new(value)
    }
}

impl From<ContainerId> for String {
    fn from(id: ContainerId) -> String {
        id.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Linux namespace an isolator asks the launcher to unshare for the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Namespace {
    Pid,
    Mount,
    Net,
    Ipc,
    Uts,
}

/// What an isolator needs from the launcher (Mesos's `ContainerLaunchInfo`, reduced to what
/// our isolators use): a prefix to run the executor command under, environment variables
/// and namespaces to unshare.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchInfo {
    pub command_prefix: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub namespaces: Vec<Namespace>,
}

impl LaunchInfo {
    /// Folds another isolator's launch info into this one (prefixes nest in isolator order).
    pub fn merge(&mut self, other: LaunchInfo) {
        self.command_prefix.extend(other.command_prefix);
        self.environment.extend(other.environment);
        for ns in other.namespaces {
            if !self.namespaces.contains(&ns) {
                self.namespaces.push(ns);
            }
        }
    }
}

/// Why a container hit a limit; maps to `TaskStatus.Reason` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitationReason {
    Memory,
    Disk,
    Other,
}

impl LimitationReason {
    /// The `mesos.TaskStatus.Reason` a terminal status carries for this limitation.
    pub fn task_status_reason(self) -> mesos_proto::mesos::task_status::Reason {
        use mesos_proto::mesos::task_status::Reason;
        match self {
            LimitationReason::Memory => Reason::ContainerLimitationMemory,
            LimitationReason::Disk => Reason::ContainerLimitationDisk,
            LimitationReason::Other => Reason::ContainerLimitation,
        }
    }
}

/// A limit a container reached (Mesos's `ContainerLimitation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limitation {
    #[serde(with = "proto_list")]
    pub resources: Vec<Resource>,
    pub message: String,
    pub reason: LimitationReason,
}

/// What the agent checkpointed about a container, handed to `recover`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub container_id: ContainerId,
    #[serde(with = "proto_one")]
    pub executor_info: ExecutorInfo,
    pub pid: u32,
    pub directory: PathBuf,
}

/// One call of the isolator protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Call {
    Recover {
        states: Vec<ContainerState>,
        orphans: Vec<ContainerId>,
    },
    Prepare {
        container_id: ContainerId,
        #[serde(with = "proto_one")]
        executor_info: Box<ExecutorInfo>,
        directory: PathBuf,
        user: Option<String>,
    },
    Isolate {
        container_id: ContainerId,
        pid: u32,
    },
    Watch {
        container_id: ContainerId,
    },
    Update {
        container_id: ContainerId,
        #[serde(with = "proto_list")]
        resources: Vec<Resource>,
    },
    Usage {
        container_id: ContainerId,
    },
    Cleanup {
        container_id: ContainerId,
    },
}

impl Call {
    /// The short name of the call, also the suffix of its message name.
    pub fn kind(&self) -> &'static str {
        match self {
            Call::Recover { .. } => "Recover",
            Call::Prepare { .. } => "Prepare",
            Call::Isolate { .. } => "Isolate",
            Call::Watch { .. } => "Watch",
            Call::Update { .. } => "Update",
            Call::Usage { .. } => "Usage",
            Call::Cleanup { .. } => "Cleanup",
        }
    }

    /// The libprocess message name this call travels under.
    pub fn message_name(&self) -> String {
        format!("{MESSAGE_PREFIX}{}", self.kind())
    }
}

/// Every call's message name, for installing handlers.
pub const CALL_KINDS: [&str; 7] = [
    "Recover", "Prepare", "Isolate", "Watch", "Update", "Usage", "Cleanup",
];

/// A request: a call plus the id its response will carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub call: Call,
}

/// A successful call's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Prepared(Option<LaunchInfo>),
    Limited(Limitation),
    Usage(#[serde(with = "proto_one")] Box<ResourceStatistics>),
    /// The answer to a `Watch` whose container was cleaned up before any limit was
    /// reached (Mesos discards such a watch): the client forgets the call.
    Discarded,
}

/// The answer to request `id`: a result or the isolator's error message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub result: Result<Reply, String>,
}

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("failed to encode isolator message: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("failed to decode isolator message: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

/// Encodes a message body (MessagePack, fields by name so peers can evolve independently).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(value)?)
}

pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, CodecError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// Serde for one embedded protobuf message, as its wire bytes.
mod proto_one {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer, M: prost::Message>(m: &M, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&m.encode_to_vec())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, M: prost::Message + Default>(
        d: D,
    ) -> Result<M, D::Error> {
        let bytes = d.deserialize_bytes(super::BytesVisitor)?;
        M::decode(bytes.as_slice()).map_err(serde::de::Error::custom)
    }
}

/// Serde for a list of embedded protobuf messages.
mod proto_list {
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer, M: prost::Message>(
        list: &[M],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for m in list {
            seq.serialize_element(&serde_bytes_ref(&m.encode_to_vec()))?;
        }
        seq.end()
    }

    struct Raw<'a>(&'a [u8]);
    impl serde::Serialize for Raw<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    fn serde_bytes_ref(b: &[u8]) -> Raw<'_> {
        Raw(b)
    }

    struct Item(Vec<u8>);
    impl<'de> serde::Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_bytes(super::BytesVisitor).map(Item)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, M: prost::Message + Default>(
        d: D,
    ) -> Result<Vec<M>, D::Error> {
        let items: Vec<Item> = serde::Deserialize::deserialize(d)?;
        items
            .into_iter()
            .map(|Item(b)| M::decode(b.as_slice()).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Accepts bytes (MessagePack `bin`) or a sequence of small integers.
struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("protobuf bytes")
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::new();
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::{value, ExecutorId};

    fn cid(s: &str) -> ContainerId {
        ContainerId::new(s).expect("valid id")
    }

    #[test]
    fn container_ids_that_could_escape_a_cgroup_path_are_rejected() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0"] {
            assert!(ContainerId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ContainerId::new("0b6c-4f.x_y").is_ok());
        // The check also applies to ids arriving in a message body.
        let body = encode(&"../etc".to_string()).expect("encode");
        assert!(decode::<ContainerId>(&body).is_err());
    }

    #[test]
    fn requests_and_responses_round_trip_with_embedded_protobufs() {
        let executor = ExecutorInfo {
            executor_id: ExecutorId { value: "e1".into() },
            ..Default::default()
        };
        let mem = Resource {
            name: "mem".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 64.0 }),
            ..Default::default()
        };
        let calls = vec![
            Call::Prepare {
                container_id: cid("c1"),
                executor_info: Box::new(executor.clone()),
                directory: "/tmp/sandbox".into(),
                user: Some("nobody".into()),
            },
            Call::Update {
                container_id: cid("c1"),
                resources: vec![mem.clone()],
            },
            Call::Recover {
                states: vec![ContainerState {
                    container_id: cid("c2"),
                    executor_info: executor,
                    pid: 42,
                    directory: "/d".into(),
                }],
                orphans: vec![cid("c3")],
            },
        ];
        for (id, call) in calls.into_iter().enumerate() {
            let req = Request {
                id: id as u64,
                call,
            };
            let back: Request = decode(&encode(&req).expect("encode")).expect("decode");
            assert_eq!(back, req);
        }
        let stats = ResourceStatistics {
            timestamp: 1.5,
            mem_rss_bytes: Some(7),
            ..Default::default()
        };
        for result in [
            Ok(Reply::Usage(Box::new(stats))),
            Ok(Reply::Limited(Limitation {
                resources: vec![mem],
                message: "Memory limit exceeded".into(),
                reason: LimitationReason::Memory,
            })),
            Err("boom".to_string()),
        ] {
            let resp = Response { id: 9, result };
            let back: Response = decode(&encode(&resp).expect("encode")).expect("decode");
            assert_eq!(back, resp);
        }
    }

    #[test]
    fn garbage_bodies_are_a_decode_error_not_a_panic() {
        for body in [&b""[..], b"\xff\xff", b"\x82\xa2id"] {
            assert!(decode::<Request>(body).is_err());
        }
    }

    #[test]
    fn limitation_reasons_map_to_mesos_task_status_reasons() {
        use mesos_proto::mesos::task_status::Reason;
        assert_eq!(
            LimitationReason::Memory.task_status_reason(),
            Reason::ContainerLimitationMemory
        );
        assert_eq!(
            LimitationReason::Disk.task_status_reason(),
            Reason::ContainerLimitationDisk
        );
    }
}
