//! The master's own files, as Mesos's master attaches them: its log at the virtual path
//! `/master/log` when `--external_log_file` names one, nothing otherwise. Served through
//! the operator API (LIST_FILES, READ_FILE) and `/files/browse`, `/files/read`,
//! `/files/debug` (with their `.json` aliases; no `/files/download` here), with the genuine `files` process's semantics: any other path is 404,
//! reads are capped at 16 pages, an offset at or past the end answers no data.
//!
//! File I/O runs on blocking threads: a slow disk never delays the master's mailbox.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use libprocess::{Ctx, Reply, Request, Response};
use mesos_proto::mesos::FileInfo;
use serde_json::json;

use crate::master::Master;

/// Where the master's log is shown to operators.
pub const LOG_PATH: &str = "/master/log";
/// The most one read returns (Mesos: 16 pages of 4 KiB).
pub const MAX_READ: u64 = 16 * 4096;

/// Why a file request is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilesError {
    #[error("{0}")]
    BadRequest(String),
    #[error("No file or directory at '{0}' on this master")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl FilesError {
    pub fn response(&self) -> Response {
        let status = match self {
            FilesError::BadRequest(_) => 400,
            FilesError::NotFound(_) => 404,
            FilesError::Internal(_) => 500,
        };
        Response::new(status, format!("{self}\n"))
    }
}

/// What the master has attached: `/master/log` → the external log file, if any.
#[derive(Debug, Clone, Default)]
pub struct Attached {
    pub log: Option<PathBuf>,
}

impl Attached {
    /// The real file behind a requested path.
    fn resolve(&self, path: &str) -> Result<PathBuf, FilesError> {
        if path.is_empty() {
            return Err(FilesError::BadRequest(
                "Expecting 'path' to be non-empty".into(),
            ));
        }
        match (&self.log, path.trim_end_matches('/')) {
            (Some(log), LOG_PATH) => Ok(log.clone()),
            _ => Err(FilesError::NotFound(path.to_string())),
        }
    }

    /// `/files/debug`: the attached paths and the files behind them.
    pub fn debug_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        if let Some(log) = &self.log {
            out.insert(LOG_PATH.into(), log.display().to_string().into());
        }
        serde_json::Value::Object(out)
    }

    /// LIST_FILES and `/files/browse`: the attached log is a file, and a file lists
    /// nothing (as genuine's `files` process answers); other paths are not found.
    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>, FilesError> {
        let real = self.resolve(path)?;
        std::fs::metadata(&real).map_err(|_| FilesError::NotFound(path.to_string()))?;
        Ok(Vec::new())
    }

    /// READ_FILE and `/files/read`: `(size, data)`, at most [`MAX_READ`] bytes from
    /// `offset`; none at or past the end; `length` 0 answers the size alone.
    pub fn read(
        &self,
        path: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(u64, Vec<u8>), FilesError> {
        if offset > i64::MAX as u64 {
            return Err(FilesError::BadRequest(format!(
                "Offset {offset} is past the largest possible file offset"
            )));
        }
        let real = self.resolve(path)?;
        let failed = |what: &str, e: std::io::Error| {
            FilesError::Internal(format!("Failed to {what} file at '{path}': {e}"))
        };
        let mut file = File::open(&real).map_err(|e| failed("open", e))?;
        let md = file.metadata().map_err(|e| failed("open", e))?;
        if !md.is_file() {
            return Err(FilesError::BadRequest(format!(
                "'{path}' is not a regular file"
            )));
        }
        let size = md.len();
        let wanted = length
            .unwrap_or(u64::MAX)
            .min(MAX_READ)
            .min(size.saturating_sub(offset));
        if wanted == 0 {
            return Ok((size, Vec::new()));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| failed("seek", e))?;
        let mut data = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
        file.take(wanted)
            .read_to_end(&mut data)
            .map_err(|e| failed("read", e))?;
        Ok((size, data))
    }
}

/// Runs `f` on a blocking thread and replies with its response.
pub(crate) fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Reply {
    let (reply, tx) = Reply::later();
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(f());
    });
    reply
}

pub(crate) fn install(ctx: &mut Ctx<'_, Master>) {
    for path in ["/files/browse", "/files/browse.json"] {
        ctx.route(path, |m, _, req| browse(m.attached_files(), req));
    }
    for path in ["/files/read", "/files/read.json"] {
        ctx.route(path, |m, _, req| read(m.attached_files(), req));
    }
    for path in ["/files/debug", "/files/debug.json"] {
        ctx.route(path, |m, _, req| {
            libprocess::http::json_reply(&req, m.attached_files().debug_json().to_string()).into()
        });
    }
}

impl Master {
    pub(crate) fn attached_files(&self) -> Attached {
        Attached {
            log: self.flags.external_log_file.as_ref().map(PathBuf::from),
        }
    }
}

fn browse(files: Attached, req: Request) -> Reply {
    blocking(move || {
        let Some(path) = req.query("path").filter(|p| !p.is_empty()) else {
            return Response::bad_request("Expecting 'path=value' in query.\n");
        };
        match files.list(path) {
            // The attached log is a file: nothing to list (genuine answers `[]` too).
            Ok(_) => libprocess::http::json_reply(&req, "[]".to_string()),
            Err(e) => e.response(),
        }
    })
}

/// `/files/read`: `offset` absent or -1 answers the size (the web UI's pailer asks so).
fn read(files: Attached, req: Request) -> Reply {
    blocking(move || {
        let Some(path) = req.query("path").filter(|p| !p.is_empty()) else {
            return Response::bad_request("Expecting 'path=value' in query.\n");
        };
        let number = |name: &str| -> Result<i64, Response> {
            let Some(text) = req.query(name) else {
                return Ok(-1);
            };
            let n: i64 = text.trim().parse().map_err(|_| {
                Response::bad_request(format!(
                    "Failed to parse {name}: Failed to convert '{text}' to number.\n"
                ))
            })?;
            if n < -1 {
                return Err(Response::bad_request(format!(
                    "Negative {name} provided: {n}.\n"
                )));
            }
            Ok(n)
        };
        let (offset, length) = match (number("offset"), number("length")) {
            (Ok(o), Ok(l)) => (o, l),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let size_only = offset == -1;
        let answer = files.read(
            path,
            u64::try_from(offset).unwrap_or(0),
            if size_only {
                Some(0)
            } else {
                u64::try_from(length).ok()
            },
        );
        match answer {
            Ok((size, data)) => {
                let shown = if size_only {
                    size
                } else {
                    offset.unsigned_abs()
                };
                let body = json!({"data": String::from_utf8_lossy(&data), "offset": shown});
                libprocess::http::json_reply(&req, body.to_string())
            }
            Err(e) => e.response(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_log(text: &str) -> (Attached, PathBuf) {
        let dir = std::env::temp_dir().join(format!("master-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("log-{}", text.len()));
        std::fs::write(&log, text).unwrap();
        (
            Attached {
                log: Some(log.clone()),
            },
            log,
        )
    }

    #[test]
    fn the_external_log_is_served_as_master_log_and_nothing_else_is() {
        let (files, log) = with_log("line one\nline two\n");
        assert_eq!(
            files.read(LOG_PATH, 5, Some(3)).unwrap(),
            (18, b"one".to_vec())
        );
        assert_eq!(files.read(LOG_PATH, 100, None).unwrap(), (18, Vec::new()));
        assert_eq!(files.read(LOG_PATH, 0, Some(0)).unwrap(), (18, Vec::new()));
        assert_eq!(
            files.list(LOG_PATH),
            Ok(Vec::new()),
            "a file lists nothing, as genuine"
        );
        let real = log.display().to_string();
        assert_eq!(
            files.read(&real, 0, None),
            Err(FilesError::NotFound(real.clone())),
            "only the attached path is served, never the real one"
        );
        assert!(matches!(
            files.read(LOG_PATH, u64::MAX, None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(files.list(""), Err(FilesError::BadRequest(_))));
        let none = Attached::default();
        assert_eq!(
            none.list(LOG_PATH),
            Err(FilesError::NotFound(LOG_PATH.into())),
            "without --external_log_file nothing is attached, as genuine without a log"
        );
    }
}
