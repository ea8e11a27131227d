//! Fuzzes the inbound path: HTTP/1.x request parsing, sender parsing and the Mesos decoder
//! (proto2 required-field check) for whatever message names the input carries.
//!
//! Run: `cd libprocess/fuzz && cargo +nightly fuzz run inbound_request`
#![no_main]

use libfuzzer_sys::fuzz_target;
use libprocess::server::RequestParser;
use libprocess::Upid;

fuzz_target!(|data: &[u8]| {
    let mut parser = RequestParser::new(1 << 20);
    // Feed in two pieces to exercise resumption.
    let split = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    parser.feed(&data[..split]);
    let _ = parser.next_request();
    parser.feed(&data[split..]);
    while let Ok(Some((head, body))) = parser.next_request() {
        if head.is_message() {
            if let Some(from) = head.header("libprocess-from") {
                let _ = Upid::parse(from);
            }
            let name = head.path.rsplit('/').next().unwrap_or("");
            let _ = mesos_proto::check(name, &body);
        }
    }
});
