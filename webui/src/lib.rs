//! The web UI (not yet built).
//!
//! Will hold the static assets and handlers that render cluster state from the master's
//! read-only endpoints.
#![forbid(unsafe_code)]
