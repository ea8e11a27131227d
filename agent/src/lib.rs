//! The Mesos agent (not yet built: see issue "A working cluster").
//!
//! Will hold the `Slave` actor (registration with backoff, RunTask handling, the executor
//! side of both executor APIs), the containerizer and the status update manager.
#![forbid(unsafe_code)]
