//! `--registry=replicated_log` with `--zk`: the registry in ZooKeeper, for several masters.
//!
//! ZooKeeper refuses znodes over ~1 MB, and a registry of 50,000 agents is tens of MB, so the
//! bytes are split into chunks of at most [`CHUNK_BYTES`] under `<root>/chunks/<gen>-<i>`,
//! and `<root>/manifest` names the committed generation (chunk count, size, checksum). A
//! write creates the new generation's chunks first, then commits by one multi-op that sets
//! the manifest at the expected znode version (the compare-and-swap) and checks that every
//! new chunk still exists; only then are older generations deleted. Readers see either the
//! old or the new registry, never a mix. Consensus is ZooKeeper's; nothing here votes.

use std::sync::Arc;

use mesos_zookeeper::zookeeper_client::{self as zk, Client, CreateMode};
use mesos_zookeeper::{SessionOptions, ZkUrl};
use prost::Message as _;
use tokio::sync::Mutex;

use super::{checksum, Entry, Storage, StorageError, StorageFuture};

/// Largest chunk: half of ZooKeeper's default 1 MB `jute.maxbuffer`.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// How often a read retries when a commit replaced the generation it was reading.
const READ_ATTEMPTS: usize = 5;

/// The content of `<root>/manifest`.
#[derive(Clone, PartialEq, prost::Message)]
struct Manifest {
    #[prost(string, tag = "1")]
    generation: String,
    #[prost(uint32, tag = "2")]
    chunks: u32,
    #[prost(uint64, tag = "3")]
    size: u64,
    #[prost(uint64, tag = "4")]
    checksum: u64,
}

/// The ZooKeeper store.
pub struct ZooKeeperStorage {
    inner: Arc<Inner>,
}

struct Inner {
    url: ZkUrl,
    options: SessionOptions,
    root: String,
    client: Mutex<Option<Client>>,
}

impl ZooKeeperStorage {
    /// A store under `url`'s path + `/registry` (a child the master detectors ignore: its
    /// name has no `_<number>` suffix).
    pub fn new(url: ZkUrl, options: SessionOptions) -> ZooKeeperStorage {
        let root = format!("{}/registry", url.path());
        ZooKeeperStorage {
            inner: Arc::new(Inner {
                url,
                options,
                root,
                client: Mutex::new(None),
            }),
        }
    }
}

fn zk_err(e: zk::Error) -> StorageError {
    StorageError::ZooKeeper(e.to_string())
}

impl Inner {
    fn manifest(&self) -> String {
        format!("{}/manifest", self.root)
    }

    fn chunks_dir(&self) -> String {
        format!("{}/chunks", self.root)
    }

    fn chunk(&self, generation: &str, i: u32) -> String {
        format!("{}/{generation}-{i}", self.chunks_dir())
    }

    /// The session, reconnecting after one ended.
    async fn client(&self) -> Client {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.state().is_terminated() {
                return c.clone();
            }
        }
        let c = mesos_zookeeper::session::connect(&self.url, &self.options).await;
        *slot = Some(c.clone());
        c
    }

    async fn fetch(&self) -> Result<Option<Entry>, StorageError> {
        let client = self.client().await;
        for _ in 0..READ_ATTEMPTS {
            let (bytes, stat) = match client.get_data(&self.manifest()).await {
                Ok(r) => r,
                Err(zk::Error::NoNode) => return Ok(None),
                Err(e) => return Err(zk_err(e)),
            };
            let manifest =
                Manifest::decode(bytes.as_slice()).map_err(|e| StorageError::Corrupt {
                    location: self.manifest(),
                    reason: e.to_string(),
                })?;
            let reads: Vec<_> = (0..manifest.chunks)
                .map(|i| client.get_data(&self.chunk(&manifest.generation, i)))
                .collect();
            let mut data = Vec::new();
            let mut replaced = false;
            for result in futures::future::join_all(reads).await {
                match result {
                    Ok((chunk, _)) => data.extend_from_slice(&chunk),
                    // A newer commit deleted this generation meanwhile: read again.
                    Err(zk::Error::NoNode) => replaced = true,
                    Err(e) => return Err(zk_err(e)),
                }
            }
            if replaced {
                continue;
            }
            if u64::try_from(data.len()).ok() != Some(manifest.size)
                || checksum(&data) != manifest.checksum
            {
                return Err(StorageError::Corrupt {
                    location: self.root.clone(),
                    reason: format!(
                        "generation {} has {} bytes (manifest says {}) or a bad checksum",
                        manifest.generation,
                        data.len(),
                        manifest.size
                    ),
                });
            }
            let version = u64::try_from(stat.version).unwrap_or(0).saturating_add(1);
            return Ok(Some(Entry { version, data }));
        }
        Err(StorageError::ZooKeeper(format!(
            "the registry under {} kept changing while being read",
            self.root
        )))
    }

    async fn store(&self, expected: Option<u64>, data: Vec<u8>) -> Result<u64, StorageError> {
        let client = self.client().await;
        let acls = mesos_zookeeper::session::acls(&self.url);
        let persistent = CreateMode::Persistent.with_acls(zk::Acls::new(&acls));
        client
            .mkdir(&self.chunks_dir(), &persistent)
            .await
            .map_err(zk_err)?;
        let generation = format!(
            "{:016x}",
            checksum(
                format!(
                    "{:?}{:?}",
                    client.session_id(),
                    std::time::SystemTime::now()
                )
                .as_bytes()
            )
        );
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(CHUNK_BYTES).collect()
        };
        let count = u32::try_from(pieces.len()).map_err(|_| StorageError::Corrupt {
            location: self.root.clone(),
            reason: "registry too large".into(),
        })?;
        let creates: Vec<_> = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let path = self.chunk(&generation, i as u32);
                let persistent = persistent.clone();
                let client = client.clone();
                let piece = piece.to_vec();
                async move { client.create(&path, &piece, &persistent).await }
            })
            .collect();
        for r in futures::future::join_all(creates).await {
            if let Err(e) = r {
                self.delete_generation(&client, &generation, count).await;
                return Err(zk_err(e));
            }
        }
        let manifest = Manifest {
            generation: generation.clone(),
            chunks: count,
            size: u64::try_from(data.len()).unwrap_or(u64::MAX),
            checksum: checksum(&data),
        }
        .encode_to_vec();
        let committed = self
            .commit(&client, expected, &manifest, &generation, count)
            .await;
        match committed {
            Ok(version) => {
                self.delete_other_generations(&client, &generation).await;
                Ok(version)
            }
            Err(e) => {
                self.delete_generation(&client, &generation, count).await;
                Err(e)
            }
        }
    }

    /// The compare-and-swap: manifest at the expected version, and our chunks still there.
    async fn commit(
        &self,
        client: &Client,
        expected: Option<u64>,
        manifest: &[u8],
        generation: &str,
        count: u32,
    ) -> Result<u64, StorageError> {
        let mut multi = client.new_multi_writer();
        let conflict = |found| StorageError::Conflict { expected, found };
        match expected {
            None => {
                let acls = mesos_zookeeper::session::acls(&self.url);
                let persistent = CreateMode::Persistent.with_acls(zk::Acls::new(&acls));
                multi
                    .add_create(&self.manifest(), manifest, &persistent)
                    .map_err(zk_err)?;
            }
            Some(v) => {
                let znode_version = v
                    .checked_sub(1)
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| conflict(None))?;
                multi
                    .add_set_data(&self.manifest(), manifest, Some(znode_version))
                    .map_err(zk_err)?;
            }
        }
        for i in 0..count {
            multi
                .add_check_version(&self.chunk(generation, i), 0)
                .map_err(zk_err)?;
        }
        match multi.commit().await {
            Ok(results) => {
                let version = results
                    .into_iter()
                    .find_map(|r| match r {
                        zk::MultiWriteResult::SetData { stat } => Some(stat.version),
                        zk::MultiWriteResult::Create { .. } => Some(0),
                        _ => None,
                    })
                    .unwrap_or(0);
                Ok(u64::try_from(version).unwrap_or(0).saturating_add(1))
            }
            Err(zk::MultiWriteError::OperationFailed {
                source: zk::Error::BadVersion | zk::Error::NodeExists | zk::Error::NoNode,
                ..
            }) => {
                let found = client
                    .check_stat(&self.manifest())
                    .await
                    .ok()
                    .flatten()
                    .and_then(|s| u64::try_from(s.version).ok())
                    .map(|v| v.saturating_add(1));
                Err(conflict(found))
            }
            Err(e) => Err(zk_err(e.into())),
        }
    }

    async fn delete_generation(&self, client: &Client, generation: &str, count: u32) {
        let deletes: Vec<_> = (0..count)
            .map(|i| client.delete(&self.chunk(generation, i), None))
            .collect();
        futures::future::join_all(deletes).await;
    }

    /// Removes superseded chunks (and orphans of writers that crashed before committing).
    async fn delete_other_generations(&self, client: &Client, keep: &str) {
        let Ok(children) = client.list_children(&self.chunks_dir()).await else {
            return;
        };
        let prefix = format!("{keep}-");
        let deletes: Vec<_> = children
            .iter()
            .filter(|c| !c.starts_with(&prefix))
            .map(|c| client.delete(&format!("{}/{c}", self.chunks_dir()), None))
            .collect();
        futures::future::join_all(deletes).await;
    }
}

impl Storage for ZooKeeperStorage {
    fn fetch(&self) -> StorageFuture<Option<Entry>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.fetch().await })
    }

    fn store(&self, expected: Option<u64>, data: Vec<u8>) -> StorageFuture<u64> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.store(expected, data).await })
    }

    fn kind(&self) -> &'static str {
        "zookeeper"
    }
}
