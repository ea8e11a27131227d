//! Isolators (not yet built: see the isolation issue).
//!
//! Will hold isolator actors following the Mesos 0.18 Isolator API (prepare, isolate, watch,
//! update, usage, cleanup, recover): posix, cgroups v1 cpu/memory, pid and network namespaces.
#![forbid(unsafe_code)]
