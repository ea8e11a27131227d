//! Durations as stout writes them (`10ns`, `5us`, `3ms`, `5secs`, `1mins`, `2hrs`, `1days`,
//! `1weeks`; the form of Mesos flags and executor environment variables), and the one safe
//! way to turn a peer's `double` seconds (timeouts, refuse_seconds, ping timeouts) into a
//! [`Duration`]: `Duration::from_secs_f64` panics on NaN, negative or huge values.

use std::time::Duration;

const NANOS_PER: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("secs", 1_000_000_000),
    ("mins", 60_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("days", 86_400_000_000_000),
    ("weeks", 604_800_000_000_000),
];

/// The longest duration stout can hold (`int64` nanoseconds, about 292 years); longer
/// values saturate here.
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// Why a duration is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration '{0}': expected a number followed by ns, us, ms, secs, mins, hrs, days or weeks")]
    Syntax(String),
    #[error("duration '{0}' is out of range")]
    Range(String),
    #[error("a duration cannot be NaN")]
    NotANumber,
    #[error("a duration cannot be negative ({0})")]
    Negative(f64),
}

/// Parses stout's syntax: digits and `.`, then a unit (`1.5mins`, `100ms`). Values beyond
/// [`MAX`] are refused, as stout's `Duration` cannot hold them.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let syntax = || DurationError::Syntax(text.to_string());
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(syntax)?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| syntax())?;
    let (_, per) = NANOS_PER
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(syntax)?;
    let nanos = value * *per as f64;
    // Also false for NaN; `i64::MAX as f64` is 2^63, already out of range.
    if nanos.is_nan() || nanos >= i64::MAX as f64 {
        return Err(DurationError::Range(text.to_string()));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Renders like stout: in the unit of the duration's magnitude, or one unit finer when that
/// one gives a whole number and the coarser does not (`90secs`, `1500ms`, `1.5secs` never).
pub fn format(d: Duration) -> String {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // The largest unit not above the duration (nanoseconds for anything under 1us).
    let bucket = NANOS_PER
        .iter()
        .rposition(|(_, per)| ns >= *per)
        .unwrap_or(0);
    let (name, per) = match bucket {
        0 => NANOS_PER[0],
        b if ns % NANOS_PER[b].1 != 0 && ns % NANOS_PER[b - 1].1 == 0 => NANOS_PER[b - 1],
        b => NANOS_PER[b],
    };
    if ns % per == 0 {
        return format!("{}{name}", ns / per);
    }
    format!("{}{name}", significant(ns as f64 / per as f64, 15))
}

/// `value` with at most `digits` significant digits, trailing zeros dropped (C++ streams'
/// default notation at that precision, for the magnitudes durations have).
fn significant(value: f64, digits: i32) -> String {
    let magnitude = if value == 0.0 {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = usize::try_from(digits - 1 - magnitude).unwrap_or(0);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A peer's seconds as a duration: NaN and negatives are errors, anything above [`MAX`]
/// (infinity included) saturates to it. Use this instead of `Duration::from_secs_f64`.
pub fn from_secs_f64(secs: f64) -> Result<Duration, DurationError> {
    if secs.is_nan() {
        return Err(DurationError::NotANumber);
    }
    if secs < 0.0 {
        return Err(DurationError::Negative(secs));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(MAX).min(MAX))
}

/// A protobuf `DurationInfo`'s nanoseconds: negatives are zero.
pub fn from_nanos_i64(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn stout_units_parse() {
        assert_eq!(parse("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("1mins"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1.5mins"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2500ms"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("2hrs"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1weeks"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("10ns"), Ok(Duration::from_nanos(10)));
        for bad in ["5", "secs", "5seconds", "-1secs", "1e3ms", "", "1.2.3secs"] {
            assert_eq!(parse(bad), Err(DurationError::Syntax(bad.into())), "{bad}");
        }
        assert_eq!(
            parse("1000000weeks"),
            Err(DurationError::Range("1000000weeks".into()))
        );
    }

    #[test]
    fn durations_render_like_stout() {
        let f = |ns: u64| format(Duration::from_nanos(ns));
        assert_eq!(format(Duration::from_secs(5)), "5secs");
        assert_eq!(format(Duration::from_secs(15)), "15secs");
        assert_eq!(format(Duration::from_secs(60)), "1mins");
        assert_eq!(format(Duration::from_secs(90)), "90secs");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_secs(10 * 86_400)), "10days");
        assert_eq!(f(999), "999ns");
        assert_eq!(f(0), "0ns");
        assert_eq!(f(1_500_000_001), "1.500000001secs");
        assert_eq!(f(1_000_000_000 / 3), "333.333333ms");
        assert_eq!(format(MAX), "15250.2844524715weeks");
    }

    #[test]
    fn peer_seconds_reject_nan_and_negatives_and_saturate_huge_values() {
        assert_eq!(from_secs_f64(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(from_secs_f64(0.0), Ok(Duration::ZERO));
        assert_eq!(from_secs_f64(f64::NAN), Err(DurationError::NotANumber));
        assert_eq!(from_secs_f64(-1.0), Err(DurationError::Negative(-1.0)));
        assert_eq!(from_secs_f64(1e300), Ok(MAX));
        assert_eq!(from_secs_f64(f64::INFINITY), Ok(MAX));
        assert_eq!(from_nanos_i64(-5), Duration::ZERO);
        assert_eq!(from_nanos_i64(2_000_000_000), Duration::from_secs(2));
    }

    /// Property: format then parse gives the duration back (to stout's 15 digits), and any
    /// text or f64 gives a typed result, never a panic.
    #[test]
    fn property_parse_of_format_round_trips_and_any_input_is_typed() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xD0_2A_71);
        for _ in 0..3000 {
            let ns = match rng.gen_range(0..3) {
                0 => rng.gen_range(0..10_000_000_000u64),
                1 => rng.gen_range(0..1000) * NANOS_PER[rng.gen_range(0..8)].1,
                _ => rng.gen_range(0..i64::MAX as u64),
            };
            let d = Duration::from_nanos(ns);
            let text = format(d);
            let back = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let err = back.as_nanos().abs_diff(d.as_nanos()) as f64;
            assert!(err <= d.as_nanos() as f64 * 1e-14 + 1.0, "{d:?} {text}");

            let alphabet = b"0123456789.-e secsmnhrdayswkul";
            let junk: String = (0..rng.gen_range(0..12))
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
                .collect();
            if let Ok(d) = parse(&junk) {
                assert!(d <= MAX);
            }
            let secs = f64::from_bits(rng.gen());
            match from_secs_f64(secs) {
                Ok(d) => assert!(d <= MAX && secs >= 0.0),
                Err(_) => assert!(secs.is_nan() || secs < 0.0),
            }
        }
    }
}
