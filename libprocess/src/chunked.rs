//! Chunked transfer coding (`<hex size>\r\n<data>\r\n` … `0\r\n<trailers>\r\n`), decoded
//! incrementally and with a size cap. One decoder serves the inbound server (request bodies)
//! and the HTTP client (response bodies and event streams), so a peer cannot make either
//! buffer without bound or overflow a size computation.

use bytes::{Buf, BytesMut};

/// Longest chunk-size line or trailer line.
pub const MAX_LINE: usize = 4096;

/// Why a chunked body is rejected. After an error the stream cannot be resynchronised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("chunk-size line too long")]
    SizeLineTooLong,
    #[error("bad chunk size '{0}'")]
    BadSize(String),
    #[error("missing CRLF after chunk data")]
    MissingCrlf,
    #[error("trailer line too long")]
    TrailerLineTooLong,
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

/// What a call to [`ChunkedDecoder::decode`] reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The input ran out; feed more and call again.
    NeedMore,
    /// One whole chunk was appended to the output.
    ChunkEnd,
    /// The last chunk and the trailers are in; nothing more belongs to this body.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(usize),
    /// After a chunk's data, expecting CRLF.
    DataEnd,
    /// After the last chunk, expecting trailer lines up to an empty one.
    Trailers,
    Done,
}

/// Incremental decoder of one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    limit: usize,
}

impl ChunkedDecoder {
    /// A decoder whose output buffer may hold at most `limit` bytes: a chunk that would make
    /// it larger is refused before any of its data is read.
    pub fn new(limit: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            limit,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Moves bytes from `input` to `out` and stops at the end of each chunk, at the end of the
    /// body, or when `input` runs out. Bytes after the body stay in `input`.
    pub fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<Progress, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(Progress::Done),
                State::Size => {
                    let Some(end) = find_crlf(input) else {
                        if input.len() > MAX_LINE {
                            return Err(ChunkedError::SizeLineTooLong);
                        }
                        return Ok(Progress::NeedMore);
                    };
                    if end > MAX_LINE {
                        return Err(ChunkedError::SizeLineTooLong);
                    }
                    let size = parse_size(&input[..end])?;
                    input.advance(end + 2);
                    if size == 0 {
                        self.state = State::Trailers;
                    } else if out.len().saturating_add(size) > self.limit {
                        return Err(ChunkedError::TooLarge { limit: self.limit });
                    } else {
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    if input.is_empty() {
                        return Ok(Progress::NeedMore);
                    }
                    let take = left.min(input.len());
                    out.extend_from_slice(&input.split_to(take));
                    self.state = match left - take {
                        0 => State::DataEnd,
                        rest => State::Data(rest),
                    };
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        return Ok(Progress::NeedMore);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    input.advance(2);
                    self.state = State::Size;
                    return Ok(Progress::ChunkEnd);
                }
                State::Trailers => {
                    let Some(end) = find_crlf(input) else {
                        if input.len() > MAX_LINE {
                            return Err(ChunkedError::TrailerLineTooLong);
                        }
                        return Ok(Progress::NeedMore);
                    };
                    input.advance(end + 2);
                    if end == 0 {
                        self.state = State::Done;
                        return Ok(Progress::Done);
                    }
                }
            }
        }
    }

    /// Decodes until the whole body is in `out` (true) or `input` runs out (false).
    pub fn decode_body(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<bool, ChunkedError> {
        loop {
            match self.decode(input, out)? {
                Progress::NeedMore => return Ok(false),
                Progress::ChunkEnd => {}
                Progress::Done => return Ok(true),
            }
        }
    }
}

/// `<hex digits>[;extensions]`.
fn parse_size(line: &[u8]) -> Result<usize, ChunkedError> {
    let bad = || ChunkedError::BadSize(String::from_utf8_lossy(line).into_owned());
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let hex = text.split(';').next().unwrap_or("").trim();
    // `from_str_radix` would also take a sign.
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    usize::from_str_radix(hex, 16).map_err(|_| bad())
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Frames `data` as one chunk (empty data would end the body, so it is framed as nothing).
pub fn encode_chunk(data: &[u8], out: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn chunked_bodies_decode_across_arbitrary_splits() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-Trailer: y\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut d = ChunkedDecoder::new(1 << 20);
            let mut body = BytesMut::new();
            let mut input = BytesMut::from(&wire[..split]);
            let mut done = d.decode_body(&mut input, &mut body).unwrap();
            input.extend_from_slice(&wire[split..]);
            if !done {
                done = d.decode_body(&mut input, &mut body).unwrap();
            }
            assert!(done, "split at {split}");
            assert_eq!(&body[..], b"hello!");
            assert_eq!(&input[..], b"NEXT");
        }
    }

    #[test]
    fn decode_stops_at_each_chunk_end() {
        let mut d = ChunkedDecoder::new(16);
        let mut input = BytesMut::from(&b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"[..]);
        let mut out = BytesMut::new();
        assert_eq!(d.decode(&mut input, &mut out), Ok(Progress::ChunkEnd));
        assert_eq!(&out.split()[..], b"abc");
        assert_eq!(d.decode(&mut input, &mut out), Ok(Progress::ChunkEnd));
        assert_eq!(&out.split()[..], b"de");
        assert_eq!(d.decode(&mut input, &mut out), Ok(Progress::Done));
        assert_eq!(d.decode(&mut input, &mut out), Ok(Progress::Done));
        assert!(d.is_done());
    }

    #[test]
    fn oversize_and_malformed_chunks_are_typed_errors() {
        let cases: [(&[u8], ChunkedError); 6] = [
            (b"ff\r\n", ChunkedError::TooLarge { limit: 16 }),
            (b"zz\r\n", ChunkedError::BadSize("zz".into())),
            (b"+5\r\n", ChunkedError::BadSize("+5".into())),
            // A size that would overflow `size + 2` in a naive decoder.
            (
                b"ffffffffffffffff\r\n",
                ChunkedError::TooLarge { limit: 16 },
            ),
            (
                b"fffffffffffffffffffff\r\n",
                ChunkedError::BadSize("fffffffffffffffffffff".into()),
            ),
            (b"1\r\naXX", ChunkedError::MissingCrlf),
        ];
        for (wire, want) in cases {
            let mut input = BytesMut::from(wire);
            let got = ChunkedDecoder::new(16).decode_body(&mut input, &mut BytesMut::new());
            assert_eq!(got, Err(want), "{:?}", String::from_utf8_lossy(wire));
        }
        let mut input = BytesMut::from(&[b'1'; MAX_LINE + 1][..]);
        assert_eq!(
            ChunkedDecoder::new(16).decode_body(&mut input, &mut BytesMut::new()),
            Err(ChunkedError::SizeLineTooLong)
        );
    }

    /// Property: for random bodies cut into random chunks and fed in random pieces, decoding
    /// the encoding gives the body back; random bytes never panic and never exceed the cap.
    #[test]
    fn property_decode_of_encode_is_identity_and_garbage_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xC4_0F_0D);
        for _ in 0..3000 {
            let body: Vec<u8> = (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect();
            let mut wire = BytesMut::new();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = rng.gen_range(1..=rest.len());
                encode_chunk(&rest[..n], &mut wire);
                rest = &rest[n..];
            }
            wire.extend_from_slice(LAST_CHUNK);
            let mut d = ChunkedDecoder::new(body.len());
            let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
            let mut done = false;
            for piece in wire.chunks(rng.gen_range(1..=wire.len())) {
                input.extend_from_slice(piece);
                done = d.decode_body(&mut input, &mut out).unwrap();
            }
            assert!(done);
            assert_eq!(&out[..], &body[..]);
            assert!(input.is_empty());

            // Mutated or random input: a typed result, and never more than the cap.
            let mut garbage = wire.to_vec();
            for _ in 0..rng.gen_range(0..4) {
                if garbage.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..garbage.len());
                garbage[i] = rng.gen();
            }
            if rng.gen_bool(0.3) {
                garbage = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            }
            let limit = rng.gen_range(0..64);
            let mut d = ChunkedDecoder::new(limit);
            let mut out = BytesMut::new();
            let _ = d.decode_body(&mut BytesMut::from(&garbage[..]), &mut out);
            assert!(out.len() <= limit);
        }
    }
}
