//! What the containerizer runs besides `--isolation`, as Mesos's containerizer does.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::Config;
use mesos_agent::{IsolationConfig, SlaveConfig};

fn config(name: &str) -> SlaveConfig {
    let work =
        std::env::temp_dir().join(format!("agent-iso-defaults-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    SlaveConfig {
        master: "master@127.0.0.1:1".parse().unwrap(),
        resources: mesos_agent::resources::parse("cpus:1;mem:128").unwrap(),
        attributes: Vec::new(),
        work_dir: work,
        hostname: "localhost".into(),
        launcher_dir: PathBuf::from("."),
        registration_backoff_factor: Duration::from_secs(1),
        executor_registration_timeout: Duration::from_secs(60),
        executor_shutdown_grace_period: Duration::from_secs(5),
        http_command_executor: false,
        max_completed_executors_per_framework: 150,
        flags: Vec::new(),
    }
}

async fn isolators(name: &str, isolation: &str) -> Vec<String> {
    let agent = mesos_agent::start_isolated(
        Config::local(),
        config(name),
        IsolationConfig {
            isolation: isolation.into(),
            ..Default::default()
        },
    )
    .unwrap();
    let cz = agent
        .slave
        .call("containerizer", |s, _| s.containerizer())
        .await
        .unwrap()
        .expect("the agent has a containerizer");
    let names = cz
        .call("isolator_names", |c, _| c.isolator_names())
        .await
        .unwrap();
    agent.runtime.shutdown();
    names
}

#[tokio::test]
async fn filesystem_posix_is_added_when_isolation_names_no_filesystem_isolator() {
    assert_eq!(
        isolators("default", "posix/cpu,posix/mem").await,
        ["posix/cpu", "posix/mem", "filesystem/posix"]
    );
    assert_eq!(
        isolators("listed", "filesystem/posix,posix/cpu").await,
        ["filesystem/posix", "posix/cpu"]
    );
}
