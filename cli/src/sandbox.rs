//! A task's sandbox through its agent's `/files` endpoints: `ls`, `cat`, `tail [-f]`.
//! The task's agent comes from the master (`/master/tasks`, `/master/slaves`), its sandbox
//! directory from the agent's `/state` (the executor that holds the task).

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::http::{get_json, HttpError};
use crate::{arr, encode, s, Outcome};

/// Where a task's files are.
pub struct Sandbox {
    /// The agent's `host:port`.
    pub agent: String,
    pub directory: String,
}

/// Bytes fetched per `/files/read` request.
const CHUNK: u64 = 64 * 1024;

fn err(e: HttpError) -> String {
    e.to_string()
}

/// Finds the sandbox of `task_id` (the newest task of that id if several frameworks reuse it).
pub fn locate(master: &str, task_id: &str) -> Result<Result<Sandbox, String>, String> {
    let path = format!("/master/tasks?limit=-1&task_id={}", encode(task_id));
    let tasks = get_json(master, &path).map_err(err)?;
    let Some(task) = arr(&tasks["tasks"]).first() else {
        return Ok(Err(format!("no task '{task_id}'")));
    };
    let agent_id = s(&task["slave_id"]);
    let agents = get_json(
        master,
        &format!("/master/slaves?slave_id={}", encode(&agent_id)),
    )
    .map_err(err)?;
    let Some(pid) = arr(&agents["slaves"]).first().map(|a| s(&a["pid"])) else {
        return Ok(Err(format!(
            "the agent {agent_id} of task '{task_id}' is gone"
        )));
    };
    let Some((_, agent)) = pid.split_once('@') else {
        return Err(format!("the agent's pid '{pid}' has no address"));
    };
    let state = get_json(agent, "/state").map_err(err)?;
    let holds = |e: &Value| {
        ["tasks", "queued_tasks", "completed_tasks"]
            .iter()
            .any(|k| arr(&e[*k]).iter().any(|t| s(&t["id"]) == task_id))
    };
    for f in arr(&state["frameworks"])
        .iter()
        .chain(arr(&state["completed_frameworks"]))
    {
        for e in arr(&f["executors"])
            .iter()
            .chain(arr(&f["completed_executors"]))
        {
            if holds(e) {
                return Ok(Ok(Sandbox {
                    agent: agent.to_string(),
                    directory: s(&e["directory"]),
                }));
            }
        }
    }
    Ok(Err(format!(
        "the agent at {agent} has no sandbox for task '{task_id}'"
    )))
}

fn file_path(sb: &Sandbox, file: &str) -> String {
    format!("{}/{}", sb.directory, file.trim_start_matches('/'))
}

/// One `/files/read`: the data and the offset it starts at (`offset` None: the size).
fn read(
    sb: &Sandbox,
    path: &str,
    offset: Option<u64>,
    length: u64,
) -> Result<(String, u64), String> {
    let offset_q = offset.map(|o| o.to_string()).unwrap_or_else(|| "-1".into());
    let v = get_json(
        &sb.agent,
        &format!(
            "/files/read?path={}&offset={offset_q}&length={length}",
            encode(path)
        ),
    )
    .map_err(err)?;
    Ok((s(&v["data"]), v["offset"].as_u64().unwrap_or(0)))
}

/// `mesos ls <task> [path]`.
pub fn ls(sb: &Sandbox, path: &str, width: usize) -> Result<Outcome, String> {
    let v = get_json(
        &sb.agent,
        &format!("/files/browse?path={}", encode(&file_path(sb, path))),
    )
    .map_err(err)?;
    let rows: Vec<Vec<String>> = arr(&v)
        .iter()
        .map(|e| {
            let full = s(&e["path"]);
            let name = full.rsplit('/').next().unwrap_or_default().to_string();
            vec![
                s(&e["mode"]),
                e["size"].as_u64().unwrap_or(0).to_string(),
                name,
            ]
        })
        .collect();
    Ok(Outcome::Found(crate::table::render(
        &["MODE", "SIZE", "NAME"],
        &rows,
        width,
    )))
}

/// `mesos cat <task> <file>`: the whole file, chunk by chunk.
pub fn cat(sb: &Sandbox, file: &str, out: &mut dyn Write) -> Result<(), String> {
    let path = file_path(sb, file);
    let mut offset = 0u64;
    loop {
        let (data, _) = read(sb, &path, Some(offset), CHUNK)?;
        if data.is_empty() {
            return Ok(());
        }
        offset += data.len() as u64;
        out.write_all(data.as_bytes()).map_err(|e| e.to_string())?;
    }
}

/// `mesos tail [-f] [-n N] <task> <file>`: the last `lines` lines; with `follow`, then
/// whatever is appended, polled every second until the file cannot be read.
pub fn tail(
    sb: &Sandbox,
    file: &str,
    lines: usize,
    follow: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let path = file_path(sb, file);
    let (_, size) = read(sb, &path, None, 0)?;
    let start = size.saturating_sub(CHUNK);
    let (data, _) = read(sb, &path, Some(start), CHUNK)?;
    let all: Vec<&str> = data.split_inclusive('\n').collect();
    let first = all.len().saturating_sub(lines);
    for l in &all[first..] {
        out.write_all(l.as_bytes()).map_err(|e| e.to_string())?;
    }
    out.flush().ok();
    let mut offset = start + data.len() as u64;
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let (data, _) = read(sb, &path, Some(offset), CHUNK)?;
        offset += data.len() as u64;
        out.write_all(data.as_bytes()).map_err(|e| e.to_string())?;
        out.flush().ok();
    }
}
