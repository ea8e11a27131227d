//! Structured logs to stderr for every binary: one place that sets the format and filter,
//! and the process-wide verbosity operators change at run time (`SET_LOGGING_LEVEL`), as
//! glog's `--v` is process-wide in Mesos.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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

/// Bumped by every [`set_verbosity_for_a_while`]: a revert applies only if no newer level
/// was set since.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Sets the verbosity for a while, as Mesos's `SET_LOGGING_LEVEL` with a duration does;
/// returns the token that [`revert_after_a_while`] takes once the duration has passed.
pub fn set_verbosity_for_a_while(level: u32) -> u64 {
    let token = GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    set_verbosity(level);
    token
}

/// Back to verbosity 0, unless another level was set after the one `token` stands for.
pub fn revert_after_a_while(token: u64) {
    if GENERATION.load(Ordering::Acquire) == token {
        set_verbosity(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verbosity is process-wide: tests that change it take turns.
    static TURN: Mutex<()> = Mutex::new(());

    #[test]
    fn verbosity_maps_to_filters_and_is_remembered() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
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

    #[test]
    fn a_revert_is_ignored_once_a_newer_level_was_set() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let first = set_verbosity_for_a_while(1);
        let second = set_verbosity_for_a_while(3);
        revert_after_a_while(first);
        assert_eq!(
            verbosity(),
            3,
            "the older level's revert must not undo the newer one"
        );
        revert_after_a_while(second);
        assert_eq!(verbosity(), 0);
    }
}
