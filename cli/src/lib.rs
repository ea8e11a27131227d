//! `mesos`, the operator command line: `ps`, `agents`, `frameworks`, `tasks`, `state`,
//! reading a master's JSON endpoints (`/master/state`, `/master/slaves`,
//! `/master/frameworks`, `/master/tasks`), genuine Mesos's or ours.
//!
//! Exit codes: 0 success; 1 what was asked for does not exist (an unknown task id);
//! 2 usage errors; 3 the master could not be reached or answered an error.
#![forbid(unsafe_code)]

pub mod http;
pub mod sandbox;
pub mod table;

use std::io::Write;

use serde_json::Value;

pub const EXIT_OK: i32 = 0;
pub const EXIT_NOT_FOUND: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;

const USAGE: &str = "usage: mesos [--master=HOST:PORT] <command> [args]

commands:
  ps                    tasks that are not finished, with their framework and agent
  tasks [--all]         tasks (the newest 100; --all for every one)
  task <id>             one task as JSON
  agents                agents with their resources
  frameworks            frameworks with their resources
  state                 the master's /master/state JSON
  ls <task> [path]      a directory of the task's sandbox
  cat <task> <file>     a file of the task's sandbox (e.g. stdout)
  tail [-f] [-n N] <task> <file>
                        the last N (10) lines of a sandbox file; -f: then follow it
  help                  this text

The master is --master, else $MESOS_MASTER, else 127.0.0.1:5050.
";

/// Runs the CLI with `args` (without the program name); returns the exit code.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut master = std::env::var("MESOS_MASTER").unwrap_or_else(|_| "127.0.0.1:5050".into());
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(m) = a.strip_prefix("--master=") {
            master = m.to_string();
        } else if a == "--master" {
            match it.next() {
                Some(m) => master = m.clone(),
                None => return usage(err, "--master needs HOST:PORT"),
            }
        } else {
            rest.push(a.as_str());
        }
    }
    let master = master
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let width = table::terminal_width();
    let result = match rest.as_slice() {
        ["help"] | ["--help"] | ["-h"] => {
            let _ = write!(out, "{USAGE}");
            return EXIT_OK;
        }
        ["ps"] => ps(&master, width),
        ["tasks"] => tasks(&master, false, width),
        ["tasks", "--all"] => tasks(&master, true, width),
        ["task", id] => task(&master, id),
        ["agents"] => agents(&master, width),
        ["frameworks"] => frameworks(&master, width),
        ["state"] => http::get_json(&master, "/master/state")
            .map(|v| Outcome::Found(pretty(&v)))
            .map_err(|e| e.to_string()),
        ["ls", task, path @ ..] if path.len() <= 1 => with_sandbox(&master, task, |sb| {
            sandbox::ls(sb, path.first().copied().unwrap_or(""), width)
        }),
        ["cat", task, file] => with_sandbox(&master, task, |sb| {
            sandbox::cat(sb, file, out).map(|_| Outcome::Found(String::new()))
        }),
        ["tail", tail_args @ ..] => match parse_tail(tail_args) {
            Some((follow, n, task, file)) => with_sandbox(&master, task, |sb| {
                sandbox::tail(sb, file, n, follow, out).map(|_| Outcome::Found(String::new()))
            }),
            None => return usage(err, "tail needs [-f] [-n N] <task> <file>"),
        },
        [] => return usage(err, "no command"),
        other => return usage(err, &format!("unknown command '{}'", other.join(" "))),
    };
    match result {
        Ok(Outcome::Found(text)) => {
            let _ = write!(out, "{text}");
            EXIT_OK
        }
        Ok(Outcome::NotFound(why)) => {
            let _ = writeln!(err, "mesos: {why}");
            EXIT_NOT_FOUND
        }
        Err(e) => {
            let _ = writeln!(err, "mesos: {e}");
            EXIT_UNREACHABLE
        }
    }
}

/// Runs `f` on the task's sandbox, or reports why there is none.
fn with_sandbox(
    master: &str,
    task: &str,
    f: impl FnOnce(&sandbox::Sandbox) -> Result<Outcome, String>,
) -> Result<Outcome, String> {
    match sandbox::locate(master, task)? {
        Ok(sb) => f(&sb),
        Err(why) => Ok(Outcome::NotFound(why)),
    }
}

/// `[-f] [-n N] <task> <file>` in any flag order.
fn parse_tail<'a>(args: &[&'a str]) -> Option<(bool, usize, &'a str, &'a str)> {
    let (mut follow, mut n, mut pos) = (false, 10usize, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "-f" | "--follow" => follow = true,
            "-n" => n = it.next()?.parse().ok()?,
            other => pos.push(other),
        }
    }
    match pos.as_slice() {
        [task, file] => Some((follow, n, task, file)),
        _ => None,
    }
}

fn usage(err: &mut dyn Write, why: &str) -> i32 {
    let _ = write!(err, "mesos: {why}\n{USAGE}");
    EXIT_USAGE
}

/// What a command produced.
pub enum Outcome {
    Found(String),
    NotFound(String),
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> String {
    let n = v.as_f64().unwrap_or(0.0);
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

pub(crate) fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

const TERMINAL: &[&str] = &[
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

fn ps(master: &str, width: usize) -> Result<Outcome, String> {
    let state = http::get_json(master, "/master/state").map_err(|e| e.to_string())?;
    let hosts: std::collections::HashMap<String, String> = arr(&state["slaves"])
        .iter()
        .map(|a| (s(&a["id"]), s(&a["hostname"])))
        .collect();
    let mut rows = Vec::new();
    for f in arr(&state["frameworks"]) {
        for t in arr(&f["tasks"]) {
            let st = s(&t["state"]);
            if TERMINAL.contains(&st.as_str()) {
                continue;
            }
            let agent = s(&t["slave_id"]);
            rows.push(vec![
                s(&f["user"]),
                s(&f["name"]),
                s(&t["id"]),
                st.trim_start_matches("TASK_").to_string(),
                hosts.get(&agent).cloned().unwrap_or(agent),
                num(&t["resources"]["cpus"]),
                num(&t["resources"]["mem"]),
            ]);
        }
    }
    Ok(Outcome::Found(table::render(
        &["USER", "FRAMEWORK", "TASK", "STATE", "AGENT", "CPUS", "MEM"],
        &rows,
        width,
    )))
}

fn tasks(master: &str, all: bool, width: usize) -> Result<Outcome, String> {
    let path = if all {
        "/master/tasks?limit=-1"
    } else {
        "/master/tasks"
    };
    let v = http::get_json(master, path).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = arr(&v["tasks"])
        .iter()
        .map(|t| {
            vec![
                s(&t["id"]),
                s(&t["name"]),
                s(&t["state"]).trim_start_matches("TASK_").to_string(),
                s(&t["framework_id"]),
                s(&t["slave_id"]),
            ]
        })
        .collect();
    Ok(Outcome::Found(table::render(
        &["ID", "NAME", "STATE", "FRAMEWORK", "AGENT"],
        &rows,
        width,
    )))
}

fn task(master: &str, id: &str) -> Result<Outcome, String> {
    let path = format!("/master/tasks?limit=-1&task_id={}", encode(id));
    let v = http::get_json(master, &path).map_err(|e| e.to_string())?;
    Ok(match arr(&v["tasks"]).first() {
        Some(t) => Outcome::Found(pretty(t)),
        None => Outcome::NotFound(format!("no task '{id}'")),
    })
}

/// Percent-encodes a query value.
pub(crate) fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn agents(master: &str, width: usize) -> Result<Outcome, String> {
    let v = http::get_json(master, "/master/slaves").map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = arr(&v["slaves"])
        .iter()
        .map(|a| {
            vec![
                s(&a["id"]),
                s(&a["hostname"]),
                if a["active"] == true { "yes" } else { "no" }.into(),
                format!(
                    "{}/{}",
                    num(&a["used_resources"]["cpus"]),
                    num(&a["resources"]["cpus"])
                ),
                format!(
                    "{}/{}",
                    num(&a["used_resources"]["mem"]),
                    num(&a["resources"]["mem"])
                ),
                format!(
                    "{}/{}",
                    num(&a["used_resources"]["disk"]),
                    num(&a["resources"]["disk"])
                ),
            ]
        })
        .collect();
    Ok(Outcome::Found(table::render(
        &["ID", "HOSTNAME", "ACTIVE", "CPUS", "MEM", "DISK"],
        &rows,
        width,
    )))
}

fn frameworks(master: &str, width: usize) -> Result<Outcome, String> {
    let v = http::get_json(master, "/master/frameworks").map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = arr(&v["frameworks"])
        .iter()
        .map(|f| {
            vec![
                s(&f["id"]),
                s(&f["name"]),
                if f["active"] == true { "yes" } else { "no" }.into(),
                arr(&f["tasks"]).len().to_string(),
                num(&f["used_resources"]["cpus"]),
                num(&f["used_resources"]["mem"]),
            ]
        })
        .collect();
    Ok(Outcome::Found(table::render(
        &["ID", "NAME", "ACTIVE", "TASKS", "CPUS", "MEM"],
        &rows,
        width,
    )))
}
