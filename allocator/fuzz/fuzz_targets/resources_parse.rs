//! Fuzzes resource parsing (`--resources` text syntax and the JSON array form): never a
//! panic, and whatever parses survives a round trip through its protobuf form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_allocator::Resources;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for role in ["*", "web"] {
        if let Ok(parsed) = Resources::parse(text, role) {
            let again = Resources::from_protos(&parsed.to_protos());
            assert_eq!(again.as_ref(), Ok(&parsed), "{text:?}");
        }
    }
});
