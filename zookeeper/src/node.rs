//! The znodes of a Mesos master group: names (`json.info_0000000003`) and contents.
//!
//! Genuine masters write `json.info_<seq>` holding MasterInfo as Mesos JSON (sorted keys, no
//! spaces). Older masters wrote `info_<seq>` (binary MasterInfo) or a bare `<seq>` (a UPID
//! string); detectors still read those. Children whose suffix after the last `_` is not a
//! number (e.g. `log_replicas`) belong to other users of the path and are ignored.

use mesos_proto::mesos::MasterInfo;
use prost::Message as _;

/// The label of the nodes our contender creates (genuine Mesos 1.x's).
pub const JSON_LABEL: &str = "json.info";

/// Why a leader node's content could not be read as a MasterInfo.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid MasterInfo JSON in {node}: {reason}")]
    Json { node: String, reason: String },
    #[error("invalid binary MasterInfo in {node}: {source}")]
    Binary {
        node: String,
        #[source]
        source: prost::DecodeError,
    },
    #[error("invalid UPID in {node}: {reason}")]
    Upid { node: String, reason: String },
    #[error("unknown label '{label}' of {node}")]
    UnknownLabel { node: String, label: String },
}

/// A member of the group: a child whose name ends in a sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The child's name, e.g. `json.info_0000000003`.
    pub name: String,
    /// The part before the last `_` (empty for a bare number).
    pub label: String,
    pub sequence: u64,
}

impl Member {
    /// Parses a child name; `None` for children that are not members (no numeric suffix).
    pub fn parse(name: &str) -> Option<Member> {
        let (label, digits) = match name.rsplit_once('_') {
            Some((label, digits)) => (label, digits),
            None => ("", name),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Member {
            name: name.to_string(),
            label: label.to_string(),
            sequence: digits.parse().ok()?,
        })
    }
}

/// The members among `children`, lowest sequence (the leader) first.
pub fn members(children: &[String]) -> Vec<Member> {
    let mut members: Vec<Member> = children.iter().filter_map(|c| Member::parse(c)).collect();
    members.sort_by_key(|m| m.sequence);
    members
}

/// MasterInfo as genuine Mesos writes it into `json.info_*`: Mesos JSON, keys sorted, no
/// spaces.
pub fn encode_json(info: &MasterInfo) -> String {
    // serde_json's map is ordered by key (no `preserve_order`), which gives Mesos's order.
    mesos_proto::json::to_json(info).to_string()
}

/// Reads the content of the leader node `member` (any of the three historical forms).
pub fn decode(member: &Member, data: &[u8]) -> Result<MasterInfo, NodeError> {
    match member.label.as_str() {
        JSON_LABEL => {
            let text = std::str::from_utf8(data).map_err(|e| NodeError::Json {
                node: member.name.clone(),
                reason: e.to_string(),
            })?;
            let info: MasterInfo =
                mesos_proto::json::from_json_str(text).map_err(|e| NodeError::Json {
                    node: member.name.clone(),
                    reason: e.to_string(),
                })?;
            Ok(info)
        }
        "info" => MasterInfo::decode(data).map_err(|source| NodeError::Binary {
            node: member.name.clone(),
            source,
        }),
        "" => {
            let text = std::str::from_utf8(data)
                .map_err(|e| NodeError::Upid {
                    node: member.name.clone(),
                    reason: e.to_string(),
                })?
                .trim();
            let upid = libprocess::pid::Upid::parse(text).map_err(|e| NodeError::Upid {
                node: member.name.clone(),
                reason: e.to_string(),
            })?;
            Ok(MasterInfo {
                id: String::new(),
                ip: u32::from_le_bytes(upid.ip.octets()),
                port: u32::from(upid.port),
                pid: Some(upid.to_string()),
                hostname: Some(upid.ip.to_string()),
                ..Default::default()
            })
        }
        other => Err(NodeError::UnknownLabel {
            node: member.name.clone(),
            label: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::mesos::master_info::{capability::Type, Capability};
    use mesos_proto::mesos::Address;

    /// The MasterInfo of `../shared/wire/captures/zk-json-info.txt` (a genuine 1.11 master).
    pub(crate) fn captured_info() -> MasterInfo {
        MasterInfo {
            id: "43a250e4-64bd-4a87-ae5d-960042a7f534".into(),
            ip: 16777343,
            port: 27050,
            pid: Some("master@127.0.0.1:27050".into()),
            hostname: Some("localhost".into()),
            version: Some("1.11.0".into()),
            address: Some(Address {
                hostname: Some("localhost".into()),
                ip: Some("127.0.0.1".into()),
                port: 27050,
            }),
            domain: None,
            capabilities: [Type::AgentUpdate, Type::AgentDraining, Type::QuotaV2]
                .into_iter()
                .map(|t| Capability {
                    r#type: Some(t as i32),
                })
                .collect(),
        }
    }

    const CAPTURE: &str = r#"{"address":{"hostname":"localhost","ip":"127.0.0.1","port":27050},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}],"hostname":"localhost","id":"43a250e4-64bd-4a87-ae5d-960042a7f534","ip":16777343,"pid":"master@127.0.0.1:27050","port":27050,"version":"1.11.0"}"#;

    #[test]
    fn json_node_content_is_byte_identical_to_a_genuine_master() {
        assert_eq!(encode_json(&captured_info()), CAPTURE);
    }

    #[test]
    fn genuine_json_node_decodes_to_its_master_info() {
        let m = Member::parse("json.info_0000000007").unwrap();
        assert_eq!(decode(&m, CAPTURE.as_bytes()).unwrap(), captured_info());
    }

    #[test]
    fn legacy_binary_and_upid_nodes_decode() {
        let bin = Member::parse("info_0000000001").unwrap();
        let info = captured_info();
        assert_eq!(decode(&bin, &info.encode_to_vec()).unwrap(), info);
        let bare = Member::parse("0000000002").unwrap();
        let upid = decode(&bare, b"master@127.0.0.1:5050").unwrap();
        assert_eq!(upid.ip, 16777343);
        assert_eq!(upid.port, 5050);
        assert_eq!(upid.pid.as_deref(), Some("master@127.0.0.1:5050"));
    }

    #[test]
    fn corrupt_leader_content_is_an_error_not_a_panic() {
        let m = Member::parse("json.info_0000000001").unwrap();
        assert!(matches!(
            decode(&m, b"{\"id\":"),
            Err(NodeError::Json { .. })
        ));
        assert!(matches!(
            decode(&m, &[0xff, 0xfe]),
            Err(NodeError::Json { .. })
        ));
        let bin = Member::parse("info_0000000001").unwrap();
        assert!(matches!(
            decode(&bin, &[0xff; 7]),
            Err(NodeError::Binary { .. })
        ));
    }

    #[test]
    fn lowest_sequence_leads_and_non_members_are_ignored() {
        let children: Vec<String> = [
            "log_replicas",
            "json.info_0000000005",
            "info_0000000003",
            "json.info_0000000004",
            "json.info_x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ms = members(&children);
        assert_eq!(ms.iter().map(|m| m.sequence).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(ms[0].label, "info");
    }
}
