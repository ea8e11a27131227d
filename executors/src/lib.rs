//! Executors (not yet built: see issue "A working cluster").
//!
//! Will hold `mesos-executor` (the command executor) and a Rust executor library speaking
//! the v0 libprocess and v1 HTTP executor APIs.
#![forbid(unsafe_code)]
