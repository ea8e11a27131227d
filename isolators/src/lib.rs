//! Isolators: the resource-isolation layer of the Mesos containerizer, following Mesos
//! 0.18's `IsolatorProcess` API (recover, prepare, isolate, watch, update, usage, cleanup).
//!
//! # Layout
//! - [`protocol`] — the typed messages (MessagePack bodies) a client and an isolator
//!   exchange over the libprocess transport; container ids, launch info, limitations.
//! - [`isolator`] — the [`Isolator`] trait in-process isolators implement, its error.
//! - [`process`] — [`IsolatorProcess`], the actor hosting any `Isolator` at a UPID.
//! - [`handle`] — [`IsolatorHandle`], the only way the containerizer talks to an isolator
//!   (in-process or external, by UPID), with per-call timeouts on the libprocess clock.
//! - [`registry`] — Mesos names (`cgroups/mem`, ...), `--isolation` parsing, start-up.
//! - [`procs`] — a container's processes from procfs (the tree, double forks included).
//! - [`posix`] — `posix/cpu`, `posix/mem`.
//! - [`cgroups`] — hierarchy detection (v1/v2), `cgroups/cpu`, `cgroups/mem`,
//!   `cgroups/pids`, kill-everything cleanup, the v2 interface files.
//! - [`namespaces`] — `namespaces/pid` and the launcher helper that applies namespaces.
//! - [`filesystem`] — `filesystem/posix` (sandbox ownership).
//! - [`disk`] — `disk/du`.
//! - [`example`] — a small isolator to copy, run in-process and as an external process.
//!
//! See `README.md` beside this crate for how to add an isolator.
#![forbid(unsafe_code)]

pub mod cgroups;
pub mod disk;
pub mod example;
pub mod filesystem;
pub mod handle;
pub mod isolator;
pub mod namespaces;
pub mod posix;
pub mod process;
pub mod procs;
pub mod protocol;
pub mod registry;

pub use handle::{HandleError, IsolatorHandle};
pub use isolator::{Isolator, IsolatorError, IsolatorFuture};
pub use process::IsolatorProcess;
pub use protocol::{
    ContainerId, ContainerState, LaunchInfo, Limitation, LimitationReason, Namespace,
};
pub use registry::{parse_isolation, IsolationFlags, IsolatorSpec, RegistryError};
