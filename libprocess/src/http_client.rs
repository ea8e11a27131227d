//! The little HTTP/1.1 client the v1 APIs need (HTTP schedulers and executors): POST a body,
//! read a whole response or a chunked stream chunk by chunk, and split a stream into RecordIO
//! records (`<decimal length>\n<bytes>`; a record may span chunks and a chunk may hold
//! several).

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest RecordIO length line accepted (a u64 in decimal is 20 digits).
const MAX_LENGTH_LINE: usize = 20;

/// Largest body, chunk or record accepted from a server, whatever length it announces: a
/// peer's number must neither overflow the arithmetic nor make us buffer without end.
pub const MAX_RESPONSE_PART: usize = crate::config::DEFAULT_MAX_BODY;

fn too_large(what: &str, len: usize) -> HttpError {
    HttpError::Malformed(format!(
        "{what} of {len} bytes exceeds the limit of {MAX_RESPONSE_PART} bytes"
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("the server closed the connection")]
    Closed,
}

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// One HTTP/1.1 connection.
pub struct HttpConn {
    stream: TcpStream,
    buf: BytesMut,
    host: String,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> Result<HttpConn, HttpError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            host: addr.to_string(),
        })
    }

    /// Sends a request and reads the response head (not the body).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ResponseHead, HttpError> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.write_all(&out).await?;
        self.read_head().await
    }

    async fn fill(&mut self) -> Result<(), HttpError> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(HttpError::Closed);
        }
        Ok(())
    }

    async fn read_head(&mut self) -> Result<ResponseHead, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let head = ResponseHead {
                        status: resp.code.unwrap_or(0),
                        headers: resp
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).trim().to_string(),
                                )
                            })
                            .collect(),
                    };
                    self.buf.advance(n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(e) => return Err(HttpError::Malformed(e.to_string())),
            }
        }
    }

    /// Reads a whole (non-streaming) body.
    pub async fn body(&mut self, head: &ResponseHead) -> Result<Bytes, HttpError> {
        if head.chunked() {
            let mut body = BytesMut::new();
            while let Some(chunk) = self.chunk().await? {
                body.extend_from_slice(&chunk);
            }
            return Ok(body.freeze());
        }
        let len: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > MAX_RESPONSE_PART {
            return Err(too_large("a body", len));
        }
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok(self.buf.split_to(len).freeze())
    }

    /// The next chunk of a chunked body; `None` after the last one.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        let size = loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = std::str::from_utf8(&self.buf[..end])
                    .map_err(|_| HttpError::Malformed("chunk size".into()))?;
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| HttpError::Malformed(format!("chunk size '{line}'")))?;
                self.buf.advance(end + 2);
                if size > MAX_RESPONSE_PART {
                    return Err(too_large("a chunk", size));
                }
                break size;
            }
            self.fill().await?;
        };
        if size == 0 {
            loop {
                if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    self.buf.advance(end + 2);
                    if end == 0 {
                        return Ok(None);
                    }
                } else {
                    self.fill().await?;
                }
            }
        }
        while self.buf.len() < size + 2 {
            self.fill().await?;
        }
        let chunk = self.buf.split_to(size).freeze();
        self.buf.advance(2);
        Ok(Some(chunk))
    }
}

/// Splits a byte stream into RecordIO records.
#[derive(Default)]
pub struct RecordIoDecoder {
    buf: BytesMut,
}

impl RecordIoDecoder {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record, if one is buffered.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, HttpError> {
        let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
            if self.buf.len() > MAX_LENGTH_LINE {
                return Err(HttpError::Malformed("RecordIO length line too long".into()));
            }
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buf[..nl])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| HttpError::Malformed("RecordIO length is not a number".into()))?;
        if len > MAX_RESPONSE_PART {
            return Err(too_large("a RecordIO record", len));
        }
        if self.buf.len() < nl + 1 + len {
            return Ok(None);
        }
        self.buf.advance(nl + 1);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_across_chunks_are_reassembled() {
        let mut d = RecordIoDecoder::default();
        d.feed(b"1");
        assert!(d.next_record().unwrap().is_none());
        d.feed(b"1\nhello ");
        assert!(d.next_record().unwrap().is_none());
        d.feed(b"world2\nab0\n");
        assert_eq!(&d.next_record().unwrap().unwrap()[..], b"hello world");
        assert_eq!(&d.next_record().unwrap().unwrap()[..], b"ab");
        assert_eq!(&d.next_record().unwrap().unwrap()[..], b"");
        assert!(d.next_record().unwrap().is_none());
    }

    #[test]
    fn garbage_length_lines_are_errors() {
        let mut d = RecordIoDecoder::default();
        d.feed(b"x\n");
        assert!(d.next_record().is_err());
        let mut d = RecordIoDecoder::default();
        d.feed(&[b'9'; 25]);
        assert!(d.next_record().is_err());
    }

    #[test]
    fn record_lengths_beyond_the_limit_are_errors_not_overflows() {
        let mut d = RecordIoDecoder::default();
        d.feed(b"18446744073709551615\n");
        let err = d.next_record().unwrap_err().to_string();
        assert!(err.contains("exceeds the limit"), "{err}");
        let mut d = RecordIoDecoder::default();
        d.feed(format!("{}\n", MAX_RESPONSE_PART + 1).as_bytes());
        assert!(d.next_record().is_err());
    }

    /// A server that answers any request with `response`.
    async fn answering(response: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(response).await.unwrap();
            let _ = s.read(&mut buf).await;
        });
        addr
    }

    #[tokio::test]
    async fn chunk_sizes_and_content_lengths_beyond_the_limit_are_errors_not_overflows() {
        let addr = answering(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
        )
        .await;
        let mut c = HttpConn::connect(addr).await.unwrap();
        c.request("POST", "/x", &[], b"").await.unwrap();
        let err = c.chunk().await.unwrap_err().to_string();
        assert!(err.contains("a chunk of"), "{err}");

        let addr = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\nab").await;
        let mut c = HttpConn::connect(addr).await.unwrap();
        let head = c.request("POST", "/x", &[], b"").await.unwrap();
        let err = c.body(&head).await.unwrap_err().to_string();
        assert!(err.contains("a body of"), "{err}");
    }

    #[tokio::test]
    async fn chunked_stream_is_read_chunk_by_chunk() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n5\nh\r\n")
                .await
                .unwrap();
            s.write_all(b"4\r\nello\r\n0\r\n\r\n").await.unwrap();
        });
        let mut c = HttpConn::connect(addr).await.unwrap();
        let head = c.request("POST", "/x", &[], b"{}").await.unwrap();
        assert_eq!(head.status, 200);
        assert!(head.chunked());
        let mut d = RecordIoDecoder::default();
        let mut records = Vec::new();
        while let Some(chunk) = c.chunk().await.unwrap() {
            d.feed(&chunk);
            while let Some(r) = d.next_record().unwrap() {
                records.push(r);
            }
        }
        assert_eq!(records, vec![Bytes::from_static(b"hello")]);
        server.await.unwrap();
    }
}
