//! The local store under SIGKILL: a child process writes the registry in a loop and is
//! killed at random moments; every time, what is on disk is a whole committed registry (the
//! last acknowledged one or the one being written), never a torn one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use mesos_registrar::{LocalStorage, Storage};

const DIR_ENV: &str = "REGISTRAR_CRASH_DIR";
const SIZE: usize = 256 * 1024;

fn content(version: u64) -> Vec<u8> {
    vec![(version % 251) as u8; SIZE + (version as usize % 7)]
}

/// The child: runs only when spawned by the test below.
#[tokio::test]
#[ignore = "spawned by local_store_holds_a_whole_registry_after_sigkill_mid_write"]
async fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let s = LocalStorage::new(dir);
    let mut version = s.fetch().await.unwrap().map(|e| e.version);
    loop {
        let next = version.unwrap_or(0) + 1;
        let stored = s.store(version, content(next)).await.unwrap();
        println!("committed {stored}");
        version = Some(stored);
    }
}

#[tokio::test]
async fn local_store_holds_a_whole_registry_after_sigkill_mid_write() {
    let dir = std::env::temp_dir().join(format!("registrar-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    for round in 0..5u64 {
        let mut child = Command::new(&exe)
            .args([
                "crash_writer_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last = 0u64;
        let mut seen = 0;
        while seen < 3 + round {
            let line = lines.next().expect("child output").unwrap();
            if let Some(v) = line.strip_prefix("committed ") {
                last = v.parse().unwrap();
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(round * 3));
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines the child printed before dying are acknowledged writes too.
        for line in lines.map_while(Result::ok) {
            if let Some(v) = line.strip_prefix("committed ") {
                last = v.parse().unwrap();
            }
        }
        let entry = LocalStorage::new(&dir)
            .fetch()
            .await
            .unwrap()
            .expect("a registry");
        assert!(
            entry.version == last || entry.version == last + 1,
            "round {round}: on disk {} after acknowledging {last}",
            entry.version
        );
        assert_eq!(
            entry.data,
            content(entry.version),
            "round {round}: whole content"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
