//! Structured logs to stderr for every binary: one place that sets the format and filter,
//! and the process-wide verbosity operators change at run time (`SET_LOGGING_LEVEL`), as
//! glog's `--v` is process-wide in Mesos.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

struct Installed {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The filter given at start, restored at verbosity 0.
    base: String,
}

static INSTALLED: OnceLock<Mutex<Installed>> = OnceLock::new();
static VERBOSITY: AtomicU32 = AtomicU32::new(0);

/// Logs to stderr with the filter from `env_var` (e.g. `MESOS_LOG` or `RUST_LOG`, in
/// `tracing` filter syntax), else `default` (e.g. `info`). A second call is a no-op.
pub fn init(env_var: &str, default: &str) {
    let base = std::env::var(env_var).unwrap_or_else(|_| default.to_string());
    let filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new(default));
    let (layer, handle) = reload::Layer::new(filter);
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init()
        .is_ok();
    if installed {
        let _ = INSTALLED.set(Mutex::new(Installed { handle, base }));
    }
}

/// The verbosity set last (glog's `--v`; 0 is the filter given at start).
pub fn verbosity() -> u32 {
    VERBOSITY.load(Ordering::Acquire)
}

/// The filter a verbosity stands for: 0 the start filter, 1 `debug`, 2 and above `trace`.
pub fn filter_for(level: u32, base: &str) -> String {
    match level {
        0 => base.to_string(),
        1 => "debug".to_string(),
        _ => "trace".to_string(),
    }
}

/// Sets the process-wide verbosity; the log filter follows when [`init`] installed it.
pub fn set_verbosity(level: u32) {
    VERBOSITY.store(level, Ordering::Release);
    if let Some(installed) = INSTALLED.get() {
        let installed = installed.lock().unwrap_or_else(|e| e.into_inner());
        let filter = EnvFilter::try_new(filter_for(level, &installed.base))
            .unwrap_or_else(|_| EnvFilter::new("info"));
        if let Err(e) = installed.handle.reload(filter) {
            tracing::warn!(error = %e, "cannot change the log filter");
        }
    }
    tracing::info!(level, "logging verbosity set");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_filters_and_is_remembered() {
        assert_eq!(
            filter_for(0, "warn,libprocess=info"),
            "warn,libprocess=info"
        );
        assert_eq!(filter_for(1, "info"), "debug");
        assert_eq!(filter_for(7, "info"), "trace");
        set_verbosity(2);
        assert_eq!(verbosity(), 2);
        set_verbosity(0);
        assert_eq!(verbosity(), 0);
    }
}
