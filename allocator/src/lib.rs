//! The allocator (not yet built: see issue "A working cluster").
//!
//! Will hold the `Allocator` interface, resource arithmetic (scalars, ranges, sets, with
//! Mesos text syntax) and the hierarchical DRF allocator actor.
#![forbid(unsafe_code)]
