//! Durations in stout's text form (`10ns`, `5us`, `3ms`, `5secs`, `1mins`, `2hrs`, `1days`,
//! `1weeks`), the form Mesos flags and executor environment variables use.

use std::time::Duration;

/// A duration that does not parse.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid duration '{0}': expected a number followed by ns, us, ms, secs, mins, hrs, days or weeks")]
pub struct DurationError(pub String);

/// Parses `5secs`, `1.5mins`, `100ms`, ...
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError(text.to_string()))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| DurationError(text.to_string()))?;
    let nanos_per = match unit.trim() {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "secs" => 1e9,
        "mins" => 60e9,
        "hrs" => 3600e9,
        "days" => 86400e9,
        "weeks" => 7.0 * 86400e9,
        _ => return Err(DurationError(text.to_string())),
    };
    let nanos = value * nanos_per;
    if !nanos.is_finite() || nanos < 0.0 {
        return Err(DurationError(text.to_string()));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Renders a duration the way stout prints it (largest unit that divides it evenly enough).
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let units = [
        (7.0 * 86400e9, "weeks"),
        (86400e9, "days"),
        (3600e9, "hrs"),
        (60e9, "mins"),
        (1e9, "secs"),
        (1e6, "ms"),
        (1e3, "us"),
    ];
    for (size, name) in units {
        if ns >= size {
            let v = ns / size;
            return if v.fract() == 0.0 {
                format!("{}{name}", v as u64)
            } else {
                format!("{v}{name}")
            };
        }
    }
    format!("{}ns", d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stout_units_parse() {
        assert_eq!(parse("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("1mins"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("15mins"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("2500ms"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("1.5secs"), Ok(Duration::from_millis(1500)));
        assert!(parse("5").is_err());
        assert!(parse("secs").is_err());
        assert!(parse("5seconds").is_err());
    }

    #[test]
    fn durations_render_in_stout_units() {
        assert_eq!(format(Duration::from_secs(5)), "5secs");
        assert_eq!(format(Duration::from_secs(60)), "1mins");
        assert_eq!(format(Duration::from_millis(1500)), "1.5secs");
    }
}
