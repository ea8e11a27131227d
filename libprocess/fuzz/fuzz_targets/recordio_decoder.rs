//! Fuzzes the RecordIO decoder of the v1 event streams: arbitrary bytes fed in arbitrary
//! pieces never panic and never yield a record above the cap; records encoded from the
//! input decode back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libprocess::recordio::{encode, Decoder};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let limit = usize::from(first);
    let step = usize::from(first % 5) + 1;

    let mut d = Decoder::new(limit);
    'feed: for piece in rest.chunks(step) {
        d.feed(piece);
        loop {
            match d.next_record() {
                Ok(Some(r)) => assert!(r.len() <= limit),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }

    let records: Vec<&[u8]> = rest.split(|b| *b == 0).collect();
    let mut d = Decoder::new(rest.len());
    for r in &records {
        d.feed(&encode(r));
    }
    for r in &records {
        assert_eq!(d.next_record().ok().flatten().as_deref(), Some(*r));
    }
    assert_eq!(d.next_record(), Ok(None));
});
