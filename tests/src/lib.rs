//! Shared helpers for the cross-process tests in `tests/tests/`.
//! - [`wire`]: split captured (or live) byte streams into HTTP requests/responses.
//! - [`native`]: run genuine Mesos 1.11 from `../shared/interop/native` as child processes.
#![forbid(unsafe_code)]

pub mod native;
pub mod wire;

/// The directory of test vectors copied into this crate (`tests/data`).
pub fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Reads one file of `tests/data`.
pub fn data(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
