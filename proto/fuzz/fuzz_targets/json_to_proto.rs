//! Fuzzes Mesos JSON → protobuf (the v1 APIs' JSON bodies): never a panic, and whatever
//! parses renders to JSON that parses again to the same rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_proto::mesos::{self, v1};
use mesos_proto::{from_json, from_json_str, to_json};

fn check<M: prost::Message + prost::Name + Default>(text: &str) {
    if let Ok(m) = from_json_str::<M>(text) {
        let rendered = to_json(&m);
        let again: M = from_json(&rendered).expect("rendered JSON parses");
        assert_eq!(to_json(&again), rendered);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 5 {
        0 => check::<v1::scheduler::Call>(text),
        1 => check::<v1::executor::Call>(text),
        2 => check::<mesos::TaskInfo>(text),
        3 => check::<mesos::Resource>(text),
        _ => check::<v1::master::Call>(text),
    }
});
