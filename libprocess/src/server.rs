//! Inbound: one port serves libprocess messages and plain HTTP/1.x.
//!
//! A request is a message iff it is a `POST` with a `User-Agent: libprocess/…` or a
//! `Libprocess-From` header. Messages are delivered as soon as they are parsed and answered
//! `202 Accepted` (`404` for an unknown process), in order, many per write; other requests are
//! routed to process endpoints and answered in order too. Bad input is answered `4xx`, counted
//! and logged; the connection is closed only when it cannot be resynchronised.
//!
//! Connections stay open as long as the peer wants: a genuine peer whose linked connection we
//! closed would see its link break. Streaming responses (event streams) end when the handler
//! drops its sender or when the client goes away, which the handler sees as a closed sender.
//! The exceptions bound what a peer can make us hold (`limits`): connections past the cap,
//! silent ones when an idle timeout is set, and clients that stop reading their responses.
//!
//! The parser is our own (on `httparse`) rather than a general HTTP server's: libprocess peers
//! pipeline thousands of messages on one connection, send HTTP/1.1 with an empty `Host`, and
//! send bodies with no framing at all; general servers stall or refuse on some of these.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunked::{ChunkedDecoder, ChunkedError};
use crate::encoder::Message;
use crate::http::{find_header, is_chunked, owned_headers, parse_query, Body, Request, Response};
use crate::pid::Upid;
use crate::runtime::Runtime;

mod limits;

use limits::{admit, content_length};

const MAX_HEADERS: usize = 64;
/// Largest request head (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Input buffered from a client while its connection streams a response.
const MAX_BUFFERED_WHILE_STREAMING: usize = 64 * 1024;

/// Runs the accept loop on the runtime's arbiter.
pub(crate) async fn serve(rt: Runtime, listener: TcpListener) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the listening socket");
            return;
        }
    };
    let accepted = rt.metrics().counter("libprocess/connections_accepted");
    let live = Arc::new(AtomicUsize::new(0));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                accepted.inc();
                let Some(slot) = admit(&rt, &live, peer) else {
                    // Dropping the stream closes it: accepted and closed at once.
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let rt = rt.clone();
                actix_rt::spawn(async move {
                    let _slot = slot;
                    if let Err(why) = Connection::new(rt, stream, peer).run().await {
                        tracing::debug!(%peer, %why, "inbound connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// The path as sent (not percent-decoded), without the query.
    pub path: String,
    pub query: String,
    /// The HTTP minor version: 0 or 1.
    pub version: u8,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the client wants the connection kept after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        match self.version {
            0 => conn.is_some_and(|c| c.contains("keep-alive")),
            _ => !conn.is_some_and(|c| c.contains("close")),
        }
    }

    /// Whether this request is a libprocess message rather than an HTTP call.
    pub fn is_message(&self) -> bool {
        self.method == "POST"
            && (self.header("libprocess-from").is_some()
                || self
                    .header("user-agent")
                    .is_some_and(|ua| ua.starts_with("libprocess/")))
    }
}

enum Framing {
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// A request whose head is parsed and whose body is arriving.
struct Partial {
    head: Head,
    framing: Framing,
    body: BytesMut,
}

/// Why a connection must answer an error and close.
#[derive(Debug)]
pub struct Fatal {
    pub status: u16,
    pub message: String,
    metric: &'static str,
}

impl Fatal {
    fn new(status: u16, metric: &'static str, message: impl Into<String>) -> Self {
        Fatal {
            status,
            message: message.into(),
            metric,
        }
    }
}

/// Incremental HTTP/1.x request parser: feed bytes, take complete requests in order.
pub struct RequestParser {
    input: BytesMut,
    partial: Option<Partial>,
    max_body: usize,
}

impl RequestParser {
    pub fn new(max_body: usize) -> Self {
        RequestParser {
            input: BytesMut::with_capacity(64 * 1024),
            partial: None,
            max_body,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes received and not yet parsed into a request.
    fn buffered(&self) -> usize {
        self.input.len()
    }

    /// The buffer the socket reads into.
    fn buffer(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// The next complete request, if one is buffered. After an error the stream cannot be
    /// resynchronised and must be closed.
    pub fn next_request(&mut self) -> Result<Option<(Head, BytesMut)>, Fatal> {
        if self.partial.is_none() {
            let Some(partial) = self.parse_head()? else {
                return Ok(None);
            };
            self.partial = Some(partial);
        }
        let Some(partial) = self.partial.as_mut() else {
            return Ok(None);
        };
        let done = match &mut partial.framing {
            Framing::Length(left) => {
                let take = (*left).min(self.input.len());
                partial.body.extend_from_slice(&self.input.split_to(take));
                *left -= take;
                *left == 0
            }
            Framing::Chunked(decoder) => decoder
                .decode_body(&mut self.input, &mut partial.body)
                .map_err(|e| chunked_fatal(e, self.max_body))?,
        };
        if !done {
            return Ok(None);
        }
        Ok(self.partial.take().map(|p| (p.head, p.body)))
    }

    fn parse_head(&mut self) -> Result<Option<Partial>, Fatal> {
        // Tolerate blank lines between pipelined requests, as HTTP parsers do.
        while self.input.starts_with(b"\r\n") {
            self.input.advance(2);
        }
        if self.input.is_empty() {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let consumed = match req.parse(&self.input) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if self.input.len() > MAX_HEAD {
                    return Err(Fatal::new(
                        431,
                        "libprocess/requests_malformed",
                        "Request head too large",
                    ));
                }
                return Ok(None);
            }
            Err(e) => {
                return Err(Fatal::new(
                    400,
                    "libprocess/requests_malformed",
                    format!("Malformed request: {e}"),
                ))
            }
        };
        let target = req.path.unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let head = Head {
            method: req.method.unwrap_or("").to_string(),
            path: path.to_string(),
            query: query.to_string(),
            version: req.version.unwrap_or(1),
            headers: owned_headers(req.headers),
        };
        self.input.advance(consumed);
        let framing = if is_chunked(head.header("transfer-encoding")) {
            Framing::Chunked(ChunkedDecoder::new(self.max_body))
        } else {
            match content_length(&head, self.max_body)? {
                Some(n) => Framing::Length(n),
                // No framing: an empty body (genuine libprocess sends empty messages so).
                None => Framing::Length(0),
            }
        };
        Ok(Some(Partial {
            head,
            framing,
            body: BytesMut::new(),
        }))
    }
}

struct Connection {
    rt: Runtime,
    stream: TcpStream,
    peer: SocketAddr,
    parser: RequestParser,
    output: BytesMut,
    /// Set once a libprocess message arrived: the connection is a peer's persistent link,
    /// which the idle timeout must not close.
    carried_message: bool,
}

impl Connection {
    fn new(rt: Runtime, stream: TcpStream, peer: SocketAddr) -> Self {
        let parser = RequestParser::new(rt.0.max_body);
        Connection {
            rt,
            stream,
            peer,
            parser,
            output: BytesMut::with_capacity(16 * 1024),
            carried_message: false,
        }
    }

    async fn run(mut self) -> Result<(), String> {
        loop {
            // Handle every complete request already buffered, answering in order.
            loop {
                match self.parser.next_request() {
                    Ok(Some((head, body))) => {
                        let keep = head.keep_alive();
                        if head.is_message() {
                            self.carried_message = true;
                            self.handle_message(head, body.freeze());
                        } else {
                            // Answer what is queued first: HTTP handlers may take a while.
                            self.flush().await?;
                            let keep_streaming = self.handle_http(head, body.freeze()).await?;
                            if !keep_streaming {
                                return Ok(());
                            }
                        }
                        if !keep {
                            self.flush().await?;
                            return Ok(());
                        }
                    }
                    Ok(None) => break,
                    Err(fatal) => {
                        self.rt.metrics().counter(fatal.metric).inc();
                        tracing::warn!(peer = %self.peer, status = fatal.status, why = %fatal.message,
                            "rejecting malformed request");
                        let response = Response::new(fatal.status, fatal.message)
                            .with_header("Connection", "close");
                        write_response_head(
                            &mut self.output,
                            1,
                            &response,
                            Some(body_len(&response)),
                        );
                        if let Body::Full(b) = &response.body {
                            self.output.extend_from_slice(b);
                        }
                        self.flush().await?;
                        return Ok(());
                    }
                }
            }
            if !self.output.is_empty() {
                // Let the receivers run (and their replies be written) before the 202s go out:
                // the sender then wakes once for reply and 202 together, not twice.
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
            }
            self.flush().await?;
            let n = self.read_more().await?;
            if n == 0 {
                return Ok(());
            }
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        if !self.output.is_empty() {
            self.stream
                .write_all(&self.output)
                .await
                .map_err(|e| e.to_string())?;
            self.output.clear();
        }
        Ok(())
    }

    fn sender(&self, head: &Head) -> Result<Upid, String> {
        let text = match head.header("libprocess-from") {
            Some(from) => from,
            None => head
                .header("user-agent")
                .and_then(|ua| ua.strip_prefix("libprocess/"))
                .unwrap_or(""),
        };
        let from = Upid::parse(text.trim()).map_err(|e| e.to_string())?;
        if from.is_none() {
            return Err("the message has no sender".into());
        }
        Ok(from)
    }

    fn handle_message(&mut self, head: Head, body: Bytes) {
        let version = head.version;
        let status = match self.sender(&head) {
            Err(why) => {
                self.rt
                    .metrics()
                    .counter("libprocess/messages_bad_sender")
                    .inc();
                tracing::warn!(peer = %self.peer, %why, "dropping message with a malformed sender");
                Err(Response::bad_request(format!("Malformed sender: {why}")))
            }
            Ok(from) => {
                let path = head.path.trim_start_matches('/');
                match path
                    .split_once('/')
                    .filter(|(id, name)| !id.is_empty() && !name.is_empty())
                {
                    None => {
                        self.rt
                            .metrics()
                            .counter("libprocess/messages_bad_path")
                            .inc();
                        Err(Response::bad_request(
                            "Malformed message path: expected /<process-id>/<message-name>",
                        ))
                    }
                    Some((id, name)) => {
                        let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
                        self.rt
                            .metrics()
                            .counter("libprocess/messages_received")
                            .inc();
                        let message = Message {
                            from,
                            to: self.rt.upid(&id),
                            name: name.to_string(),
                            body,
                        };
                        Ok(self.rt.deliver(message))
                    }
                }
            }
        };
        match status {
            Ok(true) => write_accepted(&mut self.output, version),
            Ok(false) => {
                write_response_head(&mut self.output, version, &Response::not_found(), Some(0));
            }
            Err(response) => {
                let len = body_len(&response);
                write_response_head(&mut self.output, version, &response, Some(len));
                if let Body::Full(b) = response.body {
                    self.output.extend_from_slice(&b);
                }
            }
        }
    }

    /// Routes a plain HTTP request and writes its response. Returns false if the connection
    /// must end (a streamed response over HTTP/1.0, or the client went away mid-stream).
    async fn handle_http(&mut self, head: Head, body: Bytes) -> Result<bool, String> {
        let version = head.version;
        let request = Request {
            method: head.method,
            path: percent_encoding::percent_decode_str(&head.path)
                .decode_utf8_lossy()
                .into_owned(),
            rest: String::new(),
            query: parse_query(&head.query),
            headers: head
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
            peer: Some(self.peer),
        };
        let mut response = self.rt.http(request).await;
        let body = std::mem::replace(&mut response.body, Body::Full(Bytes::new()));
        match body {
            Body::Full(ref bytes) => {
                write_response_head(&mut self.output, version, &response, Some(bytes.len()));
                self.output.extend_from_slice(bytes);
                self.flush_http().await?;
                Ok(true)
            }
            Body::Stream(mut rx) => {
                let chunked = version >= 1;
                write_response_head(&mut self.output, version, &response, None);
                self.flush_http().await?;
                let mut probe = [0u8; 1024];
                loop {
                    let room = self.parser.buffered() < MAX_BUFFERED_WHILE_STREAMING;
                    tokio::select! {
                        chunk = rx.recv() => match chunk {
                            Some(chunk) if chunk.is_empty() => {}
                            Some(chunk) => {
                                if chunked {
                                    self.output.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                                    self.output.extend_from_slice(&chunk);
                                    self.output.extend_from_slice(b"\r\n");
                                } else {
                                    self.output.extend_from_slice(&chunk);
                                }
                                self.flush_http().await?;
                            }
                            None => {
                                if chunked {
                                    self.output.extend_from_slice(b"0\r\n\r\n");
                                    self.flush_http().await?;
                                }
                                return Ok(chunked);
                            }
                        },
                        // A client of a stream sends nothing more; EOF means it went away.
                        // What it pipelines meanwhile waits for the stream's end, up to a cap;
                        // past it we stop reading (a vanished client then shows as a failed
                        // write) rather than buffer without bound.
                        read = self.stream.read(&mut probe), if room => match read {
                            Ok(0) | Err(_) => return Ok(false),
                            Ok(n) => self.parser.feed(&probe[..n]),
                        },
                    }
                }
            }
        }
    }
}

fn too_large(limit: usize) -> Fatal {
    Fatal::new(
        413,
        "libprocess/requests_too_large",
        format!("Request body exceeds the limit of {limit} bytes"),
    )
}

fn chunked_fatal(e: ChunkedError, max: usize) -> Fatal {
    match e {
        ChunkedError::TooLarge { .. } => too_large(max),
        other => Fatal::new(
            400,
            "libprocess/requests_malformed",
            format!("Malformed chunked body: {other}"),
        ),
    }
}

fn body_len(response: &Response) -> usize {
    match &response.body {
        Body::Full(b) => b.len(),
        Body::Stream(_) => 0,
    }
}

/// Appends `202 Accepted` exactly as genuine libprocess answers a message. The bytes are
/// rebuilt once a second (for `Date`), not per message.
fn write_accepted(out: &mut BytesMut, version: u8) {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, Vec<u8>, Vec<u8>)> =
            const { std::cell::RefCell::new((u64::MAX, Vec::new(), Vec::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            let date = http_date(now);
            c.0 = now;
            c.1 = format!("HTTP/1.1 202 Accepted\r\nDate: {date}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes();
            c.2 = format!("HTTP/1.0 202 Accepted\r\nDate: {date}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes();
        }
        out.extend_from_slice(if version == 0 { &c.2 } else { &c.1 });
    });
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes the status line and headers. `length: None` means a streamed body (chunked on
/// HTTP/1.1, until close on HTTP/1.0).
fn write_response_head(
    out: &mut BytesMut,
    version: u8,
    response: &Response,
    length: Option<usize>,
) {
    use std::fmt::Write as _;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut head = String::with_capacity(128);
    let _ = write!(
        head,
        "HTTP/1.{} {} {}\r\nDate: {}\r\n",
        version.min(1),
        response.status,
        reason(response.status),
        http_date(now)
    );
    for (k, v) in &response.headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    match length {
        Some(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        None if version >= 1 => head.push_str("Transfer-Encoding: chunked\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
}

/// RFC 7231 IMF-fixdate, e.g. `Mon, 23 Nov 2026 12:09:58 GMT`.
pub(crate) fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_match_rfc_7231() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_435_798), "Mon, 23 Nov 2026 12:09:58 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn oversize_and_malformed_chunked_requests_are_413_and_400() {
        for (wire, status) in [(&b"ff\r\n"[..], 413), (&b"zz\r\n"[..], 400)] {
            let mut p = RequestParser::new(16);
            p.feed(b"POST /a/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
            p.feed(wire);
            assert_eq!(p.next_request().err().map(|f| f.status), Some(status));
        }
    }
}
