//! Structured logs to stderr for every binary: one place that sets the format and filter.

/// Logs to stderr with the filter from `env_var` (e.g. `MESOS_LOG` or `RUST_LOG`, in
/// `tracing` filter syntax), else `default` (e.g. `info`). A second call is a no-op.
pub fn init(env_var: &str, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_var)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
