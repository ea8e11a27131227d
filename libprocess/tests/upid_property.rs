//! Property test of `Upid::parse` (the fuzz target `upid_parse`'s invariants, bounded, in the
//! normal suite): a fixed-seed loop of id/host/port shapes never panics, errors are typed,
//! and whatever parses displays as text that parses back to the same UPID.

use libprocess::{Upid, UpidError};
use rand::{Rng, SeedableRng};

fn pick<'a>(rng: &mut impl Rng, options: &[&'a str]) -> &'a str {
    options[rng.gen_range(0..options.len())]
}

#[test]
fn property_parse_of_display_round_trips_and_garbage_is_a_typed_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0_91D);
    let alphabet = b"ab(1)@:. -_%\t";
    let mut parsed = 0;
    for _ in 0..5000 {
        let id: String = (0..rng.gen_range(0..8))
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
            .collect();
        // Literal hosts only: names would go to the resolver.
        let host = pick(
            &mut rng,
            &["127.0.0.1", "0.0.0.0", "10.1.2.3", "", "255.255.255.255"],
        );
        let port = pick(
            &mut rng,
            &[
                "5050",
                "0",
                "65535",
                "65536",
                "-1",
                "+7",
                "",
                "x",
                "99999999999",
            ],
        );
        let text = match rng.gen_range(0..4) {
            0 => format!("{id}@{host}:{port}"),
            1 => format!("{id}@{host}"),
            2 => format!("{id}{host}:{port}"),
            _ => format!(" {id}@{host}:{port}@{id} "),
        };
        match Upid::parse(&text) {
            Ok(upid) => {
                parsed += 1;
                assert_eq!(Upid::parse(&upid.to_string()), Ok(upid.clone()), "{text:?}");
                assert!(upid.is_none() || !upid.id.is_empty());
            }
            Err(
                UpidError::MissingAt(_)
                | UpidError::MissingColon(_)
                | UpidError::EmptyId(_)
                | UpidError::BadPort(_)
                | UpidError::BadHost(_)
                | UpidError::HostName(_),
            ) => {}
        }
    }
    assert!(
        parsed > 200,
        "only {parsed} inputs parsed: the generator is off"
    );
}
