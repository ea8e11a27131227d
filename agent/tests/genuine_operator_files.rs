//! The agent's files and container calls compared with a GENUINE 1.11 agent (from
//! `../shared/interop/native`; SKIPPED when the shared folder is absent): a genuine master
//! with a genuine agent, another with our agent, the genuine scheduler driver running one
//! `echo ok` task on each; then the same LIST_FILES, READ_FILE and GET_CONTAINERS calls
//! (and refusals) go to both agents and their answers must have the same shape.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mesos_tests::native::{self, ChildGuard};
use serde_json::{json, Value};

fn post(port: u16, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST /api/v1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = mesos_tests::wire::split_responses(&buf)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    (r.status, String::from_utf8_lossy(&r.body).to_string())
}

fn start_master(native_dir: &Path) -> (ChildGuard, u16) {
    let port = native::free_port();
    let mut master = native::start_genuine_master(native_dir, port, 180);
    master
        .wait_for_line("native-local-cluster: serving for", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("genuine master did not start:\n{}", master.stderr_tail(30)));
    (master, port)
}

fn active_agents(master_port: u16) -> usize {
    native::http_get(master_port, "/master/state")
        .ok()
        .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| {
            v["slaves"]
                .as_array()
                .map(|a| a.iter().filter(|s| s["active"] == true).count())
        })
        .unwrap_or(0)
}

fn run_one_task(native_dir: &Path, master_port: u16) {
    let mut cmd = Command::new("bash");
    cmd.arg(native_dir.join("run-scheduler.sh"))
        .arg(format!("127.0.0.1:{master_port}"))
        .arg("1")
        .arg("30")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let mut sched = ChildGuard::spawn("genuine-scheduler", cmd);
    let (status, lines) = sched
        .wait(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("scheduler did not finish:\n{}", sched.stderr_tail(30)));
    let summary = lines.last().cloned().unwrap_or_default();
    assert!(
        status.success() && summary.contains("1 launched, 1 finished"),
        "{summary}\n{}",
        sched.stderr_tail(30)
    );
}

/// The sandbox of the agent's first executor, finished or not, from its `/state`, and its
/// virtual path `/frameworks/<fid>/executors/<eid>/runs/latest`.
fn sandbox(agent_port: u16) -> (String, String) {
    let (_, body) = native::http_get(agent_port, "/state").unwrap();
    let state: Value = serde_json::from_slice(&body).unwrap();
    let lists = |v: &Value, keys: [&str; 2]| -> Vec<Value> {
        keys.iter()
            .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
            .collect()
    };
    lists(&state, ["frameworks", "completed_frameworks"])
        .iter()
        .flat_map(|f| {
            let fid = f["id"].as_str().unwrap_or_default().to_string();
            lists(f, ["executors", "completed_executors"])
                .into_iter()
                .map(move |e| (fid.clone(), e))
        })
        .find_map(|(fid, e)| {
            let dir = e["directory"].as_str()?.to_string();
            let eid = e["id"].as_str()?;
            Some((
                dir,
                format!("/frameworks/{fid}/executors/{eid}/runs/latest"),
            ))
        })
        .expect("no executor sandbox in the agent's /state")
}

/// The calls both agents answer, with the sandbox substituted.
fn calls((sandbox, virtual_path): &(String, String)) -> Vec<(&'static str, Value)> {
    let stdout = format!("{sandbox}/stdout");
    vec![
        (
            "list the virtual path",
            json!({"type": "LIST_FILES", "list_files": {"path": virtual_path}}),
        ),
        (
            "read by the virtual path",
            json!({"type": "READ_FILE", "read_file": {"path": format!("{virtual_path}/stdout"), "offset": 0}}),
        ),
        (
            "list sandbox",
            json!({"type": "LIST_FILES", "list_files": {"path": sandbox}}),
        ),
        (
            "list a file",
            json!({"type": "LIST_FILES", "list_files": {"path": stdout}}),
        ),
        (
            "read stdout",
            json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 0, "length": 2}}),
        ),
        (
            "read past the end",
            json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 1000}}),
        ),
        (
            "read a directory",
            json!({"type": "READ_FILE", "read_file": {"path": sandbox, "offset": 0}}),
        ),
        (
            "list above the sandbox, in the work directory",
            json!({"type": "LIST_FILES", "list_files": {"path": Path::new(sandbox).parent().map(|p| p.display().to_string())}}),
        ),
        (
            "read outside",
            json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}}),
        ),
        (
            "read without offset",
            json!({"type": "READ_FILE", "read_file": {"path": stdout}}),
        ),
        ("list without payload", json!({"type": "LIST_FILES"})),
        ("containers", json!({"type": "GET_CONTAINERS"})),
    ]
}

/// Object keys at every level (arrays: their first element), as `a.b.c` paths.
fn shape(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                shape(x, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                shape(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn files_and_container_calls_answer_with_the_shapes_and_statuses_of_a_genuine_1_11_agent() {
    let test =
        "files_and_container_calls_answer_with_the_shapes_and_statuses_of_a_genuine_1_11_agent";
    let Some(native_dir) = native::genuine(test) else {
        return;
    };
    // A genuine master with a genuine agent.
    let (_gm, gm_port) = start_master(&native_dir);
    let g_dir = ChildGuard::new_dir("genuine-agent");
    let g_port = native::free_port();
    let mut cmd = Command::new("bash");
    cmd.arg(native_dir.join("run-agent.sh"))
        .arg(format!("127.0.0.1:{gm_port}"))
        .arg(g_port.to_string())
        .env("MESOS_WORK_DIR", g_dir.join("work"))
        .env("MESOS_RESOURCES", "cpus:2;mem:1024;disk:1024")
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_PORT")
        .env_remove("LIBPROCESS_ADVERTISE_IP");
    let g_agent = ChildGuard::spawn_in("genuine-agent", g_dir, cmd);
    // Another genuine master with our agent.
    let (_om, om_port) = start_master(&native_dir);
    let o_dir = ChildGuard::new_dir("our-agent");
    let o_port = native::free_port();
    let launcher_dir = PathBuf::from(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-agent"));
    cmd.arg(format!("--master=127.0.0.1:{om_port}"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={o_port}"))
        .arg(format!("--work_dir={}", o_dir.join("work").display()))
        .arg("--resources=cpus:2;mem:1024;disk:1024")
        .arg(format!("--launcher_dir={}", launcher_dir.display()))
        .env_remove("LIBPROCESS_PORT")
        .env_remove("LIBPROCESS_IP");
    let o_agent = ChildGuard::spawn_in("our-agent", o_dir, cmd);
    for (port, agent) in [(gm_port, &g_agent), (om_port, &o_agent)] {
        assert!(
            mesos_tests::poll_until(Duration::from_secs(30), || active_agents(port) == 1),
            "an agent did not register:\n{}",
            agent.stderr_tail(30)
        );
    }
    run_one_task(&native_dir, gm_port);
    run_one_task(&native_dir, om_port);

    let (g_sandbox, o_sandbox) = (sandbox(g_port), sandbox(o_port));
    let mut differences = Vec::new();
    for ((what, g_call), (_, o_call)) in calls(&g_sandbox).into_iter().zip(calls(&o_sandbox)) {
        let (gs, gb) = post(g_port, &g_call);
        let (os, ob) = post(o_port, &o_call);
        if gs != os {
            differences.push(format!("{what}: genuine {gs} {gb:?}, ours {os} {ob:?}"));
            continue;
        }
        match (
            serde_json::from_str::<Value>(&gb),
            serde_json::from_str::<Value>(&ob),
        ) {
            (Ok(g), Ok(o)) => {
                let (mut gk, mut ok) = (BTreeSet::new(), BTreeSet::new());
                shape(&g, "", &mut gk);
                shape(&o, "", &mut ok);
                if gk != ok {
                    differences.push(format!(
                        "{what}: genuine only {:?}, ours only {:?}",
                        gk.difference(&ok).collect::<Vec<_>>(),
                        ok.difference(&gk).collect::<Vec<_>>()
                    ));
                }
                if what == "list sandbox" {
                    let names = |v: &Value| -> BTreeSet<String> {
                        v["list_files"]["file_infos"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["path"].as_str())
                            .filter_map(|p| p.rsplit('/').next().map(String::from))
                            .collect()
                    };
                    let missing: Vec<String> = names(&g).difference(&names(&o)).cloned().collect();
                    if !missing.is_empty() {
                        differences.push(format!("{what}: we do not list {missing:?}"));
                    }
                    let owner = |v: &Value| v["list_files"]["file_infos"][0]["uid"].clone();
                    if owner(&g) != owner(&o) {
                        differences.push(format!(
                            "{what}: uid {} vs ours {}",
                            owner(&g),
                            owner(&o)
                        ));
                    }
                }
                let reads = ["read stdout", "read by the virtual path"];
                if reads.contains(&what) && g["read_file"]["data"] != o["read_file"]["data"] {
                    differences.push(format!("{what}: genuine {g}, ours {o}"));
                }
            }
            // Refusals: genuine's message must be in ours (ours may say more).
            _ if gs >= 400 && ob.contains(gb.trim()) => {}
            _ => differences.push(format!("{what}: genuine {gs} {gb:?}, ours {os} {ob:?}")),
        }
    }
    // /files/debug: the attached paths, each sandbox by its real and its virtual path.
    for (port, (dir, virtual_path), who) in [
        (g_port, &g_sandbox, "genuine"),
        (o_port, &o_sandbox, "ours"),
    ] {
        let (status, body) = native::http_get(port, "/files/debug").unwrap();
        let debug: Value = serde_json::from_slice(&body).unwrap_or_default();
        let real = Path::new(dir)
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let keys: BTreeSet<&String> = debug
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let real_latest = Path::new(dir)
            .with_file_name("latest")
            .display()
            .to_string();
        if status != 200
            || debug[virtual_path.as_str()] != real.as_str()
            || debug[dir.as_str()] != dir.as_str()
            || debug[real_latest.as_str()] != real.as_str()
            || keys.len() != 3
        {
            differences.push(format!("/files/debug ({who}): {status} {debug}"));
        }
    }
    assert!(
        differences.is_empty(),
        "answers differ from a genuine agent's:\n{}",
        differences.join("\n")
    );
}
