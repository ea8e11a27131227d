//! Property test of resource parsing (the fuzz target `resources_parse`'s invariants,
//! bounded, in the normal suite): a fixed-seed loop of text and JSON resources, well and
//! badly formed, never panics, fails only with `ResourceError`, and whatever parses survives
//! a round trip through its protobuf form.

use mesos_allocator::Resources;
use rand::{Rng, SeedableRng};

fn pick<'a>(rng: &mut impl Rng, options: &[&'a str]) -> &'a str {
    options[rng.gen_range(0..options.len())]
}

fn text_item(rng: &mut impl Rng) -> String {
    let name = pick(
        rng,
        &["cpus", "mem", "disk", "ports", "zones", "gpus", "", "a b"],
    );
    let role = pick(rng, &["", "(web)", "(*)", "()", "(a", "(x)(y)"]);
    let value = match rng.gen_range(0..4) {
        0 => pick(
            rng,
            &[
                "4",
                "0.5",
                "0",
                "-1",
                "1e300",
                "NaN",
                "inf",
                "0.0001",
                "9007199254740993",
                "",
            ],
        )
        .to_string(),
        1 => {
            let mut ranges = Vec::new();
            for _ in 0..rng.gen_range(0..4) {
                let b: u64 = rng.gen_range(0..100);
                ranges.push(format!("{b}-{}", b + rng.gen_range(0..10)));
            }
            if rng.gen_bool(0.1) {
                ranges.push(
                    pick(
                        rng,
                        &[
                            "9-1",
                            "x-2",
                            "18446744073709551615-18446744073709551615",
                            "5",
                        ],
                    )
                    .into(),
                );
            }
            format!("[{}]", ranges.join(", "))
        }
        2 => format!("{{{}}}", pick(rng, &["a,b", "a", "", "a,,a", "{"])),
        _ => pick(rng, &["[1-2", "{a", ":", "[]", "{}"]).to_string(),
    };
    format!("{name}{role}:{value}")
}

fn json_item(rng: &mut impl Rng) -> String {
    let name = pick(rng, &["cpus", "mem", "ports", "zones"]);
    let body = match rng.gen_range(0..5) {
        0 => format!(
            r#""type":"SCALAR","scalar":{{"value":{}}}"#,
            pick(
                rng,
                &["1", "0.25", "-3", "1e308", "\"NaN\"", "\"Infinity\""]
            )
        ),
        1 => r#""type":"RANGES","ranges":{"range":[{"begin":5,"end":9},{"begin":1,"end":2}]}"#
            .to_string(),
        2 => r#""type":"SET","set":{"item":["a","b"]}"#.to_string(),
        3 => r#""type":"RANGES","ranges":{"range":[{"begin":9,"end":1}]}"#.to_string(),
        _ => pick(
            rng,
            &[r#""type":"SCALAR""#, r#""type":"TEXT""#, r#""type":7"#],
        )
        .to_string(),
    };
    let role = pick(
        rng,
        &[
            "",
            r#","role":"web""#,
            r#","reservations":[{"type":"STATIC","role":"r"}]"#,
        ],
    );
    format!(r#"{{"name":"{name}",{body}{role}}}"#)
}

#[test]
fn property_parsed_resources_round_trip_through_protobuf_and_errors_are_typed() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x2E50C);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let n = rng.gen_range(0..4);
        let text = if rng.gen_bool(0.7) {
            (0..n)
                .map(|_| text_item(&mut rng))
                .collect::<Vec<_>>()
                .join(";")
        } else {
            format!(
                "[{}]",
                (0..n)
                    .map(|_| json_item(&mut rng))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let role = pick(&mut rng, &["*", "web"]);
        match Resources::parse(&text, role) {
            Ok(parsed) => {
                ok += 1;
                let again = Resources::from_protos(&parsed.to_protos());
                assert_eq!(again.as_ref(), Ok(&parsed), "{text:?}");
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        ok > 300 && err > 300,
        "ok {ok}, err {err}: the generator is off"
    );
}
