//! RecordIO, the framing of the v1 APIs' event streams: each record is its length in
//! decimal, a newline, then that many bytes. A record may span transport chunks and a chunk
//! may hold several records. The decoder is bounded: a length above its cap is refused as
//! soon as the length line is read, so a peer cannot make it buffer without end.

use bytes::{Buf, Bytes, BytesMut};

/// Longest length line accepted (a u64 in decimal is 20 digits).
const MAX_LENGTH_LINE: usize = 20;

/// Default cap on one record: far above any event Mesos sends, far below memory trouble.
pub const DEFAULT_MAX_RECORD: usize = 64 * 1024 * 1024;

/// Why a stream is not RecordIO. After an error the stream cannot be resynchronised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    #[error("RecordIO length line too long")]
    LengthLineTooLong,
    #[error("RecordIO length '{0}' is not a number")]
    BadLength(String),
    #[error("RecordIO record of {length} bytes exceeds the limit of {limit}")]
    TooLarge { length: u64, limit: usize },
}

/// One record: `<length>\n<bytes>`.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(record);
    out.freeze()
}

/// Splits a byte stream into records.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_record: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_RECORD)
    }
}

impl Decoder {
    pub fn new(max_record: usize) -> Self {
        Decoder {
            buf: BytesMut::new(),
            max_record,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record, if one is buffered.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
            if self.buf.len() > MAX_LENGTH_LINE {
                return Err(RecordIoError::LengthLineTooLong);
            }
            return Ok(None);
        };
        if nl > MAX_LENGTH_LINE {
            return Err(RecordIoError::LengthLineTooLong);
        }
        let line = &self.buf[..nl];
        let bad = || RecordIoError::BadLength(String::from_utf8_lossy(line).into_owned());
        let text = std::str::from_utf8(line).map_err(|_| bad())?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let length: u64 = text.parse().map_err(|_| bad())?;
        let len = usize::try_from(length)
            .ok()
            .filter(|l| *l <= self.max_record)
            .ok_or(RecordIoError::TooLarge {
                length,
                limit: self.max_record,
            })?;
        if self.buf.len() - (nl + 1) < len {
            return Ok(None);
        }
        self.buf.advance(nl + 1);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Bytes buffered but not yet returned as records.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn records_are_length_prefixed() {
        assert_eq!(&encode(b"{}")[..], b"2\n{}");
        assert_eq!(&encode(b"")[..], b"0\n");
    }

    #[test]
    fn records_split_across_chunks_are_reassembled() {
        let mut d = Decoder::default();
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
    fn garbage_and_oversize_lengths_are_typed_errors() {
        let cases: [(&[u8], RecordIoError); 5] = [
            (b"x\n", RecordIoError::BadLength("x".into())),
            (b"+5\nhello", RecordIoError::BadLength("+5".into())),
            (&[b'9'; 25], RecordIoError::LengthLineTooLong),
            (
                b"99999999999999999999\n",
                RecordIoError::BadLength("99999999999999999999".into()),
            ),
            // Refused from the length alone, before any of the record arrives.
            (
                b"1000\n",
                RecordIoError::TooLarge {
                    length: 1000,
                    limit: 999,
                },
            ),
        ];
        for (wire, want) in cases {
            let mut d = Decoder::new(999);
            d.feed(wire);
            assert_eq!(d.next_record(), Err(want));
        }
    }

    /// Property: decode(encode(records)) == records whatever the feeding pieces; random bytes
    /// give typed errors or records, never a panic, never a record above the cap.
    #[test]
    fn property_decode_of_encode_is_identity_and_garbage_never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EC0_4D10);
        for _ in 0..3000 {
            let records: Vec<Vec<u8>> = (0..rng.gen_range(0..6))
                .map(|_| (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect())
                .collect();
            let wire: Vec<u8> = records.iter().flat_map(|r| encode(r).to_vec()).collect();
            let mut d = Decoder::new(200);
            let mut got = Vec::new();
            let step = rng.gen_range(1..=wire.len().max(1));
            for piece in wire.chunks(step) {
                d.feed(piece);
                while let Some(r) = d.next_record().unwrap() {
                    got.push(r.to_vec());
                }
            }
            assert_eq!(got, records);
            assert_eq!(d.buffered(), 0);

            let mut garbage = wire;
            if garbage.is_empty() || rng.gen_bool(0.3) {
                let alphabet = b"0123456789\nx-";
                garbage = (0..rng.gen_range(0..64))
                    .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                    .collect();
            } else {
                let i = rng.gen_range(0..garbage.len());
                garbage[i] = rng.gen();
            }
            let limit = rng.gen_range(0..100);
            let mut d = Decoder::new(limit);
            d.feed(&garbage);
            while let Ok(Some(r)) = d.next_record() {
                assert!(r.len() <= limit);
            }
        }
    }
}
