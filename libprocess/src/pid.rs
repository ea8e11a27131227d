//! `UPID`: the address of a process, `id@ip:port`.
//!
//! Parsing follows libprocess: split at the first `@`, then at the next `:`. Equality is on id,
//! IP and port only (peers compare UPIDs by IP).
//!
//! [`Upid::parse`] accepts only IPv4 literals: it runs on the runtime thread for every
//! message header and `pid` field a peer sends, and a DNS lookup there would stall every
//! process and connection of the runtime for as long as the resolver takes (genuine peers
//! always send literals). Names are resolved only by [`Upid::resolve`], meant for flags and
//! environment read at startup, off the runtime thread.

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
    #[error("UPID '{0}' names a host; only IPv4 literals are accepted here")]
    HostName(String),
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

    /// Parses `id@ip:port` with an IPv4 literal, never consulting the resolver (so it is safe
    /// on the runtime thread for peer-supplied text). `""` and `@0.0.0.0:0` parse to the
    /// empty UPID, as in Mesos. A host name is [`UpidError::HostName`].
    pub fn parse(text: &str) -> Result<Upid, UpidError> {
        Upid::parse_with(text, |host, text| {
            if host.is_empty() {
                Err(UpidError::BadHost(text.into()))
            } else {
                Err(UpidError::HostName(text.into()))
            }
        })
    }

    /// Parses `id@host:port`, resolving a host name to its first IPv4 address. This blocks
    /// on DNS: call it for flags and environment at startup, never on a runtime thread.
    pub fn resolve(text: &str) -> Result<Upid, UpidError> {
        Upid::parse_with(text, |host, text| {
            resolve(host).ok_or_else(|| UpidError::BadHost(text.into()))
        })
    }

    fn parse_with(
        text: &str,
        name: impl FnOnce(&str, &str) -> Result<Ipv4Addr, UpidError>,
    ) -> Result<Upid, UpidError> {
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
            Err(_) => name(host, text)?,
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
    fn resolve_turns_names_into_ipv4() {
        let p = Upid::resolve("master@localhost:5050").unwrap();
        assert!(p.ip.is_loopback());
        assert_eq!(
            Upid::resolve("slave(1)@127.0.0.1:5051").unwrap(),
            Upid::parse("slave(1)@127.0.0.1:5051").unwrap()
        );
        assert!(matches!(
            Upid::resolve("m@no such host:1"),
            Err(UpidError::BadHost(_))
        ));
    }

    #[test]
    fn parse_rejects_host_names_without_consulting_the_resolver() {
        // `localhost` resolves from /etc/hosts, so only a parser that never resolves rejects it.
        assert!(matches!(
            Upid::parse("master@localhost:5050"),
            Err(UpidError::HostName(_))
        ));
        // A name under `.invalid` (RFC 6761) would need DNS; parsing must return at once.
        let started = std::time::Instant::now();
        for i in 0..100 {
            let text = format!("m@never-resolved-{i}.invalid:5050");
            assert!(matches!(Upid::parse(&text), Err(UpidError::HostName(_))));
        }
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
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
        assert!(matches!(Upid::parse("m@:1"), Err(UpidError::BadHost(_))));
    }

    #[test]
    fn equality_is_on_id_ip_and_port() {
        let a = Upid::parse("master@127.0.0.1:5050").unwrap();
        let b = Upid::resolve("master@localhost:5050").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Upid::parse("master@127.0.0.1:5051").unwrap());
        assert_ne!(a, Upid::parse("master2@127.0.0.1:5050").unwrap());
    }
}
