//! Where a runtime listens and what address it advertises, from flags or `LIBPROCESS_*`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Default cap on an inbound request body (a message or an HTTP call).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024 * 1024;

/// Limits that keep a runtime's memory bounded when a peer controls the rate.
///
/// Genuine libprocess has none of these (it relies on the kernel's ~2 minute TCP connect
/// timeout and the fd limit); the defaults are far above what a healthy Mesos cluster needs,
/// so they only ever act on a dead, stuck or hostile peer. Timeouts run on the runtime's
/// [`Clock`](crate::Clock), so tests drive them by advancing a paused clock.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long an outbound connect may take before the peer counts as unreachable.
    pub connect_timeout: Duration,
    /// How long one outbound write may stall (a peer that stopped reading).
    pub write_timeout: Duration,
    /// Bytes queued to one peer (bodies plus a fixed per-message overhead) beyond which the
    /// connection is dropped, its queue discarded and its links told `exited`.
    pub max_queued_bytes: usize,
    /// Messages queued to one peer beyond which the same happens.
    pub max_queued_messages: usize,
    /// Concurrent inbound connections; excess ones are accepted and closed at once.
    pub max_inbound_connections: usize,
    /// Closes an inbound connection that sends nothing for this long, unless it carried a
    /// libprocess message (a peer's persistent link: closing it would tell the peer we
    /// exited) or is streaming a response. Off by default, as in Mesos: genuine v1 scheduler
    /// libraries hold a silent call connection open between calls, and genuine libprocess
    /// links send nothing until their first message.
    pub inbound_idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(60),
            max_queued_bytes: 256 * 1024 * 1024,
            max_queued_messages: 1_000_000,
            // One per agent and framework, for the largest Mesos clusters, with room to spare;
            // each idle connection holds a 64 KiB read buffer.
            max_inbound_connections: 32_768,
            inbound_idle_timeout: None,
        }
    }
}

/// Runtime configuration. `port: 0` picks a free port.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to bind.
    pub ip: Ipv4Addr,
    pub port: u16,
    /// The address peers should use, if different from the bound one (NAT, containers).
    pub advertise_ip: Option<Ipv4Addr>,
    pub advertise_port: Option<u16>,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// The process that serves paths whose first segment is not a process id.
    pub delegate: Option<String>,
    /// Connection limits and timeouts.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ip: Ipv4Addr::LOCALHOST,
            port: 0,
            advertise_ip: None,
            advertise_port: None,
            max_body: DEFAULT_MAX_BODY,
            delegate: None,
            limits: Limits::default(),
        }
    }
}

/// A `LIBPROCESS_*` variable that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}='{value}' is not a valid {what}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub what: &'static str,
}

impl Config {
    /// A loopback runtime on a free port (tests, local clusters).
    pub fn local() -> Self {
        Config::default()
    }

    /// Reads `LIBPROCESS_IP`, `LIBPROCESS_PORT`, `LIBPROCESS_ADVERTISE_IP`,
    /// `LIBPROCESS_ADVERTISE_PORT` over the given defaults, as libprocess does.
    pub fn from_env(mut self) -> Result<Self, ConfigError> {
        fn var<T: std::str::FromStr>(
            name: &'static str,
            what: &'static str,
        ) -> Result<Option<T>, ConfigError> {
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => v.parse().map(Some).map_err(|_| ConfigError {
                    name,
                    value: v,
                    what,
                }),
                _ => Ok(None),
            }
        }
        if let Some(ip) = var("LIBPROCESS_IP", "IPv4 address")? {
            self.ip = ip;
        }
        if let Some(port) = var("LIBPROCESS_PORT", "port")? {
            self.port = port;
        }
        if let Some(ip) = var("LIBPROCESS_ADVERTISE_IP", "IPv4 address")? {
            self.advertise_ip = Some(ip);
        }
        if let Some(port) = var("LIBPROCESS_ADVERTISE_PORT", "port")? {
            self.advertise_port = Some(port);
        }
        Ok(self)
    }

    /// The IP peers reach us at: the advertised one, else the bound one, else (bound to
    /// 0.0.0.0) the address our hostname resolves to, as libprocess does.
    pub fn advertised_ip(&self) -> Ipv4Addr {
        if let Some(ip) = self.advertise_ip {
            return ip;
        }
        if !self.ip.is_unspecified() {
            return self.ip;
        }
        hostname_ip().unwrap_or(Ipv4Addr::LOCALHOST)
    }
}

fn hostname_ip() -> Option<Ipv4Addr> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    (name.trim(), 0u16)
        .to_socket_addrs()
        .ok()?
        .find_map(|a| match a {
            SocketAddr::V4(v4) if !v4.ip().is_loopback() => Some(*v4.ip()),
            _ => None,
        })
}

/// This machine's hostname, for `SlaveInfo.hostname` and `MasterInfo.hostname`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True if the address is one of ours (loopback or the advertised IP).
pub fn is_local_ip(ip: IpAddr, advertised: Ipv4Addr) -> bool {
    ip.is_loopback() || ip == IpAddr::V4(advertised)
}
