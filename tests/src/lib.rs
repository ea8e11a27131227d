//! Shared helpers for the cross-process tests in `tests/tests/`.
//! - [`wire`]: split captured (or live) byte streams into HTTP requests/responses.
//! - [`native`]: run genuine Mesos 1.11 from `../shared/interop/native` as child processes.
//! - [`zookeeper`]: a real ZooKeeper server (Debian package) on a loopback port.
#![forbid(unsafe_code)]

pub mod native;
pub mod wire;
pub mod zookeeper;

/// The directory of test vectors copied into this crate (`tests/data`).
pub fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Reads one file of `tests/data`.
pub fn data(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Polls `condition` (every 20 ms) until it holds or `timeout` passes; returns whether it
/// held. For conditions on real child processes (genuine Mesos, our binaries), whose clocks a
/// test cannot pause.
pub fn poll_until(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
