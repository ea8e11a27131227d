//! The agent's v1 operator calls that do not answer from the agent's state alone:
//! LIST_FILES and READ_FILE (file I/O on a blocking thread, confined to the work directory
//! as `/files` is), GET_CONTAINERS (each live executor's container with its status and
//! the containerizer's statistics) and SET_LOGGING_LEVEL (reverted after its duration).
//!
//! Errors follow the genuine agent: a path outside the work directory or missing is 404,
//! a bad path or a directory read is 400, a failed read 500; each with a message.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libprocess::media::ContentType;
use libprocess::{Ctx, Reply, Response};
use mesos_proto::mesos::agent::{response, Response as V0Response};
use mesos_proto::mesos::v1::agent as v1;
use mesos_proto::mesos::{
    ContainerId, ContainerStatus, ExecutorId, FileInfo, FrameworkId, ResourceStatistics, TimeInfo,
};

use crate::files::{read_range, FilesError, ReadRange, MAX_READ};
use crate::slave::{ExecState, Slave};

/// The largest offset a file can have (`off_t`); larger ones are refused, not clamped.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// The response for a refused call: genuine's status codes, and a message for a 404 too.
fn refused(e: &FilesError, path: &str) -> Response {
    match e {
        FilesError::NotFound => Response::new(
            404,
            format!("No file or directory at '{path}' in this agent's sandboxes\n"),
        ),
        other => other.response(),
    }
}

/// What the files calls may reach: the executors' sandboxes, as genuine attaches them (each
/// run's directory, and `/frameworks/<fid>/executors/<eid>/runs/<run|latest>` for it).
#[derive(Debug, Clone)]
pub struct Sandboxes {
    pub work_dir: PathBuf,
    /// `<work_dir>/slaves/<agent id>`, which the virtual `/frameworks/...` paths stand for.
    pub agent_dir: Option<PathBuf>,
    /// Every known executor run's directory (running or finished).
    pub roots: Vec<PathBuf>,
}

impl Sandboxes {
    /// `/files/debug`: what is attached, as genuine lists it: each sandbox under its own
    /// path, and each executor's newest run under `/frameworks/<fid>/executors/<eid>/runs/
    /// latest` and under the real `.../runs/latest`, mapped to the real directories.
    pub fn debug_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for root in &self.roots {
            let real = root.display().to_string();
            out.insert(real.clone(), serde_json::Value::from(real));
            let Some(agent_dir) = &self.agent_dir else {
                continue;
            };
            let Some(runs) = root.parent().and_then(|r| r.strip_prefix(agent_dir).ok()) else {
                continue;
            };
            let latest = agent_dir.join(runs).join("latest");
            let target = latest.canonicalize().unwrap_or_else(|_| root.clone());
            let target = serde_json::Value::from(target.display().to_string());
            out.insert(format!("/{}/latest", runs.display()), target.clone());
            out.insert(latest.display().to_string(), target);
        }
        serde_json::Value::Object(out)
    }

    /// The real file behind `path`: inside the work directory (symlinks followed) and
    /// inside one of the sandboxes; anything else is not found, as an unattached path.
    fn resolve(&self, path: &str) -> Result<PathBuf, FilesError> {
        if path.is_empty() {
            return Err(FilesError::BadRequest(
                "Expecting 'path' to be non-empty".into(),
            ));
        }
        let real_path;
        let requested = match (&self.agent_dir, path.strip_prefix("/frameworks/")) {
            (Some(agent_dir), Some(rest)) => {
                real_path = agent_dir.join("frameworks").join(rest);
                real_path.to_str().unwrap_or(path)
            }
            _ => path,
        };
        let real = crate::files::resolve_path(&self.work_dir, requested)?;
        let inside = self
            .roots
            .iter()
            .any(|root| root.canonicalize().is_ok_and(|root| real.starts_with(root)));
        if inside {
            Ok(real)
        } else {
            Err(FilesError::NotFound)
        }
    }
}

/// One directory entry as a `FileInfo`.
fn file_info(shown: &Path, md: &std::fs::Metadata, owners: &crate::browse::Owners) -> FileInfo {
    FileInfo {
        path: shown.display().to_string(),
        nlink: i32::try_from(md.nlink()).ok(),
        size: Some(md.len()),
        mtime: Some(TimeInfo {
            nanoseconds: md.mtime().saturating_mul(1_000_000_000),
        }),
        mode: Some(md.permissions().mode()),
        uid: Some(owners.user(md.uid())),
        gid: Some(owners.group(md.gid())),
    }
}

/// LIST_FILES: the directory's entries (capped as `/files/browse` is); a file lists
/// nothing, as genuine's.
pub fn list_files(sandboxes: &Sandboxes, path: &str) -> Result<Vec<FileInfo>, FilesError> {
    let real = sandboxes.resolve(path)?;
    let (entries, _total) =
        crate::browse::list_entries(&real, path, crate::browse::MAX_BROWSE_ENTRIES);
    let owners = crate::browse::Owners::load();
    Ok(entries
        .iter()
        .map(|(shown, md)| file_info(shown, md, &owners))
        .collect())
}

/// READ_FILE: `(size, data)`; at most [`MAX_READ`] bytes from `offset` (none past the end).
pub fn read_file(
    sandboxes: &Sandboxes,
    path: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<(u64, Vec<u8>), FilesError> {
    if offset > MAX_OFFSET {
        return Err(FilesError::BadRequest(format!(
            "Offset {offset} is past the largest possible file offset"
        )));
    }
    let real = sandboxes.resolve(path)?;
    if length == Some(0) {
        // Genuine answers the size alone for a zero length.
        return read_range(
            &real,
            ReadRange {
                offset: None,
                length: None,
            },
        );
    }
    read_range(
        &real,
        ReadRange {
            offset: Some(offset),
            length: Some(length.unwrap_or(MAX_READ)),
        },
    )
}

/// A READ_FILE in JSON with a negative `offset` or `length`: the message refusing it.
/// (The JSON mapping, as stout's, would wrap a negative into a huge unsigned number.)
pub fn negative_range(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["offset", "length"].into_iter().find_map(|name| {
        let n = v.get("read_file")?.get(name)?.as_i64()?;
        (n < 0).then(|| format!("Negative {name} provided: {n}."))
    })
}

/// What GET_CONTAINERS reports of one executor besides its statistics.
struct Entry {
    framework_id: String,
    executor_id: String,
    executor_name: Option<String>,
    container_id: String,
    executor_pid: Option<u32>,
}

impl Slave {
    /// The sandboxes of every executor the agent knows, running or finished.
    pub(crate) fn sandboxes(&self) -> Sandboxes {
        let roots = self
            .frameworks
            .values()
            .chain(&self.completed_frameworks)
            .flat_map(|f| f.executors.values().chain(&f.completed_executors))
            .map(|e| e.directory.clone())
            .collect();
        Sandboxes {
            work_dir: self.config.work_dir.clone(),
            agent_dir: self
                .agent_id()
                .map(|id| crate::paths::agent_dir(&self.config.work_dir, id)),
            roots,
        }
    }

    pub(crate) fn list_files_call(&self, call: v1::Call, accept: ContentType) -> Reply {
        let Some(path) = call.list_files.map(|l| l.path) else {
            return Response::bad_request("Expecting 'list_files' to be present").into();
        };
        let sandboxes = self.sandboxes();
        blocking(move || {
            tracing::info!(%path, "processing LIST_FILES call");
            match list_files(&sandboxes, &path) {
                Ok(file_infos) => {
                    let mut r = V0Response::default();
                    r.set_type(response::Type::ListFiles);
                    r.list_files = Some(response::ListFiles { file_infos });
                    crate::operator_http::encode(&r, accept)
                }
                Err(e) => refused(&e, &path),
            }
        })
    }

    pub(crate) fn read_file_call(&self, call: v1::Call, accept: ContentType) -> Reply {
        let Some(read) = call.read_file else {
            return Response::bad_request("Expecting 'read_file' to be present").into();
        };
        let sandboxes = self.sandboxes();
        blocking(move || {
            tracing::info!(path = %read.path, offset = read.offset, "processing READ_FILE call");
            match read_file(&sandboxes, &read.path, read.offset, read.length) {
                Ok((size, data)) => {
                    let mut r = V0Response::default();
                    r.set_type(response::Type::ReadFile);
                    r.read_file = Some(response::ReadFile { size, data });
                    crate::operator_http::encode(&r, accept)
                }
                Err(e) => refused(&e, &read.path),
            }
        })
    }

    /// GET_CONTAINERS: every executor not yet terminated, as genuine lists them; the
    /// statistics are left out for a container the containerizer cannot measure.
    pub(crate) fn get_containers_call(
        &self,
        ctx: &mut Ctx<'_, Self>,
        accept: ContentType,
    ) -> Reply {
        let entries: Vec<Entry> = self
            .frameworks
            .iter()
            .flat_map(|(fw_key, fw)| {
                fw.executors
                    .values()
                    .filter(|ex| ex.state != ExecState::Terminated)
                    .map(move |ex| Entry {
                        framework_id: fw_key.clone(),
                        executor_id: ex.info.executor_id.value.clone(),
                        executor_name: ex.info.name.clone(),
                        container_id: ex.container_id.clone(),
                        executor_pid: ex.os_pid,
                    })
            })
            .collect();
        let containerizer = self.containerizer.clone();
        let (reply, tx) = Reply::later();
        let collected = async move {
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                let stats: Option<ResourceStatistics> = match &containerizer {
                    Some(cz) => {
                        let (call, answer) =
                            crate::containerizer::Call::usage(e.container_id.clone());
                        crate::containerizer::send(cz, call);
                        match answer.await {
                            Ok(Ok(stats)) => Some(stats),
                            Ok(Err(error)) => {
                                tracing::debug!(executor = %e.executor_id, %error, "no statistics for container");
                                None
                            }
                            Err(_) => None,
                        }
                    }
                    None => None,
                };
                out.push((e, stats));
            }
            out
        };
        ctx.then(
            collected,
            move |_me, _ctx, found: Vec<(Entry, Option<ResourceStatistics>)>| {
                let containers: Vec<response::get_containers::Container> = found
                    .into_iter()
                    .map(|(e, stats)| {
                        let container_id = ContainerId {
                            value: e.container_id,
                            parent: None,
                        };
                        response::get_containers::Container {
                            framework_id: Some(FrameworkId {
                                value: e.framework_id,
                            }),
                            executor_id: Some(ExecutorId {
                                value: e.executor_id,
                            }),
                            executor_name: Some(e.executor_name.unwrap_or_default()),
                            container_status: Some(ContainerStatus {
                                container_id: Some(container_id.clone()),
                                executor_pid: e.executor_pid,
                                ..Default::default()
                            }),
                            container_id,
                            resource_statistics: stats,
                        }
                    })
                    .collect();
                let mut r = V0Response::default();
                r.set_type(response::Type::GetContainers);
                // As genuine: no `get_containers` at all when there is no container.
                r.get_containers =
                    (!containers.is_empty()).then_some(response::GetContainers { containers });
                let _ = tx.send(crate::operator_http::encode(&r, accept));
            },
        );
        reply
    }
}

/// SET_LOGGING_LEVEL: the verbosity for `duration`, then back to 0 (as genuine).
pub(crate) fn set_logging_level(ctx: &mut Ctx<'_, Slave>, call: v1::Call) -> Reply {
    let Some(set) = call.set_logging_level else {
        return Response::bad_request("Expecting 'set_logging_level' to be present").into();
    };
    let Ok(nanos) = u64::try_from(set.duration.nanoseconds) else {
        return Response::bad_request("'set_logging_level.duration' must not be negative").into();
    };
    tracing::info!(level = set.level, "processing SET_LOGGING_LEVEL call");
    let token = libprocess::logging::set_verbosity_for_a_while(set.level);
    ctx.delay(
        std::time::Duration::from_nanos(nanos),
        "revert_logging_level",
        move |_, _| libprocess::logging::revert_after_a_while(token),
    );
    Response::ok("").into()
}

/// Runs file I/O off the agent's mailbox.
fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Reply {
    let (reply, tx) = Reply::later();
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(f());
    });
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("agent-opcalls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sandbox")).unwrap();
        d.canonicalize().unwrap()
    }

    /// `w` as the work directory with one sandbox, `w/sandbox`.
    fn one_sandbox(w: &Path) -> Sandboxes {
        Sandboxes {
            work_dir: w.to_path_buf(),
            agent_dir: None,
            roots: vec![w.join("sandbox")],
        }
    }

    #[test]
    fn read_file_reads_a_range_and_refuses_paths_outside_the_work_dir_and_huge_offsets() {
        let w = scratch("read");
        let file = w.join("sandbox/stdout");
        std::fs::write(&file, "hello world").unwrap();
        let path = file.to_str().unwrap();
        assert_eq!(
            read_file(&one_sandbox(&w), path, 6, Some(3)).unwrap(),
            (11, b"wor".to_vec())
        );
        assert_eq!(
            read_file(&one_sandbox(&w), path, 6, None).unwrap(),
            (11, b"world".to_vec())
        );
        assert_eq!(
            read_file(&one_sandbox(&w), path, 0, Some(0)).unwrap(),
            (11, Vec::new())
        );
        assert_eq!(
            read_file(&one_sandbox(&w), path, 100, None).unwrap(),
            (11, Vec::new()),
            "past the end: no data and the size, as genuine"
        );
        assert!(matches!(
            read_file(&one_sandbox(&w), path, u64::MAX, None),
            Err(FilesError::BadRequest(m)) if m.contains("Offset")
        ));
        assert_eq!(
            read_file(&one_sandbox(&w), "/etc/passwd", 0, None),
            Err(FilesError::NotFound)
        );
        assert!(matches!(
            read_file(&one_sandbox(&w), "", 0, None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read_file(&one_sandbox(&w), w.join("sandbox").to_str().unwrap(), 0, None),
            Err(FilesError::BadRequest(m)) if m.contains("directory")
        ));
        let dotdot = format!("{}/sandbox/../../etc/passwd", w.display());
        assert!(matches!(
            read_file(&one_sandbox(&w), &dotdot, 0, None),
            Err(FilesError::BadRequest(_))
        ));
        std::fs::remove_dir_all(&w).unwrap();
    }

    #[test]
    fn only_sandboxes_are_reachable_by_their_real_or_virtual_paths() {
        let w = scratch("virtual");
        let run = w.join("slaves/A-S0/frameworks/F-1/executors/e1/runs/r1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("stdout"), "out").unwrap();
        std::os::unix::fs::symlink("r1", run.with_file_name("latest")).unwrap();
        std::fs::write(w.join("slaves/A-S0/secret"), "no").unwrap();
        let sandboxes = Sandboxes {
            work_dir: w.clone(),
            agent_dir: Some(w.join("slaves/A-S0")),
            roots: vec![run.clone()],
        };
        let real = run.join("stdout").display().to_string();
        assert_eq!(
            read_file(&sandboxes, &real, 0, None).unwrap(),
            (3, b"out".to_vec())
        );
        for virtual_path in [
            "/frameworks/F-1/executors/e1/runs/latest/stdout",
            "/frameworks/F-1/executors/e1/runs/r1/stdout",
        ] {
            assert_eq!(
                read_file(&sandboxes, virtual_path, 0, None).unwrap(),
                (3, b"out".to_vec()),
                "{virtual_path}"
            );
        }
        let listed = list_files(&sandboxes, "/frameworks/F-1/executors/e1/runs/latest").unwrap();
        assert_eq!(
            listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            vec!["/frameworks/F-1/executors/e1/runs/latest/stdout"],
            "listed under the requested (virtual) path, as genuine"
        );
        let debug = sandboxes.debug_json();
        assert_eq!(
            debug["/frameworks/F-1/executors/e1/runs/latest"],
            run.display().to_string()
        );
        assert_eq!(debug[run.display().to_string()], run.display().to_string());
        assert_eq!(
            debug[run.with_file_name("latest").display().to_string()],
            run.display().to_string()
        );
        let secret = w.join("slaves/A-S0/secret").display().to_string();
        assert_eq!(
            read_file(&sandboxes, &secret, 0, None),
            Err(FilesError::NotFound),
            "in the work directory but in no sandbox"
        );
        assert_eq!(
            list_files(&sandboxes, &w.join("slaves").display().to_string()),
            Err(FilesError::NotFound)
        );
        std::fs::remove_dir_all(&w).unwrap();
    }

    #[test]
    fn negative_offsets_and_lengths_in_json_are_named() {
        let body = br#"{"type":"READ_FILE","read_file":{"path":"/x","offset":0,"length":-1}}"#;
        assert_eq!(
            negative_range(body).as_deref(),
            Some("Negative length provided: -1.")
        );
        let body = br#"{"type":"READ_FILE","read_file":{"path":"/x","offset":-5}}"#;
        assert_eq!(
            negative_range(body).as_deref(),
            Some("Negative offset provided: -5.")
        );
        let body =
            br#"{"type":"READ_FILE","read_file":{"path":"/x","offset":18446744073709551615}}"#;
        assert_eq!(negative_range(body), None);
    }

    #[test]
    fn list_files_lists_a_directory_with_modes_and_owner_names_and_a_file_as_nothing() {
        let w = scratch("list");
        std::fs::write(w.join("sandbox/stdout"), "12345").unwrap();
        std::fs::create_dir(w.join("sandbox/sub")).unwrap();
        let dir = w.join("sandbox");
        let infos = list_files(&one_sandbox(&w), dir.to_str().unwrap()).unwrap();
        let paths: Vec<&str> = infos.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                format!("{}/stdout", dir.display()).as_str(),
                format!("{}/sub", dir.display()).as_str()
            ]
        );
        assert_eq!(infos[0].size, Some(5));
        assert_eq!(
            infos[0].mode.map(|m| m & 0o170000),
            Some(0o100000),
            "a regular file"
        );
        assert_eq!(
            infos[1].mode.map(|m| m & 0o170000),
            Some(0o040000),
            "a directory"
        );
        let me = std::fs::metadata(w.join("sandbox/stdout")).unwrap();
        assert_eq!(
            infos[0].uid.as_deref(),
            Some(crate::browse::Owners::load().user(me.uid()).as_str())
        );
        let one = list_files(&one_sandbox(&w), w.join("sandbox/stdout").to_str().unwrap()).unwrap();
        assert!(one.is_empty(), "a file lists nothing, as genuine");
        assert_eq!(
            list_files(&one_sandbox(&w), "/etc"),
            Err(FilesError::NotFound)
        );
        std::fs::remove_dir_all(&w).unwrap();
    }
}
