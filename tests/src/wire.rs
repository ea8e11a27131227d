//! Splits the bytes of one TCP direction (as captured) into HTTP/1.1 requests or responses.
//!
//! Genuine libprocess pipelines its messages on one connection: each is a request head,
//! then a body framed by `Transfer-Encoding: chunked`, by `Content-Length`, or not framed at
//! all (an empty body: the head alone is the whole message).

use std::fmt;

/// How a body was framed on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No `Transfer-Encoding` and no `Content-Length`: an empty body.
    None,
    /// `Transfer-Encoding: chunked`, with the chunk-size lines exactly as sent (e.g. `["22", "0"]`).
    Chunked(Vec<String>),
    ContentLength(usize),
}

/// One HTTP message (request or response) cut out of a byte stream.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpMessage {
    /// The exact bytes of this message on the wire (head, framing, body).
    pub raw: Vec<u8>,
    /// Request: `POST`; response: empty.
    pub method: String,
    /// Request: the path; response: empty.
    pub path: String,
    /// Response: the status code; request: 0.
    pub status: u16,
    /// Response: the reason phrase.
    pub reason: String,
    /// HTTP minor version (1 for `HTTP/1.1`).
    pub version: u8,
    /// Header names and values, in wire order, names as sent.
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    /// The decoded body (chunks joined).
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// For a libprocess message `POST /<id>/<name>`: the receiver id and the message name.
    pub fn message_target(&self) -> Option<(&str, &str)> {
        self.path.strip_prefix('/')?.split_once('/')
    }
}

impl fmt::Debug for HttpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMessage")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("framing", &self.framing)
            .field("body_len", &self.body.len())
            .finish()
    }
}

const MAX_HEADERS: usize = 64;

/// Splits a stream of pipelined requests. Errors on a truncated or malformed message.
pub fn split_requests(mut bytes: &[u8]) -> Result<Vec<HttpMessage>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req
            .parse(bytes)
            .map_err(|e| format!("request {}: {e}", out.len() + 1))?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                return Err(format!("request {} is truncated", out.len() + 1))
            }
        };
        let mut msg = HttpMessage {
            raw: Vec::new(),
            method: req.method.unwrap_or_default().to_string(),
            path: req.path.unwrap_or_default().to_string(),
            status: 0,
            reason: String::new(),
            version: req.version.unwrap_or(1),
            headers: collect(req.headers)?,
            framing: Framing::None,
            body: Vec::new(),
        };
        let used = read_body(&mut msg, bytes, head_len)
            .map_err(|e| format!("request {}: {e}", out.len() + 1))?;
        msg.raw = bytes[..used].to_vec();
        bytes = &bytes[used..];
        out.push(msg);
    }
    Ok(out)
}

/// Splits a stream of pipelined responses (bodies framed by length or chunks; a response
/// with neither has an empty body, which holds for libprocess's 202s).
pub fn split_responses(mut bytes: &[u8]) -> Result<Vec<HttpMessage>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp
            .parse(bytes)
            .map_err(|e| format!("response {}: {e}", out.len() + 1))?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                return Err(format!("response {} is truncated", out.len() + 1))
            }
        };
        let mut msg = HttpMessage {
            raw: Vec::new(),
            method: String::new(),
            path: String::new(),
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or_default().to_string(),
            version: resp.version.unwrap_or(1),
            headers: collect(resp.headers)?,
            framing: Framing::None,
            body: Vec::new(),
        };
        let used = read_body(&mut msg, bytes, head_len)
            .map_err(|e| format!("response {}: {e}", out.len() + 1))?;
        msg.raw = bytes[..used].to_vec();
        bytes = &bytes[used..];
        out.push(msg);
    }
    Ok(out)
}

/// How many complete responses `bytes` starts with (for reading from a live socket).
pub fn complete_responses(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = bytes;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = resp.parse(rest) else {
            return n;
        };
        let Ok(headers) = collect(resp.headers) else {
            return n;
        };
        let mut msg = HttpMessage {
            raw: Vec::new(),
            method: String::new(),
            path: String::new(),
            status: 0,
            reason: String::new(),
            version: 1,
            headers,
            framing: Framing::None,
            body: Vec::new(),
        };
        match read_body(&mut msg, rest, head_len) {
            Ok(used) => {
                n += 1;
                rest = &rest[used..];
            }
            Err(_) => return n,
        }
    }
}

fn collect(headers: &[httparse::Header<'_>]) -> Result<Vec<(String, String)>, String> {
    headers
        .iter()
        .map(|h| {
            let v = std::str::from_utf8(h.value)
                .map_err(|_| format!("header {} is not UTF-8", h.name))?;
            Ok((h.name.to_string(), v.to_string()))
        })
        .collect()
}

/// Reads the body after a head of `head_len` bytes; returns the total length used.
fn read_body(msg: &mut HttpMessage, bytes: &[u8], head_len: usize) -> Result<usize, String> {
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut pos = head_len;
        let mut sizes = Vec::new();
        loop {
            let line_end = find_crlf(&bytes[pos..]).ok_or("chunk-size line is truncated")?;
            sizes.push(String::from_utf8_lossy(&bytes[pos..pos + line_end]).into_owned());
            let (next, size) = match httparse::parse_chunk_size(&bytes[pos..]) {
                Ok(httparse::Status::Complete((n, size))) => (pos + n, size as usize),
                Ok(httparse::Status::Partial) => return Err("chunk-size line is truncated".into()),
                Err(_) => return Err("bad chunk-size line".into()),
            };
            pos = next;
            if size == 0 {
                // Trailers (none from libprocess), then the final CRLF.
                loop {
                    let end = find_crlf(&bytes[pos..]).ok_or("chunked trailer is truncated")?;
                    pos += end + 2;
                    if end == 0 {
                        break;
                    }
                }
                msg.framing = Framing::Chunked(sizes);
                return Ok(pos);
            }
            if bytes.len() < pos + size + 2 {
                return Err("chunk data is truncated".into());
            }
            msg.body.extend_from_slice(&bytes[pos..pos + size]);
            if &bytes[pos + size..pos + size + 2] != b"\r\n" {
                return Err("chunk data is not followed by CRLF".into());
            }
            pos += size + 2;
        }
    }
    if let Some(len) = msg.header("content-length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| format!("bad Content-Length '{len}'"))?;
        if bytes.len() < head_len + len {
            return Err("body is truncated".into());
        }
        msg.body = bytes[head_len..head_len + len].to_vec();
        msg.framing = Framing::ContentLength(len);
        return Ok(head_len + len);
    }
    msg.framing = Framing::None;
    Ok(head_len)
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chunked_empty_and_content_length_requests() {
        let wire = b"POST /a/x HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
POST /b/y HTTP/1.1\r\nHost: \r\n\r\n\
POST /c/z HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
        let msgs = split_requests(wire).unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].body, b"abc");
        assert_eq!(
            msgs[0].framing,
            Framing::Chunked(vec!["3".into(), "0".into()])
        );
        assert_eq!(msgs[1].framing, Framing::None);
        assert!(msgs[1].body.is_empty());
        assert_eq!(msgs[2].body, b"hi");
        assert_eq!(msgs[2].message_target(), Some(("c", "z")));
        let joined: Vec<u8> = msgs.iter().flat_map(|m| m.raw.clone()).collect();
        assert_eq!(joined, wire);
    }

    #[test]
    fn truncated_input_is_an_error_and_not_counted() {
        let wire = b"POST /a/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
        assert!(split_requests(wire).is_err());
        let resp = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 Acc";
        assert_eq!(complete_responses(resp), 1);
    }
}
