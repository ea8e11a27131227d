//! Executors: the command executor (`mesos-executor`) and the pieces a v0 executor needs.
//!
//! # Layout
//! - [`env`]: the environment an agent gives an executor (`MESOS_*`), parsed once.
//! - [`duration`]: stout-style durations (`5secs`, `1mins`) as agents and executors write them.
//! - [`child`]: children in their own process group, exit watched on a thread, signals to
//!   the whole group (shared with the agent's launcher).
//! - [`command`]: the command executor process (v0 libprocess executor API) and [`run`].
//!
//! The `mesos-executor` binary itself is built by the `mesos-agent` package (so that tests
//! and `--launcher_dir` find it next to `mesos-agent`); it only calls [`run`].
#![deny(unsafe_code)]

pub mod child;
pub mod command;
pub mod duration;
pub mod env;

pub use command::{run, CommandExecutor, RunError};
pub use env::{EnvError, ExecutorEnv};
