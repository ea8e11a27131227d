//! `zk://[user:pass@]host:port[,host:port]/path` URLs, as `--zk` and `--master` take them.
//!
//! Parsing follows genuine Mesos: the path starts at the first `/` after `zk://`, the
//! credentials end at the last `@` before the path, the path `/` alone is rejected, and a
//! `file://` URL names a file whose (trimmed) content is the URL.

use std::fmt;

/// Why a ZooKeeper URL was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("expecting 'zk://' at the beginning of the URL '{0}'")]
    Scheme(String),
    #[error("expecting a path (e.g. '/mesos') after the servers in '{0}'")]
    MissingPath(String),
    #[error("the path '/' is not allowed for a ZooKeeper group in '{0}'")]
    RootPath(String),
    #[error("no ZooKeeper server in '{0}'")]
    NoServers(String),
    #[error("bad ZooKeeper server '{server}': {reason}")]
    BadServer {
        server: String,
        reason: &'static str,
    },
    #[error("credentials must be 'user:password', got '{0}'")]
    BadCredentials(String),
    #[error("cannot read the ZooKeeper URL from '{path}': {reason}")]
    File { path: String, reason: String },
}

/// `digest` credentials (`user:password`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log the password.
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl Credentials {
    /// The `digest` scheme's auth bytes.
    pub fn digest(&self) -> Vec<u8> {
        format!("{}:{}", self.username, self.password).into_bytes()
    }
}

/// A validated ZooKeeper URL: only [`ZkUrl::parse`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkUrl {
    servers: Vec<String>,
    path: String,
    credentials: Option<Credentials>,
}

impl ZkUrl {
    /// Parses `zk://…`, or `file:///f` whose content is a `zk://` URL.
    pub fn parse(text: &str) -> Result<ZkUrl, UrlError> {
        let text = text.trim();
        if let Some(file) = text.strip_prefix("file://") {
            let content = std::fs::read_to_string(file).map_err(|e| UrlError::File {
                path: file.to_string(),
                reason: e.to_string(),
            })?;
            let content = content.trim();
            if content.starts_with("file://") {
                return Err(UrlError::File {
                    path: file.to_string(),
                    reason: "a file:// URL may not name another file:// URL".into(),
                });
            }
            return ZkUrl::parse(content);
        }
        let rest = text
            .strip_prefix("zk://")
            .ok_or_else(|| UrlError::Scheme(text.to_string()))?;
        let slash = rest
            .find('/')
            .ok_or_else(|| UrlError::MissingPath(text.to_string()))?;
        let (authority, path) = rest.split_at(slash);
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(UrlError::RootPath(text.to_string()));
        }
        let (credentials, hosts) = match authority.rfind('@') {
            Some(at) => {
                let creds = &authority[..at];
                let (user, pass) = creds
                    .split_once(':')
                    .filter(|(u, _)| !u.is_empty())
                    .ok_or_else(|| UrlError::BadCredentials(creds.to_string()))?;
                (
                    Some(Credentials {
                        username: user.to_string(),
                        password: pass.to_string(),
                    }),
                    &authority[at + 1..],
                )
            }
            None => (None, authority),
        };
        let mut servers = Vec::new();
        for server in hosts.split(',').filter(|s| !s.is_empty()) {
            let (host, port) = server.rsplit_once(':').ok_or(UrlError::BadServer {
                server: server.to_string(),
                reason: "expecting host:port",
            })?;
            if host.is_empty() {
                return Err(UrlError::BadServer {
                    server: server.to_string(),
                    reason: "empty host",
                });
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => {
                    return Err(UrlError::BadServer {
                        server: server.to_string(),
                        reason: "port must be a number in 1..65535",
                    })
                }
            }
            servers.push(server.to_string());
        }
        if servers.is_empty() {
            return Err(UrlError::NoServers(text.to_string()));
        }
        Ok(ZkUrl {
            servers,
            path: path.to_string(),
            credentials,
        })
    }

    /// The servers as the client's connect string (`h1:p1,h2:p2`).
    pub fn connect_string(&self) -> String {
        self.servers.join(",")
    }

    /// The servers, in the URL's order.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The group znode (no trailing `/`), e.g. `/mesos`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

impl fmt::Display for ZkUrl {
    /// Without the password, so the URL can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://")?;
        if let Some(c) = &self.credentials {
            write!(f, "{}:***@", c.username)?;
        }
        write!(f, "{}{}", self.servers.join(","), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_path_and_credentials() {
        let url = ZkUrl::parse("zk://jo:s3cr@t@h1:2181,h2:2182/mesos/prod").unwrap();
        assert_eq!(url.servers(), ["h1:2181", "h2:2182"]);
        assert_eq!(url.connect_string(), "h1:2181,h2:2182");
        assert_eq!(url.path(), "/mesos/prod");
        let c = url.credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("jo", "s3cr@t"));
        assert_eq!(url.to_string(), "zk://jo:***@h1:2181,h2:2182/mesos/prod");
    }

    #[test]
    fn url_without_credentials_has_none() {
        let url = ZkUrl::parse("zk://127.0.0.1:2181/mesos").unwrap();
        assert_eq!(url.credentials(), None);
        assert_eq!(url.path(), "/mesos");
    }

    #[test]
    fn rejects_bad_urls_with_typed_errors() {
        assert!(matches!(
            ZkUrl::parse("http://h:1/m"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            ZkUrl::parse("zk://h:1"),
            Err(UrlError::MissingPath(_))
        ));
        assert!(matches!(
            ZkUrl::parse("zk://h:1/"),
            Err(UrlError::RootPath(_))
        ));
        assert!(matches!(
            ZkUrl::parse("zk:///m"),
            Err(UrlError::NoServers(_))
        ));
        assert!(matches!(
            ZkUrl::parse("zk://h/m"),
            Err(UrlError::BadServer { .. })
        ));
        assert!(matches!(
            ZkUrl::parse("zk://h:99999/m"),
            Err(UrlError::BadServer { .. })
        ));
        assert!(matches!(
            ZkUrl::parse("zk://nocolon@h:1/m"),
            Err(UrlError::BadCredentials(_))
        ));
    }

    #[test]
    fn file_url_reads_the_url_from_the_file() {
        let path = std::env::temp_dir().join(format!("zk-url-{}", std::process::id()));
        std::fs::write(&path, "zk://h:2181/mesos\n").unwrap();
        let url = ZkUrl::parse(&format!("file://{}", path.display())).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(url.path(), "/mesos");
        assert!(matches!(
            ZkUrl::parse("file:///nonexistent/zk-url"),
            Err(UrlError::File { .. })
        ));
    }
}
