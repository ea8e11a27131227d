//! Fuzzes the shared chunked-body decoder (the HTTP client's response decoder and the
//! server's request-body decoder): arbitrary bytes fed in arbitrary pieces never panic and
//! never produce more than the cap; a body encoded from the input decodes back to it.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use libprocess::chunked::{encode_chunk, ChunkedDecoder, Progress, LAST_CHUNK};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let limit = usize::from(first) * 4;
    let step = usize::from(first % 7) + 1;

    // Arbitrary wire bytes.
    let mut d = ChunkedDecoder::new(limit);
    let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
    'feed: for piece in rest.chunks(step) {
        input.extend_from_slice(piece);
        loop {
            match d.decode(&mut input, &mut out) {
                Ok(Progress::ChunkEnd) => assert!(out.len() <= limit),
                Ok(Progress::NeedMore) => break,
                Ok(Progress::Done) | Err(_) => break 'feed,
            }
        }
    }
    assert!(out.len() <= limit);

    // The input as a body: encode in `step`-sized chunks, decode, compare.
    let mut wire = BytesMut::new();
    for piece in rest.chunks(step) {
        encode_chunk(piece, &mut wire);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let mut d = ChunkedDecoder::new(rest.len());
    let mut body = BytesMut::new();
    assert_eq!(d.decode_body(&mut wire, &mut body), Ok(true));
    assert_eq!(&body[..], rest);
});
