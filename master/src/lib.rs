//! The Mesos master (not yet built: see issue "A working cluster").
//!
//! Will hold the `Master` actor (agent and framework registration over the libprocess
//! transport and the v1 HTTP scheduler API), the per-agent `slave-observer(N)` pingers,
//! offer management and the read-only state/metrics endpoints.
#![forbid(unsafe_code)]
