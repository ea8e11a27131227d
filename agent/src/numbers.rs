//! Durations from numbers the master sends (seconds as `f64`): any value, however absurd
//! (NaN, infinities, 1e300, negative), becomes a usable duration or none, never a panic.

use std::time::Duration;

/// Longest timer armed from a peer's number (about 31 years): far beyond any real
/// timeout, yet small enough that adding it to a clock reading cannot overflow.
pub const MAX_PEER_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// `secs` as a duration capped at [`MAX_PEER_DURATION`]; none for NaN or negative values.
pub fn saturating_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() {
        return None;
    }
    Duration::try_from_secs_f64(secs.min(MAX_PEER_DURATION.as_secs_f64())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_secs_caps_huge_and_refuses_nan_or_negative() {
        assert_eq!(saturating_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(saturating_secs(0.0), Some(Duration::ZERO));
        assert_eq!(saturating_secs(1e300), Some(MAX_PEER_DURATION));
        assert_eq!(saturating_secs(f64::INFINITY), Some(MAX_PEER_DURATION));
        assert_eq!(saturating_secs(f64::NAN), None);
        assert_eq!(saturating_secs(-1.0), None);
        assert_eq!(saturating_secs(f64::NEG_INFINITY), None);
        assert_eq!(saturating_secs(i64::MIN as f64), None);
    }
}
