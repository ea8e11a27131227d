//! An actor runtime modelled on Apache Mesos's libprocess, and wire-compatible with it.
//!
//! # Layout
//! - [`pid`]: `UPID` (`id@ip:port`), parsing and display.
//! - [`process`]: the [`Process`] trait, its context [`Ctx`] (send, link, install handlers,
//!   routes, timers, `then`) and typed handles [`Pid`] (dispatch, call).
//! - [`runtime`]: the [`Runtime`] (libprocess's ProcessManager): registry, local delivery,
//!   send, link/exited, delegate, HTTP routing.
//! - [`encoder`]: the outbound request form, byte for byte genuine libprocess's.
//! - `outbound`: one persistent connection per remote address, batched writes, exited;
//!   connect/write timeouts and a per-peer queue cap.
//! - `server`: inbound on actix-web; messages vs HTTP; 202/404; bad input counted.
//! - [`http`]: requests/responses for process endpoints, streaming bodies.
//! - [`http_client`]: a small HTTP/1.1 client for the v1 APIs.
//! - Shared protocol codecs, each the only copy in the workspace: [`chunked`] (bounded
//!   chunked-body decoder of server and client), [`recordio`] (event-stream framing),
//!   [`media`] (Content-Type/Accept negotiation), [`duration`] (stout durations and safe
//!   peer seconds); `jsonp` lives in [`http::json_reply`].
//! - [`clock`]: pausable, advanceable time for every timer (tests never sleep).
//! - [`filter`]: drop/hold/observe messages and dispatches (fault injection in tests).
//! - [`metrics`]: counters, gauges, timers; `/metrics/snapshot`.
//! - [`system`]: the `system/*` gauges (CPUs, load, memory) every runtime serves.
//! - [`logging`]: structured logs to stderr, one setup for every binary.
//! - [`config`]: bind/advertise addresses from flags and `LIBPROCESS_*`; connection limits.
//!
//! # Threads
//! A runtime runs on one actix arbiter thread: its processes, its HTTP server and its
//! outbound connections share that event loop, so a message crosses no thread between the
//! socket and its handler. Any thread may send, spawn or dispatch. A panic on a runtime
//! thread aborts the OS process (see `abort`), as a failed `CHECK` does in Mesos.
#![forbid(unsafe_code)]

mod abort;
pub mod bench;
pub mod builtin;
pub mod chunked;
pub mod clock;
pub mod config;
pub mod duration;
pub mod encoder;
pub mod filter;
pub mod http;
pub mod http_client;
pub mod logging;
pub mod media;
pub mod metrics;
mod outbound;
pub mod pid;
pub mod process;
pub mod recordio;
pub mod runtime;
pub mod server;
pub mod system;
mod timeout;

pub use clock::{Clock, TimerId};
pub use config::{Config, Limits};
pub use encoder::Message;
pub use filter::{Event, Matcher};
pub use http::{Reply, Request, Response};
pub use pid::{Upid, UpidError};
pub use process::{Ctx, Pid, Process, QueueDepth};
pub use runtime::{DecodeError, Error, Runtime, Validator};
