//! Mesos's rules for durations in numbers peers send (seconds as `f64`): whatever arrives
//! (NaN, infinities, 1e300, negative) is refused or replaced by a documented default, never
//! a panic. The saturating conversion itself is `libprocess::duration::from_secs_f64`.

use std::time::Duration;

use mesos_proto::mesos::Filters;

/// `Filters.refuse_seconds` when a framework sends none or an invalid one.
pub const DEFAULT_REFUSE: Duration = Duration::from_secs(5);

/// Whether `secs` is a duration stout can hold (an int64 of nanoseconds, about ±292 years);
/// genuine Mesos rejects or replaces any other value a peer sends.
pub fn stout_representable(secs: f64) -> bool {
    secs.is_finite() && (secs * 1e9).abs() <= i64::MAX as f64
}

/// The refusal filter for resources a framework declined or left unused; none for 0.
///
/// As Mesos's allocator: a value that is not a representable duration (NaN, infinite, beyond
/// an int64 of nanoseconds) or is negative is replaced by the default 5 s, with a warning.
pub fn refuse_duration(filters: Option<&Filters>) -> Option<Duration> {
    let secs = filters.map(|f| f.refuse_seconds()).unwrap_or(5.0);
    if !stout_representable(secs) || secs < 0.0 {
        tracing::warn!(
            refuse_seconds = secs,
            "using the default 'refuse_seconds' (5 s): the value sent is invalid or negative"
        );
        return Some(DEFAULT_REFUSE);
    }
    libprocess::duration::from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stout_representable_means_finite_and_within_int64_nanoseconds() {
        assert!(stout_representable(0.0));
        assert!(stout_representable(-5.0));
        assert!(stout_representable(9e9));
        assert!(!stout_representable(1e10));
        assert!(!stout_representable(-1e300));
        assert!(!stout_representable(f64::NAN));
        assert!(!stout_representable(f64::INFINITY));
    }

    fn refuse(secs: f64) -> Option<Duration> {
        refuse_duration(Some(&Filters {
            refuse_seconds: Some(secs),
        }))
    }

    #[test]
    fn invalid_or_negative_refuse_seconds_use_the_default_five_seconds() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -1.0,
            i64::MIN as f64,
        ] {
            assert_eq!(refuse(bad), Some(DEFAULT_REFUSE), "refuse_seconds {bad}");
        }
    }

    #[test]
    fn valid_refuse_seconds_are_kept_zero_means_no_filter_and_huge_ones_are_capped() {
        assert_eq!(refuse(0.0), None);
        assert_eq!(refuse(10.0), Some(Duration::from_secs(10)));
        assert_eq!(refuse(9e9), Some(Duration::from_secs(9_000_000_000)));
        assert_eq!(refuse_duration(None), Some(DEFAULT_REFUSE));
    }
}
