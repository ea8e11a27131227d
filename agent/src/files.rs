//! `/files/read` and `/files/download`, served off the agent's mailbox (a blocking thread
//! does the file I/O) with bounded memory, with the genuine `files` process's semantics:
//! - `read`: `offset` absent or `-1` answers `{"data":"","offset":<file size>}` (how the
//!   web UI's pailer learns the size); `offset` at or past the end answers no data at that
//!   offset; `length` absent or `-1` means "to the end", and every read is capped at
//!   [`MAX_READ`] bytes (Mesos caps at 16 pages: 64 KiB with 4 KiB pages).
//! - `download`: the file as a chunked stream, at most [`DOWNLOAD_WINDOW`] chunks of
//!   [`DOWNLOAD_CHUNK`] bytes in memory however slowly the client reads.
//! - Bad input (non-numbers, offsets or lengths below -1, directories, paths that resolve
//!   outside the work directory) is a 400 with a message; paths not under the work
//!   directory at all are 404, as unattached paths are in Mesos.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use libprocess::{Reply, Request, Response};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use crate::paths::{confine, ConfineError};

/// The most one `/files/read` returns (Mesos: 16 × the page size).
pub const MAX_READ: u64 = 16 * 4096;
/// Bytes per chunk of a download.
pub const DOWNLOAD_CHUNK: usize = 64 * 1024;
/// Chunks of one download that may wait in memory for a slow client.
pub const DOWNLOAD_WINDOW: usize = 4;

/// Why a `/files` request fails.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilesError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Internal(String),
}

impl FilesError {
    pub(crate) fn response(&self) -> Response {
        match self {
            FilesError::BadRequest(m) => Response::bad_request(format!("{m}\n")),
            FilesError::NotFound => Response::not_found(),
            FilesError::Internal(m) => Response::new(500, format!("{m}\n")),
        }
    }
}

/// A `/files/read` request's range. `offset: None` asks for the size only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRange {
    pub offset: Option<u64>,
    pub length: Option<u64>,
}

/// Parses `offset` and `length` as Mesos does (both may be -1; nothing below).
pub fn parse_range(req: &Request) -> Result<ReadRange, FilesError> {
    let number = |name: &str| -> Result<Option<i64>, FilesError> {
        let Some(text) = req.query(name) else {
            return Ok(None);
        };
        // The genuine agent's wording (stout's numify).
        let n: i64 = text.trim().parse().map_err(|_| {
            FilesError::BadRequest(format!(
                "Failed to parse {name}: Failed to convert '{text}' to number."
            ))
        })?;
        if n < -1 {
            return Err(FilesError::BadRequest(format!(
                "Negative {name} provided: {n}."
            )));
        }
        Ok(Some(n))
    };
    let offset = number("offset")?.unwrap_or(-1);
    let length = number("length")?.unwrap_or(-1);
    Ok(ReadRange {
        offset: u64::try_from(offset).ok(),
        length: u64::try_from(length).ok(),
    })
}

/// Resolves `path=` under the work directory.
pub fn resolve(work_dir: &Path, req: &Request) -> Result<PathBuf, FilesError> {
    let requested = req
        .query("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| FilesError::BadRequest("Expecting 'path=value' in query.".into()))?;
    resolve_path(work_dir, requested)
}

/// Resolves a requested path under the work directory (`/files` and the operator API).
pub fn resolve_path(work_dir: &Path, requested: &str) -> Result<PathBuf, FilesError> {
    confine(work_dir, requested).map_err(|e| match e {
        ConfineError::NotFound => FilesError::NotFound,
        // Under the served directory but resolving outside it (a symlink).
        ConfineError::Escapes if Path::new(requested).starts_with(work_dir) => {
            FilesError::BadRequest(format!("'{requested}' is inaccessible."))
        }
        ConfineError::Escapes => FilesError::NotFound,
        other => FilesError::BadRequest(format!("'{requested}': {other}.")),
    })
}

/// Refuses FIFOs, sockets and devices: opening or reading one could block a thread forever.
fn regular_file(path: &Path) -> Result<(), FilesError> {
    match std::fs::metadata(path) {
        Ok(md) if md.is_file() => Ok(()),
        Ok(_) => Err(FilesError::BadRequest(format!(
            "'{}' is not a regular file.",
            path.display()
        ))),
        Err(_) => Err(FilesError::NotFound),
    }
}

/// Reads `range` of the file: `(file size, bytes)`; at most [`MAX_READ`] bytes.
pub fn read_range(path: &Path, range: ReadRange) -> Result<(u64, Vec<u8>), FilesError> {
    if path.is_dir() {
        return Err(FilesError::BadRequest("Cannot read a directory.".into()));
    }
    regular_file(path)?;
    let open_err = |e: std::io::Error| {
        FilesError::Internal(format!("Failed to open file at '{}': {e}", path.display()))
    };
    let mut file = File::open(path).map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    let Some(offset) = range.offset.filter(|o| *o < size) else {
        return Ok((size, Vec::new()));
    };
    let wanted = range
        .length
        .unwrap_or(size - offset)
        .min(MAX_READ)
        .min(size - offset);
    file.seek(SeekFrom::Start(offset)).map_err(|e| {
        FilesError::Internal(format!("Failed to seek file at '{}': {e}", path.display()))
    })?;
    let mut data = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
    file.take(wanted).read_to_end(&mut data).map_err(|e| {
        FilesError::Internal(format!("Failed to read file at '{}': {e}", path.display()))
    })?;
    Ok((size, data))
}

/// `/files/read` on a blocking thread.
pub(crate) fn read(work_dir: PathBuf, req: Request) -> Reply {
    let (reply, tx) = Reply::later();
    tokio::task::spawn_blocking(move || {
        let answer = parse_range(&req)
            .and_then(|range| Ok((range, resolve(&work_dir, &req)?)))
            .and_then(|(range, path)| Ok((range, read_range(&path, range)?)));
        let response = match answer {
            Ok((range, (size, data))) => {
                let offset = range.offset.unwrap_or(size);
                let body = json!({"data": String::from_utf8_lossy(&data), "offset": offset});
                libprocess::http::json_reply(&req, body.to_string())
            }
            Err(e) => {
                tracing::debug!(error = %e, "/files/read refused");
                e.response()
            }
        };
        let _ = tx.send(response);
    });
    reply
}

/// `/files/download` as a chunked stream fed by a blocking reader.
pub(crate) fn download(work_dir: PathBuf, req: Request) -> Reply {
    let (reply, tx) = Reply::later();
    tokio::task::spawn_blocking(move || {
        let opened = resolve(&work_dir, &req).and_then(|path| {
            if path.is_dir() {
                return Err(FilesError::BadRequest(
                    "Cannot download a directory.".into(),
                ));
            }
            regular_file(&path)?;
            let file = File::open(&path).map_err(|e| {
                FilesError::Internal(format!("Failed to open file at '{}': {e}", path.display()))
            })?;
            Ok((path, file))
        });
        let (path, file) = match opened {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(e.response());
                return;
            }
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (response, chunks) = Response::stream(200);
        let response = response
            .with_header("Content-Type", "application/octet-stream")
            .with_header(
                "Content-Disposition",
                format!("attachment; filename={name}"),
            );
        if tx.send(response).is_err() {
            return;
        }
        if let Err(e) = stream_file(file, &chunks, DOWNLOAD_WINDOW) {
            tracing::warn!(path = %path.display(), error = %e, "download ended early");
        }
    });
    reply
}

/// Bounds the chunks of one stream that exist at once: a chunk holds a slot until the
/// server drops it (after writing it to the socket).
#[derive(Default)]
struct Window {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Window {
    fn acquire(self: &Arc<Self>, max: usize) -> Slot {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= max {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot(self.clone())
    }
}

struct Slot(Arc<Window>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// A chunk's bytes and its window slot, released when the chunk is dropped.
struct Chunk {
    data: Vec<u8>,
    _slot: Slot,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// Sends `reader` in chunks, with at most `window` chunks alive at once. Returns when the
/// reader ends or the client went away.
fn stream_file(
    mut reader: impl Read,
    out: &UnboundedSender<Bytes>,
    window: usize,
) -> std::io::Result<()> {
    let slots = Arc::new(Window::default());
    loop {
        let slot = slots.acquire(window.max(1));
        let mut data = vec![0u8; DOWNLOAD_CHUNK];
        let n = loop {
            match reader.read(&mut data) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(());
        }
        data.truncate(n);
        let chunk = Bytes::from_owner(Chunk { data, _slot: slot });
        if out.send(chunk).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("agent-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.canonicalize().unwrap()
    }

    fn range(q: &str) -> Result<ReadRange, FilesError> {
        parse_range(&Request::new("GET", &format!("/files/read?{q}")))
    }

    #[test]
    fn offsets_and_lengths_parse_like_mesos() {
        assert_eq!(
            range("path=/x"),
            Ok(ReadRange {
                offset: None,
                length: None
            })
        );
        assert_eq!(
            range("offset=-1&length=-1"),
            Ok(ReadRange {
                offset: None,
                length: None
            })
        );
        assert_eq!(
            range("offset=5&length=10"),
            Ok(ReadRange {
                offset: Some(5),
                length: Some(10)
            })
        );
        for bad in [
            "offset=-2",
            "length=-5",
            "offset=abc",
            "length=1e3",
            "offset=99999999999999999999999",
        ] {
            assert!(
                matches!(range(bad), Err(FilesError::BadRequest(_))),
                "{bad} accepted"
            );
        }
        assert_eq!(
            range("offset=abc"),
            Err(FilesError::BadRequest(
                "Failed to parse offset: Failed to convert 'abc' to number.".into()
            ))
        );
        assert_eq!(
            range("offset=-7"),
            Err(FilesError::BadRequest(
                "Negative offset provided: -7.".into()
            ))
        );
    }

    #[test]
    fn read_returns_only_the_requested_range_capped_at_max_read() {
        let d = scratch("range");
        let f = d.join("log");
        let content: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&f, &content).unwrap();
        let r = |offset, length| ReadRange { offset, length };
        assert_eq!(
            read_range(&f, r(Some(3), Some(4))).unwrap(),
            (200_000, b"defg".to_vec())
        );
        // The size only.
        assert_eq!(read_range(&f, r(None, None)).unwrap(), (200_000, vec![]));
        // Past the end: nothing.
        assert_eq!(
            read_range(&f, r(Some(u64::MAX), Some(10))).unwrap(),
            (200_000, vec![])
        );
        // No length: to the end, but never more than MAX_READ.
        let (_, all) = read_range(&f, r(Some(0), None)).unwrap();
        assert_eq!(all.len() as u64, MAX_READ);
        let (_, huge) = read_range(&f, r(Some(10), Some(u64::MAX))).unwrap();
        assert_eq!(huge.len() as u64, MAX_READ);
        assert_eq!(&huge[..], &content[10..10 + MAX_READ as usize]);
        // The tail is shorter than the cap.
        let (_, tail) = read_range(&f, r(Some(199_990), None)).unwrap();
        assert_eq!(&tail[..], &content[199_990..]);
        assert!(matches!(
            read_range(&d, r(Some(0), None)),
            Err(FilesError::BadRequest(_))
        ));
        // A FIFO would block the reading thread until a writer came: refused.
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(matches!(
            read_range(&fifo, r(Some(0), None)),
            Err(FilesError::BadRequest(m)) if m.contains("not a regular file")
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn paths_resolving_outside_the_work_dir_are_refused() {
        let d = scratch("resolve");
        let work = d.join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(d.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), work.join("escape")).unwrap();
        std::fs::write(work.join("ok"), "yes").unwrap();
        let req = |p: &str| Request::new("GET", &format!("/files/read?path={p}"));
        assert_eq!(
            resolve(&work, &req(&work.join("ok").display().to_string())),
            Ok(work.join("ok"))
        );
        let escape = work.join("escape").display().to_string();
        assert_eq!(
            resolve(&work, &req(&escape)),
            Err(FilesError::BadRequest(format!(
                "'{escape}' is inaccessible."
            )))
        );
        assert_eq!(
            resolve(&work, &req(&d.join("secret").display().to_string())),
            Err(FilesError::NotFound)
        );
        assert!(matches!(
            resolve(&work, &req(&format!("{}/../secret", work.display()))),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            resolve(&work, &Request::new("GET", "/files/read")),
            Err(FilesError::BadRequest(_))
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A reader that counts how much has been read from it.
    struct Counting {
        read: Arc<Mutex<usize>>,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut r = self.read.lock().unwrap();
            if *r >= 100 * DOWNLOAD_CHUNK {
                return Ok(0);
            }
            buf.fill(b'x');
            *r += buf.len();
            Ok(buf.len())
        }
    }

    #[test]
    fn a_download_keeps_at_most_its_window_of_chunks_for_a_client_that_does_not_read() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let read = Arc::new(Mutex::new(0));
        let reader = Counting { read: read.clone() };
        let producer = std::thread::spawn(move || stream_file(reader, &tx, 3));
        // Nobody drains the stream: the reader stops after 3 chunks.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(*read.lock().unwrap(), 3 * DOWNLOAD_CHUNK);
        // Draining lets it finish; every byte arrives.
        let mut total = 0;
        while let Some(chunk) = rx.blocking_recv() {
            total += chunk.len();
        }
        producer.join().unwrap().unwrap();
        assert_eq!(total, 100 * DOWNLOAD_CHUNK);
    }
}
