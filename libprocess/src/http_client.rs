//! The little HTTP/1.1 client the v1 APIs need (HTTP schedulers and executors): POST a body,
//! read a whole response or a chunked stream chunk by chunk (feed the chunks to a
//! [`recordio::Decoder`](crate::recordio::Decoder) to get events). Bodies are bounded by
//! [`MAX_BODY`], chunked ones through the shared [`ChunkedDecoder`].

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunked::{ChunkedDecoder, ChunkedError, Progress};
use crate::recordio::RecordIoError;

/// Largest response body, and largest chunk of a stream, this client takes.
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest response head (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("malformed chunked body: {0}")]
    Chunked(#[from] ChunkedError),
    #[error(transparent)]
    RecordIo(#[from] RecordIoError),
    #[error("response body of {0} bytes exceeds the limit of {MAX_BODY}")]
    TooLarge(usize),
}

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::find_header(&self.headers, name)
    }

    pub fn chunked(&self) -> bool {
        crate::http::is_chunked(self.header("transfer-encoding"))
    }
}

/// One HTTP/1.1 connection.
pub struct HttpConn {
    stream: TcpStream,
    buf: BytesMut,
    host: String,
    /// The chunked body of the current response, if it has one.
    chunks: ChunkedDecoder,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> Result<HttpConn, HttpError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            host: addr.to_string(),
            chunks: ChunkedDecoder::new(MAX_BODY),
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
                        headers: crate::http::owned_headers(resp.headers),
                    };
                    self.buf.advance(n);
                    self.chunks = ChunkedDecoder::new(MAX_BODY);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                    return Err(HttpError::Malformed("response head too large".into()))
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
            while !self.chunks.decode_body(&mut self.buf, &mut body)? {
                self.fill().await?;
            }
            return Ok(body.freeze());
        }
        let len: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > MAX_BODY {
            return Err(HttpError::TooLarge(len));
        }
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok(self.buf.split_to(len).freeze())
    }

    /// The next chunk of a chunked body; `None` after the last one.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        let mut chunk = BytesMut::new();
        loop {
            match self.chunks.decode(&mut self.buf, &mut chunk)? {
                Progress::ChunkEnd => return Ok(Some(chunk.freeze())),
                Progress::Done => return Ok(None),
                Progress::NeedMore => self.fill().await?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut d = crate::recordio::Decoder::default();
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

    /// Serves one canned response to the first request on a fresh listener.
    async fn serve_once(response: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(response).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn oversize_chunks_and_bodies_are_typed_errors_not_panics() {
        // `usize::MAX` as a chunk size: a naive `size + 2` overflows.
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx",
        )
        .await;
        let mut c = HttpConn::connect(addr).await.unwrap();
        let head = c.request("POST", "/x", &[], b"").await.unwrap();
        let err = c.chunk().await.unwrap_err();
        assert!(
            matches!(err, HttpError::Chunked(ChunkedError::TooLarge { .. })),
            "{err}"
        );

        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n").await;
        let mut c = HttpConn::connect(addr).await.unwrap();
        let head2 = c.request("POST", "/x", &[], b"").await.unwrap();
        assert!(matches!(
            c.body(&head2).await,
            Err(HttpError::TooLarge(99999999999))
        ));
        assert!(head.chunked());

        // A head that never ends is refused once it passes the cap, not buffered forever.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nX-Filler: ").await;
            while s.write_all(&[b'a'; 1024]).await.is_ok() {}
        });
        let mut c = HttpConn::connect(addr).await.unwrap();
        let got = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            c.request("GET", "/x", &[], b""),
        )
        .await
        .expect("the client must give up on an endless head");
        assert!(matches!(got, Err(HttpError::Malformed(_))));
    }
}
