//! A minimal blocking HTTP/1.1 GET for the master's JSON endpoints (one request per
//! connection), so the CLI needs no async runtime or HTTP library.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("{0} answered something that is not HTTP")]
    Malformed(String),
    #[error("{address}{path} answered {status}: {body}")]
    Status {
        address: String,
        path: String,
        status: u16,
        body: String,
    },
    #[error("{0}{1} did not answer JSON: {2}")]
    Json(String, String, serde_json::Error),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
}

/// GETs `path` from `address` (`host:port`) and parses the JSON body.
pub fn get_json(address: &str, path: &str) -> Result<serde_json::Value, HttpError> {
    let body = get(address, path)?;
    serde_json::from_slice(&body).map_err(|e| HttpError::Json(address.into(), path.into(), e))
}

/// GETs `path`; the body of a 2xx answer. `address` may be a `zk://` spec: the request
/// goes to the leader ZooKeeper names, and once more to the leader it names afresh if that
/// master cannot be reached or answers as a standby (307, 503).
pub fn get(address: &str, path: &str) -> Result<Vec<u8>, HttpError> {
    if !crate::detect::is_zk(address) {
        return get_from(address, path);
    }
    let leader = crate::detect::leader(address, false).map_err(HttpError::Detect)?;
    match get_from(&leader, path) {
        Err(HttpError::Connect(..))
        | Err(HttpError::Status {
            status: 307 | 503, ..
        }) => {
            let leader = crate::detect::leader(address, true).map_err(HttpError::Detect)?;
            get_from(&leader, path)
        }
        other => other,
    }
}

fn get_from(address: &str, path: &str) -> Result<Vec<u8>, HttpError> {
    let connect = |e| HttpError::Connect(address.to_string(), e);
    let addr = address
        .to_socket_addrs()
        .map_err(connect)?
        .next()
        .ok_or_else(|| {
            HttpError::Connect(
                address.to_string(),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            )
        })?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(connect)?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(connect)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(connect)?;
    let (status, body) = parse(&raw).ok_or_else(|| HttpError::Malformed(address.into()))?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            address: address.into(),
            path: path.into(),
            status,
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    Ok(body)
}

/// Status and body of one response (`Content-Length`, chunked, or up to the close).
pub fn parse(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..end)?).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let rest = raw.get(end + 4..)?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Some((status, rest.to_vec()));
    }
    let (mut body, mut at) = (Vec::new(), 0usize);
    loop {
        let line_end = at + rest.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(rest.get(at..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some((status, body));
        }
        let start = line_end + 2;
        body.extend_from_slice(rest.get(start..start.checked_add(size)?)?);
        at = start + size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies_and_refuses_garbage() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(plain), Some((200, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(chunked), Some((404, b"abcde".to_vec())));
        assert_eq!(parse(b"garbage"), None);
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffff\r\nab";
        assert_eq!(parse(truncated), None);
    }
}
