//! A scheduler library for framework authors, speaking the v0 driver protocol (libprocess
//! messages) that genuine Mesos masters accept.
//!
//! # Layout
//! - [`master`]: parsing `--master` (`host:port`, `master@host:port`, `file:///path`).
//! - [`driver`]: the driver process (`scheduler-<uuid>`): subscription with backoff, offers,
//!   status updates with acknowledgements, and the calls a framework makes.
//! - [`framework`]: plumbing shared by the example frameworks (`test-framework`,
//!   `mesos-execute`).
//! - [`resources`]: small helpers to read scalars from offers and build task resources.
#![forbid(unsafe_code)]

pub mod driver;
pub mod framework;
pub mod master;
pub mod resources;

pub use driver::{Driver, DriverHandle, Scheduler};
