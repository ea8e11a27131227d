//! `--registry=local` (our name; genuine Mesos has no such store): the registry in one file
//! under `--work_dir`, for a single master. Writes are atomic and durable: the new content
//! goes to a temp file which is fsynced, renamed over the old file, and the directory is
//! fsynced, so a crash at any point leaves either the old or the new registry. Leftover temp
//! files of a crashed write are ignored and removed.
//!
//! File format: `MRSREG01` magic, version (u64 LE), length (u64 LE), FNV-1a checksum of the
//! data (u64 LE), then the data.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{checksum, Entry, Storage, StorageError, StorageFuture};

const MAGIC: &[u8; 8] = b"MRSREG01";
const HEADER: usize = 32;
const FILE: &str = "registry";
const TEMP_PREFIX: &str = "registry.tmp.";

/// The durable single-master store.
pub struct LocalStorage {
    dir: PathBuf,
    /// Serialises writers and remembers the version on disk (`None`: not read yet).
    state: Arc<Mutex<Option<Option<u64>>>>,
}

impl LocalStorage {
    /// A store in `dir` (created if missing), e.g. `<work_dir>/meta/registry`.
    pub fn new(dir: impl Into<PathBuf>) -> LocalStorage {
        LocalStorage {
            dir: dir.into(),
            state: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(dir: &Path) -> Result<Option<Entry>, StorageError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    // A crash between creating a temp file and the rename leaves it behind: it never held a
    // committed registry.
    for item in fs::read_dir(dir).map_err(io(dir))? {
        let item = item.map_err(io(dir))?;
        if item.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            tracing::info!(file = %item.path().display(), "removing the temp file of an unfinished registry write");
            let _ = fs::remove_file(item.path());
        }
    }
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let corrupt = |reason: String| StorageError::Corrupt {
        location: path.display().to_string(),
        reason,
    };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(corrupt("bad header".into()));
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let (version, len, sum) = (word(8), word(16), word(24));
    let data = &bytes[HEADER..];
    if u64::try_from(data.len()).ok() != Some(len) {
        return Err(corrupt(format!("length {} != recorded {len}", data.len())));
    }
    if checksum(data) != sum {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(Some(Entry {
        version,
        data: data.to_vec(),
    }))
}

fn write(dir: &Path, version: u64, data: &[u8]) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let temp = dir.join(format!("{TEMP_PREFIX}{}", std::process::id()));
    let mut file = File::create(&temp).map_err(io(&temp))?;
    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(&checksum(data).to_le_bytes());
    file.write_all(&header).map_err(io(&temp))?;
    file.write_all(data).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    let path = dir.join(FILE);
    fs::rename(&temp, &path).map_err(io(&path))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

impl Storage for LocalStorage {
    fn fetch(&self) -> StorageFuture<Option<Entry>> {
        let dir = self.dir.clone();
        let state = self.state.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let entry = read(&dir)?;
                *s = Some(entry.as_ref().map(|e| e.version));
                Ok(entry)
            })
            .await
            .map_err(|e| StorageError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })?
        })
    }

    fn store(&self, expected: Option<u64>, data: Vec<u8>) -> StorageFuture<u64> {
        let dir = self.dir.clone();
        let state = self.state.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let found = match *s {
                    Some(v) => v,
                    None => read(&dir)?.map(|e| e.version),
                };
                if found != expected {
                    return Err(StorageError::Conflict { expected, found });
                }
                let version = found.unwrap_or(0).saturating_add(1);
                write(&dir, version, &data)?;
                *s = Some(Some(version));
                Ok(version)
            })
            .await
            .map_err(|e| StorageError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })?
        })
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("registrar-local-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[tokio::test]
    async fn local_store_survives_a_new_instance_and_is_compare_and_swap() {
        let d = dir("cas");
        let s = LocalStorage::new(&d);
        assert_eq!(s.fetch().await.unwrap(), None);
        assert_eq!(s.store(None, b"one".to_vec()).await.unwrap(), 1);
        assert_eq!(s.store(Some(1), b"two".to_vec()).await.unwrap(), 2);
        let again = LocalStorage::new(&d);
        assert_eq!(
            again.fetch().await.unwrap(),
            Some(Entry {
                version: 2,
                data: b"two".to_vec()
            })
        );
        assert!(matches!(
            again.store(Some(1), b"stale".to_vec()).await,
            Err(StorageError::Conflict {
                expected: Some(1),
                found: Some(2)
            })
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    #[tokio::test]
    async fn leftover_temp_file_of_a_crashed_write_is_ignored_and_removed() {
        let d = dir("temp");
        let s = LocalStorage::new(&d);
        s.store(None, b"committed".to_vec()).await.unwrap();
        let temp = d.join(format!("{TEMP_PREFIX}99999"));
        fs::write(&temp, b"MRSREG01 torn half-written garbage").unwrap();
        let fresh = LocalStorage::new(&d);
        assert_eq!(fresh.fetch().await.unwrap().unwrap().data, b"committed");
        assert!(!temp.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[tokio::test]
    async fn corrupt_registry_file_is_an_error_not_a_panic() {
        let d = dir("corrupt");
        let s = LocalStorage::new(&d);
        s.store(None, b"0123456789".to_vec()).await.unwrap();
        let mut bytes = fs::read(s.path()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(s.path(), &bytes).unwrap();
        assert!(matches!(s.fetch().await, Err(StorageError::Corrupt { .. })));
        fs::write(s.path(), &bytes[..20]).unwrap();
        assert!(matches!(s.fetch().await, Err(StorageError::Corrupt { .. })));
        fs::remove_dir_all(&d).unwrap();
    }
}
