//! `mesos-agent` refuses to start on bad isolation settings, with an error a user can act
//! on, and a non-zero exit code.

use std::process::Command;

fn run_agent(args: &[&str]) -> (Option<i32>, String) {
    let work = std::env::temp_dir().join(format!("agent-startup-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_mesos-agent"))
        .arg("--master=127.0.0.1:1")
        .arg(format!("--work_dir={}", work.display()))
        .arg("--port=0")
        .args(args)
        .output()
        .expect("run mesos-agent");
    let _ = std::fs::remove_dir_all(&work);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_isolator_is_a_startup_error_listing_the_valid_isolators() {
    let (code, stderr) = run_agent(&["--isolation=posix/cpu,cgroups/memory"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown isolator 'cgroups/memory'"),
        "{stderr}"
    );
    for name in mesos_isolators::registry::BUILTIN {
        assert!(stderr.contains(name), "{name} not listed: {stderr}");
    }
}

#[test]
fn missing_cgroups_hierarchy_is_a_startup_error_naming_the_path_and_the_flag() {
    let missing = "/nonexistent/cgroups-for-mesos-agent-test";
    let (code, stderr) = run_agent(&[
        "--isolation=cgroups/mem",
        &format!("--cgroups_hierarchy={missing}"),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(missing), "{stderr}");
    assert!(stderr.contains("--cgroups_hierarchy"), "{stderr}");
}

#[test]
fn bad_cgroups_root_is_a_startup_error_naming_the_flag() {
    let (code, stderr) = run_agent(&["--isolation=cgroups/cpu", "--cgroups_root=../escape"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--cgroups_root"), "{stderr}");
}
