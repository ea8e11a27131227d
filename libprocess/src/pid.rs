//! `UPID`: the address of a process, `id@ip:port`.
//!
//! Parsing follows libprocess: split at the first `@`, then at the next `:`. The host may be
//! an IPv4 literal or a resolvable name (resolved once, at parse time, because peers compare
//! UPIDs by IP). Equality is on id, IP and port only.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::str::FromStr;

/// Why a string is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpidError {
    #[error("UPID '{0}' has no '@' separating the id from the address")]
    MissingAt(String),
    #[error("UPID '{0}' has no ':' separating the host from the port")]
    MissingColon(String),
    #[error("UPID '{0}' has an empty process id")]
    EmptyId(String),
    #[error("UPID '{0}' has an invalid port")]
    BadPort(String),
    #[error("UPID '{0}' has a host that does not resolve to an IPv4 address")]
    BadHost(String),
}

/// A process address. The empty UPID (`@0.0.0.0:0`) means "none".
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upid {
    pub id: String,
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl Upid {
    pub fn new(id: impl Into<String>, address: SocketAddrV4) -> Self {
        Upid {
            id: id.into(),
            ip: *address.ip(),
            port: address.port(),
        }
    }

    /// The empty UPID, which genuine Mesos renders as `@0.0.0.0:0`.
    pub fn none() -> Self {
        Upid {
            id: String::new(),
            ip: Ipv4Addr::UNSPECIFIED,
            port: 0,
        }
    }

    pub fn is_none(&self) -> bool {
        self.id.is_empty() && self.ip.is_unspecified() && self.port == 0
    }

    pub fn address(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.address())
    }

    /// Parses `id@host:port`. `""` and `@0.0.0.0:0` parse to the empty UPID, as in Mesos.
    pub fn parse(text: &str) -> Result<Upid, UpidError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Upid::none());
        }
        let (id, rest) = text
            .split_once('@')
            .ok_or_else(|| UpidError::MissingAt(text.into()))?;
        let (host, port) = rest
            .split_once(':')
            .ok_or_else(|| UpidError::MissingColon(text.into()))?;
        let port: u16 = port.parse().map_err(|_| UpidError::BadPort(text.into()))?;
        let ip = match host.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => resolve(host).ok_or_else(|| UpidError::BadHost(text.into()))?,
        };
        if id.is_empty() {
            if ip.is_unspecified() && port == 0 {
                return Ok(Upid::none());
            }
            return Err(UpidError::EmptyId(text.into()));
        }
        Ok(Upid {
            id: id.to_string(),
            ip,
            port,
        })
    }
}

fn resolve(host: &str) -> Option<Ipv4Addr> {
    if host.is_empty() {
        return None;
    }
    (host, 0u16).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}

impl FromStr for Upid {
    type Err = UpidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Upid::parse(s)
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.id, self.ip, self.port)
    }
}

impl fmt::Debug for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_round_trip() {
        let p = Upid::parse("slave(1)@127.0.0.1:5051").unwrap();
        assert_eq!(p.id, "slave(1)");
        assert_eq!(p.ip, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(p.port, 5051);
        assert_eq!(p.to_string(), "slave(1)@127.0.0.1:5051");
    }

    #[test]
    fn splits_at_first_at_then_next_colon() {
        let p = Upid::parse("scheduler-7ffa5cf8-5f78@127.0.0.1:25081").unwrap();
        assert_eq!(p.id, "scheduler-7ffa5cf8-5f78");
        assert_eq!(p.port, 25081);
    }

    #[test]
    fn empty_forms_mean_none() {
        assert!(Upid::parse("").unwrap().is_none());
        assert!(Upid::parse("@0.0.0.0:0").unwrap().is_none());
        assert_eq!(Upid::none().to_string(), "@0.0.0.0:0");
    }

    #[test]
    fn resolves_names_to_ipv4() {
        let p = Upid::parse("master@localhost:5050").unwrap();
        assert!(p.ip.is_loopback());
    }

    #[test]
    fn malformed_text_gives_a_clear_error() {
        assert!(matches!(
            Upid::parse("master"),
            Err(UpidError::MissingAt(_))
        ));
        assert!(matches!(
            Upid::parse("master@127.0.0.1"),
            Err(UpidError::MissingColon(_))
        ));
        assert!(matches!(
            Upid::parse("master@127.0.0.1:99999"),
            Err(UpidError::BadPort(_))
        ));
        assert!(matches!(
            Upid::parse("master@127.0.0.1:x"),
            Err(UpidError::BadPort(_))
        ));
        assert!(matches!(
            Upid::parse("@127.0.0.1:5050"),
            Err(UpidError::EmptyId(_))
        ));
        assert!(matches!(
            Upid::parse("m@no such host:1"),
            Err(UpidError::BadHost(_))
        ));
    }

    #[test]
    fn equality_is_on_id_ip_and_port() {
        let a = Upid::parse("master@127.0.0.1:5050").unwrap();
        let b = Upid::parse("master@localhost:5050").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Upid::parse("master@127.0.0.1:5051").unwrap());
        assert_ne!(a, Upid::parse("master2@127.0.0.1:5050").unwrap());
    }
}
