//! Resource values (scalars, ranges, sets) and their arithmetic.
//!
//! Scalars are held in fixed point with three decimals, as Mesos rounds them, so that adding
//! and subtracting `0.1` cpus a thousand times returns exactly to where it started.

use std::collections::BTreeSet;
use std::fmt;

/// A scalar in thousandths (Mesos's fixed-point representation of `Value.Scalar`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(pub i64);

impl Fixed {
    pub const ZERO: Fixed = Fixed(0);

    /// Rounds `value` to the nearest thousandth, halves away from zero.
    pub fn from_f64(value: f64) -> Fixed {
        Fixed((value * 1000.0).round() as i64)
    }

    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1000, abs % 1000);
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:03}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Inclusive, sorted, non-overlapping, non-adjacent intervals (`[1-2, 5-9]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Builds a normalized set of intervals; `begin > end` pairs are reported by the caller.
    pub fn new(intervals: impl IntoIterator<Item = (u64, u64)>) -> Ranges {
        let mut v: Vec<(u64, u64)> = intervals.into_iter().filter(|(b, e)| b <= e).collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (b, e) in v {
            match out.last_mut() {
                Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((b, e)),
            }
        }
        Ranges(out)
    }

    pub fn intervals(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of values covered (saturating: `0-18446744073709551615` is valid input).
    pub fn len(&self) -> u64 {
        self.0.iter().fold(0u64, |n, (b, e)| {
            n.saturating_add((e - b).saturating_add(1))
        })
    }

    pub fn add(&mut self, other: &Ranges) {
        if other.is_empty() {
            return;
        }
        *self = Ranges::new(self.0.iter().chain(other.0.iter()).copied());
    }

    /// Removes every value of `other`, splitting intervals as needed.
    pub fn subtract(&mut self, other: &Ranges) {
        if other.is_empty() || self.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut j = 0;
        for &(mut b, e) in &self.0 {
            while j < other.0.len() && other.0[j].1 < b {
                j += 1;
            }
            let mut k = j;
            let mut alive = true;
            while k < other.0.len() && other.0[k].0 <= e {
                let (ob, oe) = other.0[k];
                if ob > b {
                    out.push((b, ob - 1));
                }
                if oe >= e {
                    alive = false;
                    break;
                }
                b = oe + 1;
                k += 1;
            }
            if alive {
                out.push((b, e));
            }
        }
        self.0 = out;
    }

    /// True if every value of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        other
            .0
            .iter()
            .all(|&(ob, oe)| self.0.iter().any(|&(b, e)| b <= ob && oe <= e))
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{b}-{e}")?;
        }
        f.write_str("]")
    }
}

/// The value of one resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Scalar(Fixed),
    Ranges(Ranges),
    Set(BTreeSet<String>),
}

/// The kind of a [`Value`], for error messages and compatibility checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Scalar,
    Ranges,
    Set,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Scalar => "SCALAR",
            Kind::Ranges => "RANGES",
            Kind::Set => "SET",
        })
    }
}

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Scalar(_) => Kind::Scalar,
            Value::Ranges(_) => Kind::Ranges,
            Value::Set(_) => Kind::Set,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => s.0 <= 0,
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    /// Adds `other` of the same kind (callers check kinds).
    pub(crate) fn add(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 = a.0.saturating_add(b.0),
            (Value::Ranges(a), Value::Ranges(b)) => a.add(b),
            (Value::Set(a), Value::Set(b)) => a.extend(b.iter().cloned()),
            _ => {}
        }
    }

    /// Removes `other` of the same kind; scalars stop at zero.
    pub(crate) fn subtract(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 = a.0.saturating_sub(b.0).max(0),
            (Value::Ranges(a), Value::Ranges(b)) => a.subtract(b),
            (Value::Set(a), Value::Set(b)) => a.retain(|x| !b.contains(x)),
            _ => {}
        }
    }

    /// What `self` and `other` have in common (same kind; otherwise empty).
    pub(crate) fn intersection(&self, other: &Value) -> Value {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(Fixed(a.0.min(b.0))),
            (Value::Ranges(a), Value::Ranges(b)) => {
                let mut outside = a.clone();
                outside.subtract(b);
                let mut common = a.clone();
                common.subtract(&outside);
                Value::Ranges(common)
            }
            (Value::Set(a), Value::Set(b)) => Value::Set(a.intersection(b).cloned().collect()),
            _ => Value::Scalar(Fixed::ZERO),
        }
    }

    pub(crate) fn contains(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 >= b.0,
            (Value::Ranges(a), Value::Ranges(b)) => a.contains(b),
            (Value::Set(a), Value::Set(b)) => b.is_subset(a),
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Ranges(r) => write!(f, "{r}"),
            Value::Set(s) => {
                f.write_str("{")?;
                for (i, item) in s.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(item)?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_scalars_and_full_ranges_saturate_instead_of_overflowing() {
        let mut a = Value::Scalar(Fixed::from_f64(1e300));
        a.add(&Value::Scalar(Fixed::from_f64(1e300)));
        assert_eq!(a, Value::Scalar(Fixed(i64::MAX)));
        a.subtract(&Value::Scalar(Fixed(i64::MIN)));
        assert_eq!(a, Value::Scalar(Fixed(i64::MAX)));
        assert_eq!(Ranges::new([(0, u64::MAX)]).len(), u64::MAX);
    }

    #[test]
    fn fixed_point_rounds_to_three_decimals_and_survives_repeated_arithmetic() {
        assert_eq!(Fixed::from_f64(0.1234), Fixed(123));
        assert_eq!(Fixed::from_f64(0.0005), Fixed(1));
        let mut v = Value::Scalar(Fixed::from_f64(1.0));
        for _ in 0..1000 {
            v.add(&Value::Scalar(Fixed::from_f64(0.1)));
        }
        for _ in 0..1000 {
            v.subtract(&Value::Scalar(Fixed::from_f64(0.1)));
        }
        assert_eq!(v, Value::Scalar(Fixed(1000)));
        assert_eq!(Fixed(1500).to_string(), "1.5");
        assert_eq!(Fixed(4000).to_string(), "4");
        assert_eq!(Fixed(10).to_string(), "0.01");
    }

    #[test]
    fn ranges_merge_overlapping_and_adjacent_intervals() {
        let r = Ranges::new([(5, 9), (1, 2), (3, 3), (8, 12), (20, 20)]);
        assert_eq!(r.intervals(), &[(1, 3), (5, 12), (20, 20)]);
        assert_eq!(r.to_string(), "[1-3, 5-12, 20-20]");
        assert_eq!(r.len(), 3 + 8 + 1);
    }

    #[test]
    fn subtracting_a_port_splits_the_range() {
        let mut r = Ranges::new([(31000, 32000)]);
        r.subtract(&Ranges::new([(31000, 31000)]));
        assert_eq!(r.intervals(), &[(31001, 32000)]);
        r.subtract(&Ranges::new([(31500, 31600), (32000, 32000)]));
        assert_eq!(r.intervals(), &[(31001, 31499), (31601, 31999)]);
        r.subtract(&Ranges::new([(0, 40000)]));
        assert!(r.is_empty());
    }

    #[test]
    fn range_containment_requires_every_value() {
        let r = Ranges::new([(1, 10), (20, 30)]);
        assert!(r.contains(&Ranges::new([(2, 3), (25, 30)])));
        assert!(!r.contains(&Ranges::new([(9, 21)])));
        assert!(r.contains(&Ranges::default()));
    }

    #[test]
    fn scalar_subtraction_stops_at_zero_and_sets_are_set_differences() {
        let mut v = Value::Scalar(Fixed(500));
        v.subtract(&Value::Scalar(Fixed(800)));
        assert!(v.is_empty());
        let mut s = Value::Set(["a", "b", "c"].iter().map(|s| s.to_string()).collect());
        s.subtract(&Value::Set(["b"].iter().map(|s| s.to_string()).collect()));
        assert_eq!(s.to_string(), "{a, c}");
    }
}
