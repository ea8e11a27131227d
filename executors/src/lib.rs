//! Executors: the command executor (`mesos-executor`) and the pieces a v0 executor needs.
//!
//! # Layout
//! - [`env`]: the environment an agent gives an executor (`MESOS_*`), parsed once.
//! - [`child`]: children in their own process group, exit watched on a thread, signals to
//!   the whole group (shared with the agent's launcher).
//! - [`command`]: the command executor process (v0 libprocess executor API) and [`run`].
//! - [`http_executor`]: the v1 HTTP executor library (SUBSCRIBE stream, UPDATE calls kept
//!   until acknowledged).
//! - [`default_executor`]: the default executor (`mesos-default-executor`), which runs task
//!   groups over the v1 API.
//!
//! The `mesos-executor` and `mesos-default-executor` binaries themselves are built by the `mesos-agent` package (so that tests
//! and `--launcher_dir` find them next to `mesos-agent`); they only call [`run`] and
//! [`run_default_executor`].
#![deny(unsafe_code)]

pub mod child;
pub mod command;
pub mod default_executor;
pub mod env;
pub mod http_executor;

pub use command::{run, CommandExecutor, RunError};
pub use default_executor::{run_default_executor, DefaultExecutorError};
pub use env::{EnvError, ExecutorEnv};
