//! Where the registry lives: a versioned blob with compare-and-swap writes. The registrar
//! owns the encoding; a store only keeps bytes and refuses a write whose expected version is
//! stale (another master wrote meanwhile), which is what makes a demoted leader harmless.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

pub mod local;
pub mod zookeeper;

pub use local::LocalStorage;
pub use zookeeper::ZooKeeperStorage;

/// A boxed store operation (stores are used as trait objects).
pub type StorageFuture<T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send>>;

/// A stored registry and its version (versions start at 1 and grow by one per write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub version: u64,
    pub data: Vec<u8>,
}

/// Failures of a store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("version conflict: expected {expected:?}, found {found:?} (the registry was written by someone else)")]
    Conflict {
        expected: Option<u64>,
        found: Option<u64>,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt registry in {location}: {reason}")]
    Corrupt { location: String, reason: String },
    #[error("ZooKeeper: {0}")]
    ZooKeeper(String),
}

/// A versioned store of the registry's bytes.
pub trait Storage: Send + Sync + 'static {
    /// The stored entry; `None` if nothing was ever stored.
    fn fetch(&self) -> StorageFuture<Option<Entry>>;
    /// Replaces the entry if its version is still `expected` (`None`: nothing stored yet);
    /// returns the new version, or [`StorageError::Conflict`].
    fn store(&self, expected: Option<u64>, data: Vec<u8>) -> StorageFuture<u64>;
    /// For logs: `in_memory`, `local`, `zookeeper`.
    fn kind(&self) -> &'static str;
}

/// `--registry=in_memory`: nothing survives the process (for tests and throwaway clusters).
#[derive(Default)]
pub struct InMemoryStorage {
    entry: Mutex<Option<Entry>>,
}

impl Storage for InMemoryStorage {
    fn fetch(&self) -> StorageFuture<Option<Entry>> {
        let entry = self.entry.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { Ok(entry) })
    }

    fn store(&self, expected: Option<u64>, data: Vec<u8>) -> StorageFuture<u64> {
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        let found = entry.as_ref().map(|e| e.version);
        let result = if found == expected {
            let version = found.unwrap_or(0).saturating_add(1);
            *entry = Some(Entry { version, data });
            Ok(version)
        } else {
            Err(StorageError::Conflict { expected, found })
        };
        Box::pin(async move { result })
    }

    fn kind(&self) -> &'static str {
        "in_memory"
    }
}

/// FNV-1a (64 bit): detects torn or corrupted registry bytes; not a security measure.
pub(crate) fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_store_is_compare_and_swap() {
        let s = InMemoryStorage::default();
        assert_eq!(s.fetch().await.unwrap(), None);
        assert_eq!(s.store(None, b"a".to_vec()).await.unwrap(), 1);
        assert!(matches!(
            s.store(None, b"b".to_vec()).await,
            Err(StorageError::Conflict {
                expected: None,
                found: Some(1)
            })
        ));
        assert_eq!(s.store(Some(1), b"c".to_vec()).await.unwrap(), 2);
        assert_eq!(
            s.fetch().await.unwrap(),
            Some(Entry {
                version: 2,
                data: b"c".to_vec()
            })
        );
    }
}
