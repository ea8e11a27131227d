//! A scheduler library for framework authors: the v0 driver protocol (libprocess messages)
//! and the v1 HTTP scheduler API, behind one [`Scheduler`] trait.
//!
//! # Layout
//! - [`master`]: parsing `--master` (`host:port`, `master@host:port`, `file:///path`,
//!   `zk://…` through [`detection`]).
//! - [`driver`]: the driver process (`scheduler-<uuid>`): subscription with backoff, offers,
//!   status updates with acknowledgements, and the calls a framework makes.
//! - [`framework`]: plumbing shared by the example frameworks (`test-framework`,
//!   `mesos-execute`).
//! - [`v1`]: the v1 HTTP API driver (`/api/v1/scheduler`, RecordIO protobuf events).
//! - [`resources`]: small helpers to read scalars from offers and build task resources.
#![forbid(unsafe_code)]

pub mod balloon;
pub mod detection;
pub mod driver;
pub mod framework;
pub mod master;
pub mod resources;
pub mod runner;
pub mod v1;

pub use driver::{Driver, DriverHandle, Scheduler};
