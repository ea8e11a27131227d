//! `/files/browse` over HTTP on a real agent: a directory larger than the documented cap
//! lists only its first `MAX_BROWSE_ENTRIES` (10,000) entries in path order, and a path that
//! is a file lists nothing, as the genuine agent answers.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::{Config, Upid};
use mesos_agent::SlaveConfig;

const MAX_BROWSE_ENTRIES: usize = 10_000;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("agent-browse-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

fn agent(work: PathBuf) -> mesos_agent::Agent {
    // No master answers: browsing needs none.
    let master: Upid = "master@127.0.0.1:1".parse().unwrap();
    mesos_agent::start(
        Config::local(),
        SlaveConfig {
            master,
            resources: mesos_agent::resources::parse("cpus:1;mem:128;disk:128").unwrap(),
            attributes: Vec::new(),
            work_dir: work,
            hostname: "localhost".into(),
            launcher_dir: PathBuf::from("/nonexistent"),
            registration_backoff_factor: Duration::from_secs(1),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            http_command_executor: false,
            max_completed_executors_per_framework: 150,
            flags: Vec::new(),
        },
    )
    .unwrap()
}

async fn get(port: u16, path: String) -> (u16, serde_json::Value) {
    let (status, body) =
        tokio::task::spawn_blocking(move || mesos_tests::native::http_get(port, &path))
            .await
            .unwrap()
            .unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_a_directory_beyond_the_cap_lists_its_first_ten_thousand_entries_in_order() {
    let work = scratch("large");
    let big = work.join("big");
    std::fs::create_dir(&big).unwrap();
    for i in (0..MAX_BROWSE_ENTRIES + 25).rev() {
        std::fs::File::create(big.join(format!("e{i:05}"))).unwrap();
    }
    let agent = agent(work.clone());
    agent.slave.call("initialized", |_, _| ()).await.unwrap();
    let port = agent.runtime.address().port();

    let (status, listing) = get(port, format!("/files/browse?path={}", big.display())).await;
    assert_eq!(status, 200);
    let entries = listing.as_array().expect("a JSON array");
    assert_eq!(entries.len(), MAX_BROWSE_ENTRIES);
    let first_paths: Vec<&str> = entries[..3]
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..3)
        .map(|i| big.join(format!("e{i:05}")).display().to_string())
        .collect();
    assert_eq!(first_paths, want);
    assert_eq!(
        entries[MAX_BROWSE_ENTRIES - 1]["path"],
        big.join(format!("e{:05}", MAX_BROWSE_ENTRIES - 1))
            .display()
            .to_string()
    );

    // A file is not a directory: nothing to list (200, `[]`), as in Mesos.
    let file = big.join("e00000");
    let (status, listing) = get(port, format!("/files/browse?path={}", file.display())).await;
    assert_eq!((status, listing), (200, serde_json::json!([])));
    // Outside the work directory: not found.
    let (status, _) = get(port, "/files/browse?path=/etc".into()).await;
    assert_eq!(status, 404);

    agent.runtime.shutdown();
    let _ = std::fs::remove_dir_all(&work);
}
