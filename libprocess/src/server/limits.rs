//! Limits on what one peer can make the server hold: concurrent connections, silent
//! connections, unread responses and declared body lengths (checked before anything is
//! allocated for them).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{too_large, Connection, Fatal, Head};
use crate::runtime::Runtime;

/// A place among the live inbound connections, given back when the connection ends.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Admits a new connection unless `Limits::max_inbound_connections` are already open, so a
/// peer that opens connections without end costs bounded memory. Refusals are counted.
pub(super) fn admit(rt: &Runtime, live: &Arc<AtomicUsize>, peer: SocketAddr) -> Option<Slot> {
    let limit = rt.0.limits.max_inbound_connections;
    if live.fetch_add(1, Ordering::AcqRel) >= limit {
        live.fetch_sub(1, Ordering::AcqRel);
        rt.metrics().counter("libprocess/connections_refused").inc();
        tracing::debug!(%peer, limit, "too many inbound connections; closing a new one");
        return None;
    }
    Some(Slot(live.clone()))
}

/// The declared body length, checked before anything is allocated for it: digits only (no
/// sign, no hex), every `Content-Length` header agreeing, within `max` (413) and without
/// overflow (400).
pub(super) fn content_length(head: &Head, max: usize) -> Result<Option<usize>, Fatal> {
    let mut length = None;
    for (_, v) in head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let invalid = || {
            Fatal::new(
                400,
                "libprocess/requests_malformed",
                format!("Invalid Content-Length '{v}'"),
            )
        };
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        // All digits: the only parse failure left is overflow, which is over any limit too.
        let n = match v.parse::<u64>() {
            Ok(n) => n,
            Err(_) => return Err(too_large(max)),
        };
        if length.is_some_and(|l| l != n) {
            return Err(Fatal::new(
                400,
                "libprocess/requests_malformed",
                "Conflicting Content-Length headers",
            ));
        }
        length = Some(n);
    }
    match length {
        None => Ok(None),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(too_large(max)),
        },
    }
}

impl Connection {
    /// Reads more input, or `Ok(0)` once the peer closed or stayed silent past
    /// `Limits::inbound_idle_timeout` (which spares peers' links: see [`Limits`]).
    ///
    /// [`Limits`]: crate::config::Limits
    pub(super) async fn read_more(&mut self) -> Result<usize, String> {
        let idle = self
            .rt
            .0
            .limits
            .inbound_idle_timeout
            .filter(|_| !self.carried_message);
        let read = self.stream.read_buf(self.parser.buffer());
        let Some(idle) = idle else {
            return read.await.map_err(|e| e.to_string());
        };
        match crate::timeout::timeout(self.rt.clock(), idle, read).await {
            Some(read) => read.map_err(|e| e.to_string()),
            None => {
                self.rt
                    .metrics()
                    .counter("libprocess/connections_idle_closed")
                    .inc();
                tracing::debug!(peer = %self.peer, ?idle, "closing an idle inbound connection");
                Ok(0)
            }
        }
    }

    /// Writes an HTTP response (or the next part of a stream). A client that takes nothing
    /// for `Limits::write_timeout` is cut off: otherwise an unread stream would pile up its
    /// chunks, and an unread response would be held, for as long as the client likes.
    pub(super) async fn flush_http(&mut self) -> Result<(), String> {
        if self.output.is_empty() {
            return Ok(());
        }
        let limit = self.rt.0.limits.write_timeout;
        let clock = self.rt.clock().clone();
        let done = {
            let mut write = std::pin::pin!(self.stream.write_all(&self.output));
            // Arm the timer only for a write the socket cannot take at once.
            match futures::FutureExt::now_or_never(&mut write) {
                Some(done) => Some(done),
                None => crate::timeout::timeout(&clock, limit, write).await,
            }
        };
        match done {
            Some(Ok(())) => {
                self.output.clear();
                Ok(())
            }
            Some(Err(e)) => Err(e.to_string()),
            None => {
                self.rt
                    .metrics()
                    .counter("libprocess/http_write_timeouts")
                    .inc();
                Err(format!("response write stalled for {limit:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::{chunked_fatal, RequestParser};
    use crate::chunked::ChunkedDecoder;

    fn status_of(head: &str, max_body: usize) -> Option<u16> {
        let mut parser = RequestParser::new(max_body);
        parser.feed(head.as_bytes());
        parser.next_request().err().map(|f| f.status)
    }

    fn with_length(value: &str) -> String {
        format!("POST /p/m HTTP/1.1\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: {value}\r\n\r\n")
    }

    #[test]
    fn huge_or_overflowing_content_lengths_are_413_before_any_body() {
        assert_eq!(
            status_of(&with_length(&u64::MAX.to_string()), 1024),
            Some(413)
        );
        assert_eq!(
            status_of(&with_length("99999999999999999999999999"), 1024),
            Some(413)
        );
        assert_eq!(status_of(&with_length("1025"), 1024), Some(413));
        assert_eq!(status_of(&with_length("1024"), 1024), None);
    }

    #[test]
    fn content_lengths_that_are_not_plain_digits_or_disagree_are_400() {
        for bad in ["+5", "-1", "0x10", "5 5", "abc", ""] {
            assert_eq!(status_of(&with_length(bad), 1024), Some(400), "{bad:?}");
        }
        let conflicting = "POST /p/m HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(status_of(conflicting, 1024), Some(400));
        let repeated = "POST /p/m HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx";
        let mut parser = RequestParser::new(1024);
        parser.feed(repeated.as_bytes());
        assert!(matches!(parser.next_request(), Ok(Some(_))));
    }

    #[test]
    fn a_declared_length_is_never_allocated_up_front() {
        // With no limit at all, a declared u64::MAX must still cost nothing until bytes
        // arrive (an up-front allocation of that size would abort the process).
        let mut parser = RequestParser::new(usize::MAX);
        parser.feed(with_length(&u64::MAX.to_string()).as_bytes());
        parser.feed(b"abc");
        assert!(matches!(parser.next_request(), Ok(None)));
        assert!(parser
            .partial
            .as_ref()
            .is_some_and(|p| p.body.capacity() < 1 << 20));
    }

    #[test]
    fn chunk_sizes_that_overflow_or_are_not_hex_are_rejected() {
        let status = |line: &str| {
            let mut input = BytesMut::from(line.as_bytes());
            ChunkedDecoder::new(1024)
                .decode_body(&mut input, &mut BytesMut::new())
                .map_err(|e| chunked_fatal(e, 1024))
                .err()
                .map(|f| f.status)
        };
        assert_eq!(status(&format!("{:x}\r\n", u64::MAX)), Some(413));
        assert_eq!(status("1ffffffffffffffffffff\r\n"), Some(400));
        for bad in ["+f", "-1", "0x10", "g", "", "f f"] {
            assert_eq!(status(&format!("{bad}\r\n")), Some(400), "{bad:?}");
        }
        assert_eq!(status("400;ext=1\r\n"), None);
    }
}
