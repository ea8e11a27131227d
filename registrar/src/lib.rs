//! The master's registry and the Registrar actor that changes it.
//!
//! * [`registry`]: what is kept (master info, admitted / unreachable / gone agents, room for
//!   machines, maintenance schedules, quotas and weights), as `mesos.internal.Registry`.
//! * [`operation`]: the changes, applied as compare-and-swap on the registry.
//! * [`storage`]: where it lives (in memory, a durable local file, ZooKeeper).
//! * [`registrar`]: the actor that recovers the registry and commits operations in batches.
#![forbid(unsafe_code)]

pub mod operation;
pub mod registrar;
pub mod registry;
pub mod storage;

pub use operation::{Operation, OperationError};
pub use registrar::{RegistrarError, RegistrarHandle};
pub use registry::Registry;
pub use storage::{Entry, InMemoryStorage, LocalStorage, Storage, StorageError, ZooKeeperStorage};
