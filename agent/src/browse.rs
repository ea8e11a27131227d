//! `/files/browse`: a directory's listing, produced on a blocking thread (a large or slow
//! directory must not stall the agent's mailbox), with the genuine `files` process's shape:
//! a JSON array of `{path, nlink, size, mtime, mode, uid, gid}` sorted by path, where
//! `path` is the requested path joined with the entry's name and the other fields come
//! from `stat` (symlinks followed; entries whose `stat` fails are left out); `uid` and
//! `gid` are the owner's user and group names, as genuine shows them (the number when the
//! id has no name).
//!
//! Limit: at most [`MAX_BROWSE_ENTRIES`] entries, the first ones in sorted order (Mesos
//! lists everything; a directory of millions of files would build a reply of hundreds of
//! megabytes). Memory stays bounded while reading a larger directory: only the smallest
//! names seen so far are kept.
//!
//! Bad input is answered as `/files/read` answers it (400 for a missing path, `..`, or a
//! symlink leading out of the work directory; 404 for what does not exist or lies outside
//! it). A path that exists but cannot be listed (a regular file, an unreadable directory)
//! lists nothing, as Mesos's does.

use std::collections::{BinaryHeap, HashMap};
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libprocess::{Reply, Request};
use serde_json::{json, Value as Json};

use crate::files::resolve;

/// The most entries one `/files/browse` returns.
pub const MAX_BROWSE_ENTRIES: usize = 10_000;

/// A listing: the entries kept and how many names the directory held.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub entries: Vec<Json>,
    pub total: usize,
}

/// Lists `dir` (already resolved) showing paths under `shown`, at most `cap` entries.
pub fn list_dir(dir: &Path, shown: &str, cap: usize) -> Listing {
    let (entries, total) = list_entries(dir, shown, cap);
    let owners = Owners::load();
    Listing {
        entries: entries
            .iter()
            .map(|(path, md)| entry_json(path, md, &owners))
            .collect(),
        total,
    }
}

/// The first `cap` entries of `dir` in name order, as `(shown path, stat)`, and how many
/// names the directory held.
pub fn list_entries(dir: &Path, shown: &str, cap: usize) -> (Vec<(PathBuf, Metadata)>, usize) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot list; empty listing");
            return (Vec::new(), 0);
        }
    };
    // A max-heap of the `cap` smallest names: the largest is evicted first.
    let mut smallest: BinaryHeap<OsString> = BinaryHeap::with_capacity(cap.min(1024) + 1);
    let mut total = 0usize;
    for entry in entries.flatten() {
        total = total.saturating_add(1);
        smallest.push(entry.file_name());
        if smallest.len() > cap {
            smallest.pop();
        }
    }
    let shown = shown_base(shown);
    let entries = smallest
        .into_sorted_vec()
        .into_iter()
        .filter_map(|name| {
            let md = std::fs::metadata(dir.join(&name))
                .inspect_err(|e| {
                    tracing::debug!(entry = ?name, error = %e, "listed but stat failed; skipped")
                })
                .ok()?;
            Some((shown.join(&name), md))
        })
        .collect();
    (entries, total)
}

/// The requested path without trailing slashes (the root stays `/`).
fn shown_base(requested: &str) -> PathBuf {
    let trimmed = requested.trim_end_matches('/');
    PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed })
}

fn entry_json(path: &Path, md: &Metadata, owners: &Owners) -> Json {
    json!({
        "path": path.display().to_string(),
        "nlink": md.nlink(),
        "size": md.len(),
        "mtime": md.mtime() as f64,
        "mode": mode_string(md),
        "uid": owners.user(md.uid()),
        "gid": owners.group(md.gid()),
    })
}

/// User and group names by id, from `/etc/passwd` and `/etc/group`, read once per listing.
#[derive(Debug, Default)]
pub struct Owners {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Owners {
    pub fn load() -> Owners {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Owners {
            users: names_by_id(&read("/etc/passwd")),
            groups: names_by_id(&read("/etc/group")),
        }
    }

    /// The user's name, or the id as text.
    pub fn user(&self, uid: u32) -> String {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    /// The group's name, or the id as text.
    pub fn group(&self, gid: u32) -> String {
        self.groups
            .get(&gid)
            .cloned()
            .unwrap_or_else(|| gid.to_string())
    }
}

/// `name:password:id:...` lines (the `passwd` and `group` formats): id → the first name.
pub fn names_by_id(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            out.entry(id).or_insert_with(|| name.to_string());
        }
    }
    out
}

/// `ls -l` style: the file type (`-`, `d`, `c`, `b`, `p`, `l`, `s`), then permissions.
pub fn mode_string(md: &Metadata) -> String {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_socket() {
        's'
    } else {
        '-'
    };
    let mode = md.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// `/files/browse` on a blocking thread.
pub(crate) fn browse(work_dir: PathBuf, req: Request) -> Reply {
    let (reply, tx) = Reply::later();
    tokio::task::spawn_blocking(move || {
        let response = match resolve(&work_dir, &req) {
            Ok(dir) => {
                let requested = req.query("path").unwrap_or_default();
                let listing = list_dir(&dir, requested, MAX_BROWSE_ENTRIES);
                if listing.total > listing.entries.len() {
                    tracing::warn!(dir = %dir.display(), total = listing.total,
                        listed = listing.entries.len(), "directory listing truncated");
                }
                libprocess::http::json_reply(&req, Json::Array(listing.entries).to_string())
            }
            Err(e) => {
                tracing::debug!(error = %e, "/files/browse refused");
                e.response()
            }
        };
        let _ = tx.send(response);
    });
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use libprocess::Response;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("agent-browse-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.canonicalize().unwrap()
    }

    fn paths(l: &Listing) -> Vec<String> {
        l.entries
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    }

    async fn answer(work: &Path, query: &str) -> (u16, String) {
        let req = Request::new("GET", &format!("/files/browse?{query}"));
        let reply = browse(work.to_path_buf(), req);
        // The listing is never produced on the caller's (the agent's) thread.
        let Reply::Later(rx) = reply else {
            panic!("/files/browse answered on the agent's thread");
        };
        let response: Response = rx.await.unwrap();
        let body = match &response.body {
            libprocess::http::Body::Full(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        (response.status, body)
    }

    #[test]
    fn a_large_directory_lists_only_the_first_entries_in_path_order() {
        let d = scratch("large");
        // Created in an order unrelated to the sorted one.
        for i in (0..1_000).rev() {
            std::fs::write(d.join(format!("f{i:04}")), b"x").unwrap();
        }
        let listing = list_dir(&d, &d.display().to_string(), 100);
        assert_eq!(listing.total, 1_000);
        let want: Vec<String> = (0..100)
            .map(|i| d.join(format!("f{i:04}")).display().to_string())
            .collect();
        assert_eq!(paths(&listing), want);
        // Under the cap: everything, sorted.
        let all = list_dir(&d, &d.display().to_string(), MAX_BROWSE_ENTRIES);
        assert_eq!(all.entries.len(), 1_000);
        assert_eq!(all.total, 1_000);
        assert_eq!(paths(&all)[999], d.join("f0999").display().to_string());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn entries_show_the_requested_path_and_stat_fields() {
        let d = scratch("fields");
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("file"), b"12345").unwrap();
        std::fs::set_permissions(d.join("file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(d.join("pipe"))
            .status()
            .unwrap()
            .success());
        // A dangling symlink cannot be stat'ed: left out.
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
        let shown = format!("{}/", d.display());
        let listing = list_dir(&d, &shown, MAX_BROWSE_ENTRIES);
        assert_eq!(listing.total, 4);
        let by_name = |n: &str| {
            listing
                .entries
                .iter()
                .find(|e| e["path"] == d.join(n).display().to_string())
                .cloned()
                .unwrap_or_else(|| panic!("{n} missing: {:?}", listing.entries))
        };
        let file = by_name("file");
        assert_eq!(file["size"], 5);
        assert_eq!(file["mode"], "-rw-r-----");
        assert_eq!(file["nlink"], 1);
        assert!(by_name("sub")["mode"].as_str().unwrap().starts_with('d'));
        assert!(by_name("pipe")["mode"].as_str().unwrap().starts_with('p'));
        assert_eq!(listing.entries.len(), 3);
        // Owners by name, as genuine's listing shows them.
        let owners = Owners::load();
        let md = std::fs::metadata(d.join("file")).unwrap();
        assert_eq!(file["uid"], owners.user(md.uid()));
        assert_eq!(file["gid"], owners.group(md.gid()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn owner_names_come_from_passwd_and_group_lines_and_unknown_ids_stay_numbers() {
        let users = names_by_id("root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\nnobody:x:65534:65534::/:/bin/false\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(users.len(), 2);
        let owners = Owners {
            users,
            groups: names_by_id("wheel:x:10:alice,bob\n"),
        };
        assert_eq!(owners.user(0), "root");
        assert_eq!(owners.user(4242), "4242");
        assert_eq!(owners.group(10), "wheel");
        assert_eq!(owners.group(11), "11");
    }

    #[tokio::test]
    async fn bad_paths_are_refused_and_files_list_nothing() {
        let d = scratch("bad");
        let work = d.join("work");
        std::fs::create_dir_all(work.join("dir")).unwrap();
        std::fs::write(work.join("file"), b"x").unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        std::os::unix::fs::symlink(d.join("outside"), work.join("escape")).unwrap();
        let w = work.display();
        assert_eq!(
            answer(&work, "").await,
            (400, "Expecting 'path=value' in query.\n".into())
        );
        assert_eq!(answer(&work, "path=").await.0, 400);
        assert_eq!(answer(&work, &format!("path={w}/dir/..")).await.0, 400);
        assert_eq!(answer(&work, "path=relative/dir").await.0, 400);
        assert_eq!(answer(&work, &format!("path={w}/escape")).await.0, 400);
        assert_eq!(answer(&work, &format!("path={w}/missing")).await.0, 404);
        assert_eq!(
            answer(&work, &format!("path={}", d.join("outside").display()))
                .await
                .0,
            404
        );
        // A regular file exists but is no directory: an empty listing, as in Mesos.
        assert_eq!(
            answer(&work, &format!("path={w}/file")).await,
            (200, "[]".into())
        );
        let (status, body) = answer(&work, &format!("path={w}&jsonp=cb")).await;
        assert_eq!(status, 200);
        assert!(body.starts_with("cb([") && body.ends_with("]);"), "{body}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
