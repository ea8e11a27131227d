//! Fuzzes `Upid::parse` (senders of every inbound message): never a panic, and whatever
//! parses displays as text that parses back to the same UPID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libprocess::Upid;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Host names go to the resolver; keep the fuzzer on literal addresses and id/port syntax.
    if text
        .split_once('@')
        .and_then(|(_, rest)| rest.split(':').next())
        .is_some_and(|host| host.parse::<std::net::Ipv4Addr>().is_err() && !host.is_empty())
    {
        return;
    }
    if let Ok(upid) = Upid::parse(text) {
        assert_eq!(Upid::parse(&upid.to_string()), Ok(upid));
    }
});
