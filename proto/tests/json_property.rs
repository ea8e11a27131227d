//! Property test of Mesos JSON → protobuf (the fuzz target `json_to_proto`'s invariants,
//! bounded, in the normal suite): a fixed-seed loop of JSON documents shaped like v1 calls,
//! well and badly typed, never panics, fails only with `JsonError`, and whatever parses
//! renders to JSON that parses again to the same rendering.

use mesos_proto::mesos::{self, v1};
use mesos_proto::{from_json, to_json, JsonError};
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &[
    "type",
    "framework_id",
    "value",
    "subscribe",
    "framework_info",
    "user",
    "name",
    "id",
    "accept",
    "offer_ids",
    "operations",
    "filters",
    "refuse_seconds",
    "decline",
    "kill",
    "task_id",
    "agent_id",
    "executor_id",
    "update",
    "status",
    "state",
    "uuid",
    "data",
    "message",
    "acknowledge",
    "resources",
    "scalar",
    "ranges",
    "range",
    "begin",
    "end",
    "set",
    "item",
    "role",
    "reservations",
    "command",
    "shell",
    "arguments",
    "environment",
    "variables",
    "labels",
    "key",
    "capabilities",
    "failover_timeout",
    "checkpoint",
    "nope",
];
const STRINGS: &[&str] = &[
    "SUBSCRIBE",
    "ACCEPT",
    "LAUNCH",
    "SCALAR",
    "RANGES",
    "TASK_RUNNING",
    "bogus",
    "",
    "NaN",
    "Infinity",
    "-Infinity",
    "1.5",
    "12",
    "-3",
    "true",
    "AAEC",
    "!!",
    "cpus",
    "*",
];

fn value(rng: &mut impl Rng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.gen_bool(0.5)),
        2 => json!(rng.gen_range(-5i64..1_000_000)),
        3 => json!([1e308, -0.5, 0.0, 4.2e9, 1.0e-300][rng.gen_range(0..5)]),
        4 => json!(u64::MAX - rng.gen_range(0..3)),
        5 => json!(STRINGS[rng.gen_range(0..STRINGS.len())]),
        6 | 7 => object(rng, depth + 1),
        _ => Value::Array(
            (0..rng.gen_range(0..3))
                .map(|_| value(rng, depth + 1))
                .collect(),
        ),
    }
}

fn object(rng: &mut impl Rng, depth: u32) -> Value {
    let mut m = Map::new();
    for _ in 0..rng.gen_range(0..5) {
        m.insert(KEYS[rng.gen_range(0..KEYS.len())].into(), value(rng, depth));
    }
    Value::Object(m)
}

fn check<M: prost::Message + prost::Name + Default>(doc: &Value) -> bool {
    match from_json::<M>(doc) {
        Ok(m) => {
            let rendered = to_json(&m);
            let again: M = from_json(&rendered).unwrap_or_else(|e| {
                panic!("{} does not parse again: {e}\n{rendered}", M::full_name())
            });
            assert_eq!(to_json(&again), rendered, "{doc}");
            true
        }
        Err(
            JsonError::UnknownMessage(_)
            | JsonError::Syntax(_)
            | JsonError::Invalid(_)
            | JsonError::MissingRequired(_)
            | JsonError::Decode(_),
        ) => false,
    }
}

#[test]
fn property_parsed_json_renders_to_json_that_parses_to_the_same_rendering() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x15_0A);
    let mut parsed = 0;
    for i in 0..3000 {
        let doc = object(&mut rng, 0);
        let ok = match i % 5 {
            0 => check::<v1::scheduler::Call>(&doc),
            1 => check::<v1::executor::Call>(&doc),
            2 => check::<mesos::TaskInfo>(&doc),
            3 => check::<mesos::Resource>(&doc),
            _ => check::<v1::master::Call>(&doc),
        };
        parsed += usize::from(ok);
    }
    assert!(
        parsed > 500,
        "only {parsed} documents parsed: the generator is off"
    );
}
