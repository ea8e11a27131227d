//! Master election and leader detection through ZooKeeper, compatible with genuine Mesos:
//! the same URL forms ([`ZkUrl`]), the same group layout and node content ([`node`]), a
//! [`Contender`] for masters and a [`Detector`] for agents, schedulers and standby masters.
#![forbid(unsafe_code)]

pub mod contender;
pub mod detector;
pub mod node;
pub mod session;
pub mod url;

pub use contender::{Candidacy, Contender};
pub use detector::Detector;
pub use session::{SessionOptions, ZkError};
pub use url::{UrlError, ZkUrl};
/// The client library, for callers that need sessions of their own (e.g. tests).
pub use zookeeper_client;
