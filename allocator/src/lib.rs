//! The allocator: resource arithmetic, the DRF sorter, the hierarchical DRF allocator core and
//! the libprocess process that runs it for the master.
//!
//! - [`resources`]: `mesos.Resource` arithmetic (scalars, ranges, sets), Mesos text syntax.
//! - [`sorter`]: dominant resource fairness ordering of clients (roles, frameworks).
//! - [`hierarchical`]: the sans-IO allocator core (roles, frameworks, agents, filters).
//! - [`process`]: the allocator as a libprocess process: batched and event-driven allocation.
#![forbid(unsafe_code)]

pub mod hierarchical;
pub mod process;
pub mod resources;
pub mod sorter;

pub use hierarchical::{Allocation, AllocatorConfig, Explanation, HierarchicalAllocator};
pub use process::{AllocatorHandle, AllocatorProcess};
pub use resources::{ResourceError, Resources};
pub use sorter::DrfSorter;
