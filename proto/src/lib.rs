//! Mesos 1.x wire-compatible protobuf types.
//!
//! # Layout
//!
//! * `proto/mesos/**.proto` — our own proto2 definitions, wire-compatible
//!   with Apache Mesos 1.11 (same packages, message names, field numbers,
//!   labels, defaults and enum values). They are compiled at build time by
//!   `build.rs` with protox + prost-build; no `protoc` is needed.
//! * The generated module tree mirrors the protobuf packages:
//!
//!   | Package | Rust module | Examples |
//!   |---|---|---|
//!   | `mesos` | [`mesos`] | `mesos::FrameworkInfo`, `mesos::TaskStatus`, `mesos::SlaveId` |
//!   | `mesos.internal` | [`mesos::internal`] | `mesos::internal::RegisterSlaveMessage` |
//!   | `mesos.scheduler` | [`mesos::scheduler`] | `mesos::scheduler::Call`, `mesos::scheduler::call::Subscribe` |
//!   | `mesos.executor` | [`mesos::executor`] | `mesos::executor::Event` |
//!   | `mesos.master` / `mesos.agent` | [`mesos::master`], [`mesos::agent`] | v0 operator API |
//!   | `mesos.quota`, `mesos.maintenance`, `mesos.allocator`, `mesos.resource_provider` | same names under [`mesos`] | |
//!   | `mesos.v1` | [`mesos::v1`] | `mesos::v1::AgentInfo`, `mesos::v1::AgentId` |
//!   | `mesos.v1.scheduler` | [`mesos::v1::scheduler`] | `mesos::v1::scheduler::Event` |
//!   | `mesos.v1.executor`, `mesos.v1.master`, `mesos.v1.agent`, ... | under [`mesos::v1`] | `mesos::v1::master::Call` |
//!
//!   prost naming applies: nested messages live in a snake_case module named
//!   after the parent (`mesos::offer::Operation`, `mesos::scheduler::call::Accept`),
//!   acronyms are camel-cased (`FrameworkID` → `FrameworkId`, `UUID` → `Uuid`),
//!   and enum variants are CamelCase with the enum-name prefix dropped when
//!   it matches (`mesos::TaskState::TaskRunning` keeps `Task`, but
//!   `mesos::task_status::Reason::SlaveDraining` for `REASON_SLAVE_DRAINING`,
//!   `mesos::task_status::Source::Executor`, `mesos::scheduler::call::Type::Subscribe`).
//!   Enum-typed fields are `i32` (`Option<i32>` if optional) with typed
//!   getters/setters (`call.r#type()`, `call.set_type(..)`). Map fields are
//!   `BTreeMap`s; `bytes` fields are `Vec<u8>`. Proto2 `required` scalar and
//!   message fields are plain (non-`Option`) struct fields; optional ones are
//!   `Option<T>` with getters returning the declared `[default = ...]`.
//!   Every message implements [`prost::Name`]; `full_name()` is the protobuf
//!   full name, e.g. `mesos.internal.RegisterSlaveMessage` (the libprocess
//!   message name).
//!
//! * [`required`] — fast proto2 required-field checking on raw wire bytes
//!   (Mesos silently drops messages with a missing required field), and
//!   [`required::decode`], which checks and then decodes.
//! * [`json`] — protobuf ↔ JSON with Mesos (stout) conventions, used by the
//!   HTTP APIs.
//! * [`descriptor_pool`] — reflection over all the definitions above.
//! * [`convert`] — v0 ↔ v1 conversion ([`evolve`], [`devolve`]) by re-encoding.
//! * [`task_state`] — task-state predicates (terminal states).

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    deprecated,
    non_camel_case_types,
    rustdoc::all
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/mesos_proto.rs"));
}

pub use generated::*;

pub mod call_body;
pub mod convert;
pub mod json;
pub mod required;
pub mod task_state;

pub use convert::{devolve, evolve, ConvertError};
pub use json::{from_json, from_json_str, to_json, JsonError};
pub use required::{check, decode, DecodeError, RequiredError};

use std::sync::OnceLock;

/// Serialized `FileDescriptorSet` of every `.proto` in this crate.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor.bin"));

/// Lazily built descriptor pool over [`FILE_DESCRIPTOR_SET`].
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: OnceLock<prost_reflect::DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("embedded descriptor set is valid")
    })
}

#[cfg(test)]
mod tests;
