//! The outbound wire form of a message, byte for byte what genuine libprocess sends.
//!
//! ```text
//! POST /<to.id>/<name> HTTP/1.1\r\n
//! User-Agent: libprocess/<from>\r\n
//! Libprocess-From: <from>\r\n
//! Connection: Keep-Alive\r\n
//! Host: \r\n
//! Transfer-Encoding: chunked\r\n\r\n<hex len>\r\n<body>\r\n0\r\n\r\n
//! ```
//! An empty body has no framing headers at all (see the native-agent captures).

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::pid::Upid;

/// A message between processes: a protobuf (or opaque) body named by its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: Upid,
    pub to: Upid,
    pub name: String,
    pub body: Bytes,
}

/// Appends the request for `message` to `out`.
pub fn encode_into(message: &Message, out: &mut BytesMut) {
    out.reserve(160 + message.name.len() + message.body.len());
    // `write!` into BytesMut cannot fail; it only grows the buffer.
    let _ = write!(
        out,
        "POST /{}/{} HTTP/1.1\r\nUser-Agent: libprocess/{}\r\nLibprocess-From: {}\r\nConnection: Keep-Alive\r\nHost: \r\n",
        message.to.id, message.name, message.from, message.from
    );
    if message.body.is_empty() {
        out.put_slice(b"\r\n");
    } else {
        let _ = write!(
            out,
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            message.body.len()
        );
        out.put_slice(&message.body);
        out.put_slice(b"\r\n0\r\n\r\n");
    }
}

/// The request for `message` as one buffer.
pub fn encode(message: &Message) -> Bytes {
    let mut out = BytesMut::new();
    encode_into(message, &mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &'static [u8]) -> Message {
        Message {
            from: Upid::parse("slave(1)@127.0.0.1:26081").unwrap(),
            to: Upid::parse("slave-observer(1)@127.0.0.1:26071").unwrap(),
            name: "mesos.internal.PongSlaveMessage".into(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn empty_body_has_no_framing_headers() {
        let wire = encode(&msg(b""));
        assert_eq!(
            &wire[..],
            &b"POST /slave-observer(1)/mesos.internal.PongSlaveMessage HTTP/1.1\r\n\
User-Agent: libprocess/slave(1)@127.0.0.1:26081\r\n\
Libprocess-From: slave(1)@127.0.0.1:26081\r\n\
Connection: Keep-Alive\r\nHost: \r\n\r\n"[..]
        );
    }

    #[test]
    fn body_is_one_lowercase_hex_chunk_then_terminator() {
        let body = [7u8; 176];
        let mut m = msg(b"");
        m.body = Bytes::copy_from_slice(&body);
        let wire = encode(&m);
        let text = String::from_utf8_lossy(&wire);
        assert!(text.contains("Transfer-Encoding: chunked\r\n\r\nb0\r\n"));
        assert!(wire.ends_with(b"\r\n0\r\n\r\n"));
    }
}
