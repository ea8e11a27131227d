//! HTTP requests and responses as processes see them.
//!
//! A process installs routes (`/state`, `/api/v1/scheduler`); requests reach it in its own
//! mailbox like messages do. Responses are whole bodies or streams (chunked, e.g. RecordIO
//! event streams), and may be produced later through a [`Reply::Later`].

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// An inbound HTTP request routed to a process.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The full, original path (e.g. `/master/state` or `/state` for the delegate).
    pub path: String,
    /// The path below the route prefix, without a leading `/` (e.g. `tasks` for `/files/tasks`).
    pub rest: String,
    pub query: HashMap<String, String>,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// A request with the given method and path, for tests and in-process callers.
    pub fn new(method: &str, path: &str) -> Request {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, parse_query(q)),
            None => (path, HashMap::new()),
        };
        Request {
            method: method.to_string(),
            path: path.to_string(),
            rest: String::new(),
            query,
            headers: Vec::new(),
            body: Bytes::new(),
            peer: None,
        }
    }
}

/// The first value of header `name` (case-insensitive) in a request's or response's headers.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parsed headers as owned `(name, trimmed value)` pairs; values need not be UTF-8.
pub fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect()
}

/// Whether a `Transfer-Encoding` value says the body is chunked.
pub fn is_chunked(transfer_encoding: Option<&str>) -> bool {
    transfer_encoding.is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// Parses `a=1&b=two%20words`.
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A JSON response to `req`, wrapped as `callback(...);` (`text/javascript`) when the query
/// has `jsonp=callback`. The callback is echoed into a script, so anything but a JavaScript
/// identifier or a dotted path of them (`cb`, `$.ui.cb_1`) is refused with 400.
pub fn json_reply(req: &Request, body: impl Into<String>) -> Response {
    let body = body.into();
    match req.query("jsonp") {
        None => Response::json(body),
        Some(cb) if valid_jsonp_callback(cb) => Response::ok(format!("{cb}({body});"))
            .with_header("Content-Type", crate::media::TEXT_JAVASCRIPT),
        Some(cb) => Response::bad_request(format!(
            "Invalid 'jsonp' callback '{cb}': expecting a JavaScript identifier or dotted path"
        )),
    }
}

/// Whether `name` is `ident(.ident)*` with ASCII identifiers (letters, digits, `_`, `$`; not
/// starting with a digit).
pub fn valid_jsonp_callback(name: &str) -> bool {
    name.split('.').all(|ident| {
        ident
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && ident
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    })
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    Full(Bytes),
    /// Chunks sent as they arrive; the response ends when the sender is dropped.
    Stream(mpsc::UnboundedReceiver<Bytes>),
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Bytes>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Full(body.into()),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn ok(body: impl Into<Bytes>) -> Response {
        Response::new(200, body)
    }

    /// 200 with a JSON body (`Content-Type: application/json`).
    pub fn json(body: impl Into<Bytes>) -> Response {
        Response::new(200, body).with_header("Content-Type", crate::media::APPLICATION_JSON)
    }

    pub fn accepted() -> Response {
        Response::new(202, Bytes::new())
    }

    pub fn bad_request(message: impl Into<String>) -> Response {
        Response::new(400, message.into())
    }

    pub fn not_found() -> Response {
        Response::new(404, Bytes::new())
    }

    pub fn method_not_allowed(allowed: &str) -> Response {
        Response::new(405, format!("Expecting one of {{ '{allowed}' }}"))
            .with_header("Allow", allowed)
    }

    pub fn temporary_redirect(location: impl Into<String>) -> Response {
        Response::new(307, Bytes::new()).with_header("Location", location)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Response {
        Response::new(503, message.into())
    }

    /// A streaming response; push chunks into the returned sender.
    pub fn stream(status: u16) -> (Response, mpsc::UnboundedSender<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Response {
                status,
                headers: Vec::new(),
                body: Body::Stream(rx),
            },
            tx,
        )
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

/// What a route handler returns: a response now, or one produced later.
pub enum Reply {
    Now(Response),
    Later(oneshot::Receiver<Response>),
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply::Now(r)
    }
}

impl Reply {
    /// A reply to be completed through the returned sender.
    pub fn later() -> (Reply, oneshot::Sender<Response>) {
        let (tx, rx) = oneshot::channel();
        (Reply::Later(rx), tx)
    }

    pub async fn into_response(self) -> Response {
        match self {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx
                .await
                .unwrap_or_else(|_| Response::service_unavailable("The handler went away")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded() {
        let q = parse_query("path=%2Ftmp%2Fx&offset=-1&flag&name=a+b");
        assert_eq!(q["path"], "/tmp/x");
        assert_eq!(q["offset"], "-1");
        assert_eq!(q["flag"], "");
        assert_eq!(q["name"], "a b");
    }

    #[test]
    fn jsonp_wraps_valid_callbacks_and_refuses_others_with_400() {
        let reply = |path: &str| json_reply(&Request::new("GET", path), "{}");
        let plain = reply("/state");
        assert_eq!(plain.status, 200);
        assert!(plain
            .headers
            .contains(&("Content-Type".into(), "application/json".into())));
        let wrapped = reply("/state?jsonp=angular.callbacks._0");
        assert_eq!(wrapped.status, 200);
        assert!(matches!(&wrapped.body, Body::Full(b) if &b[..] == b"angular.callbacks._0({});"));
        assert!(wrapped
            .headers
            .contains(&("Content-Type".into(), "text/javascript".into())));
        for bad in [
            "",
            "alert(1)//",
            "a..b",
            "1abc",
            "a.",
            "x%3Cscript%3E",
            "a-b",
            "caf\u{e9}",
        ] {
            assert_eq!(reply(&format!("/state?jsonp={bad}")).status, 400, "{bad}");
        }
        assert!(valid_jsonp_callback("$jq_1.cb"));
    }
}
