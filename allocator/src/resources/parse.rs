//! Parsing of `--resources` style flags: Mesos's text syntax or a JSON array of `Resource`.
//!
//! Text: `name[(role)]:value` items separated by `;`, where value is a scalar (`4`, `0.5`),
//! ranges (`[31000-32000, 40000-40010]`) or a set (`{a,b}`). Names repeated with the same role
//! are added together; the same name with two value types is an error.

use mesos_proto::mesos::resource::{reservation_info, ReservationInfo};
use mesos_proto::mesos::Resource;

use super::value::{Fixed, Ranges, Value};
use super::{Entry, ResourceError, Resources};

pub(super) fn parse(text: &str, default_role: &str) -> Result<Resources, ResourceError> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        return parse_json(trimmed, default_role);
    }
    let mut out = Resources::new();
    for token in trimmed.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let entry = parse_item(token, default_role)?;
        check_type(&out, &entry)?;
        out.add_entry(entry);
    }
    Ok(out)
}

fn syntax(token: &str, reason: impl Into<String>) -> ResourceError {
    ResourceError::Syntax {
        token: token.to_string(),
        reason: reason.into(),
    }
}

fn check_type(existing: &Resources, entry: &Entry) -> Result<(), ResourceError> {
    match existing
        .iter()
        .find(|e| e.name == entry.name && e.value.kind() != entry.value.kind())
    {
        Some(e) => Err(ResourceError::TypeConflict {
            name: entry.name.to_string(),
            first: e.value.kind(),
            second: entry.value.kind(),
        }),
        None => Ok(()),
    }
}

fn parse_item(token: &str, default_role: &str) -> Result<Entry, ResourceError> {
    // The role, if any, sits in parentheses before the ':' that starts the value.
    let value_start = match token.find('(') {
        Some(open) if token.find(':').is_none_or(|colon| open < colon) => {
            let close = token[open..]
                .find(')')
                .map(|i| open + i)
                .ok_or_else(|| syntax(token, "unclosed '('"))?;
            token[close..].find(':').map(|i| close + i)
        }
        _ => token.find(':'),
    };
    let colon = value_start.ok_or_else(|| syntax(token, "expected 'name:value'"))?;
    let (head, value_text) = (token[..colon].trim(), token[colon + 1..].trim());
    let (name, role) = match head.find('(') {
        Some(open) => {
            let Some(inner) = head[open + 1..].strip_suffix(')') else {
                return Err(syntax(token, "text after the role"));
            };
            (head[..open].trim(), inner.trim())
        }
        None => (head, default_role),
    };
    if name.is_empty() {
        return Err(syntax(token, "empty name"));
    }
    if role.is_empty() {
        return Err(syntax(token, "empty role"));
    }
    let value = parse_value(name, token, value_text)?;
    let mut entry = Entry::new(name, value);
    if role != "*" {
        let mut info = ReservationInfo {
            role: Some(role.to_string()),
            ..Default::default()
        };
        info.set_type(reservation_info::Type::Static);
        entry.reservations.push(info);
    }
    Ok(entry)
}

fn parse_value(name: &str, token: &str, text: &str) -> Result<Value, ResourceError> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| syntax(token, "unclosed '['"))?;
        let mut intervals = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, e) = part.split_once('-').unwrap_or((part, part));
            let number = |s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| syntax(token, format!("bad range bound '{s}'")))
            };
            let (begin, end) = (number(b)?, number(e)?);
            if begin > end {
                return Err(ResourceError::BadRange {
                    name: name.to_string(),
                    begin,
                    end,
                });
            }
            intervals.push((begin, end));
        }
        return Ok(Value::Ranges(Ranges::new(intervals)));
    }
    if let Some(inner) = text.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| syntax(token, "unclosed '{'"))?;
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(Value::Set(items));
    }
    let v: f64 = text
        .parse()
        .map_err(|_| syntax(token, format!("'{text}' is not a number, range or set")))?;
    if !v.is_finite() || v < 0.0 {
        return Err(ResourceError::BadScalar {
            name: name.to_string(),
            value: v,
        });
    }
    if v > super::MAX_SCALAR {
        return Err(ResourceError::ScalarTooLarge {
            name: name.to_string(),
            value: v,
        });
    }
    Ok(Value::Scalar(Fixed::from_f64(v)))
}

/// A JSON array of `Resource` objects; those without a role or reservations get `default_role`.
#[allow(deprecated)]
fn parse_json(text: &str, default_role: &str) -> Result<Resources, ResourceError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ResourceError::Json(e.to_string()))?;
    let items = value
        .as_array()
        .ok_or_else(|| ResourceError::Json("expected an array".into()))?;
    let mut out = Resources::new();
    for item in items {
        let mut r: Resource =
            mesos_proto::from_json(item).map_err(|e| ResourceError::Json(e.to_string()))?;
        if r.role.is_none() && r.reservations.is_empty() && default_role != "*" {
            r.role = Some(default_role.to_string());
        }
        let entry = Entry::from_proto(&r)?;
        check_type(&out, &entry)?;
        out.add_entry(entry);
    }
    Ok(out)
}
