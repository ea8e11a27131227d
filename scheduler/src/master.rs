//! Where the master is: the `--master` forms Mesos accepts (`zk://` through `detection`).

use libprocess::Upid;

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("cannot read master file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "'{0}' is not a master address (expected host:port, master@host:port or file:///path)"
    )]
    Malformed(String),
    #[error(transparent)]
    ZkUrl(#[from] mesos_zookeeper::UrlError),
    #[error("cannot detect the leading master in {url}: {reason}")]
    NoLeader { url: String, reason: String },
}

/// Where a framework's master is: its UPID now and, for `zk://`, where to look for the next
/// leader when that master is lost (the CLIs and example frameworks follow it there).
#[derive(Clone, Debug)]
pub struct MasterSpec {
    pub pid: Upid,
    pub detect: Option<mesos_zookeeper::ZkUrl>,
}

impl From<Upid> for MasterSpec {
    fn from(pid: Upid) -> MasterSpec {
        MasterSpec { pid, detect: None }
    }
}

/// Resolves `--master` like [`parse_master`], keeping the ZooKeeper URL of a `zk://` one
/// (also inside a `file://`) so the leader can be detected again later.
pub fn resolve_master(text: &str) -> Result<MasterSpec, MasterError> {
    let text = text.trim();
    if let Some(path) = text.strip_prefix("file://") {
        let content = std::fs::read_to_string(path).map_err(|source| MasterError::File {
            path: path.to_string(),
            source,
        })?;
        return resolve_master(&content);
    }
    let detect = if text.starts_with("zk://") {
        Some(mesos_zookeeper::ZkUrl::parse(text)?)
    } else {
        None
    };
    Ok(MasterSpec {
        pid: parse_master(text)?,
        detect,
    })
}

/// Resolves `--master` to the master's UPID.
pub fn parse_master(text: &str) -> Result<Upid, MasterError> {
    let text = text.trim();
    if let Some(path) = text.strip_prefix("file://") {
        let content = std::fs::read_to_string(path).map_err(|source| MasterError::File {
            path: path.to_string(),
            source,
        })?;
        return parse_master(&content);
    }
    if text.starts_with("zk://") {
        let url = mesos_zookeeper::ZkUrl::parse(text)?;
        return crate::detection::detect_leader(&url, crate::detection::DETECTION_TIMEOUT);
    }
    let with_id = if text.contains('@') {
        text.to_string()
    } else {
        format!("master@{text}")
    };
    let pid = Upid::resolve(&with_id).map_err(|_| MasterError::Malformed(text.to_string()))?;
    if pid.is_none() || pid.port == 0 {
        return Err(MasterError::Malformed(text.to_string()));
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_port_and_upid_forms() {
        assert_eq!(
            parse_master("127.0.0.1:5050").unwrap().to_string(),
            "master@127.0.0.1:5050"
        );
        assert_eq!(parse_master("master@127.0.0.1:5051").unwrap().port, 5051);
        assert!(matches!(
            parse_master("nonsense"),
            Err(MasterError::Malformed(_))
        ));
        assert!(matches!(
            parse_master("zk://h:2181/"),
            Err(MasterError::ZkUrl(_))
        ));
    }

    #[test]
    fn reads_file_urls() {
        let dir = std::env::temp_dir().join(format!("master-file-{}", std::process::id()));
        std::fs::write(&dir, "127.0.0.1:5050\n").unwrap();
        let url = format!("file://{}", dir.display());
        assert_eq!(parse_master(&url).unwrap().port, 5050);
        let _ = std::fs::remove_file(dir);
    }
}
