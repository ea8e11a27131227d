//! Proto2 `required` field checking on raw wire bytes.
//!
//! Mesos (C++ `ParseFromString`) silently drops any message with a missing
//! required field, recursively. prost does not check required fields at
//! all, so every inbound message should go through [`check`] (or
//! [`decode`], which checks and then decodes).
//!
//! The checker works directly on the wire bytes with per-message tables
//! generated at build time from the descriptors (so no process pays for
//! decoding the descriptor pool to check its first message): for each message, the required
//! field numbers (as bits of a mask) and the message-typed fields that lead
//! to a message type which itself needs checking. Each level is a single
//! pass over its bytes with no allocation; messages that contain no
//! required fields anywhere below them are skipped without being scanned.
//!
//! Protobuf merges repeated occurrences of a singular message field. That
//! case never occurs with Mesos or prost encoders; if it is seen, the check
//! falls back to a slower reflection-based path with exact semantics.

use prost_reflect::{Cardinality, DynamicMessage, Kind, ReflectMessage, Value};

/// Why [`check`] rejected a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequiredError {
    /// The full name is not a message known to this crate.
    #[error("unknown message type '{0}'")]
    UnknownMessage(String),
    /// A required field is missing. `field` is the path below `message`,
    /// e.g. `slave.hostname` or `tasks[1].task_id.value`.
    #[error("missing required field {message}.{field}")]
    Missing { message: String, field: String },
    /// The bytes are not a valid protobuf encoding.
    #[error("malformed {message}: {reason}")]
    Malformed {
        message: String,
        reason: &'static str,
    },
}

impl RequiredError {
    /// For [`RequiredError::Missing`]: the full path such as
    /// `mesos.internal.RegisterSlaveMessage.slave.hostname`.
    pub fn missing_path(&self) -> Option<String> {
        match self {
            RequiredError::Missing { message, field } => Some(format!("{message}.{field}")),
            _ => None,
        }
    }
}

/// Error of [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The required-field check failed (Mesos would drop this message).
    #[error(transparent)]
    Required(#[from] RequiredError),
    /// prost failed to decode the bytes.
    #[error("failed to decode {message}: {source}")]
    Prost {
        message: String,
        #[source]
        source: prost::DecodeError,
    },
}

/// Checks required fields, then decodes with prost.
pub fn decode<M: prost::Message + prost::Name + Default>(bytes: &[u8]) -> Result<M, DecodeError> {
    let name = M::full_name();
    check(&name, bytes)?;
    M::decode(bytes).map_err(|source| DecodeError::Prost {
        message: name,
        source,
    })
}

/// Verifies that every proto2 `required` field of the message `full_name`
/// (e.g. `mesos.internal.RegisterSlaveMessage`) is present in `bytes`,
/// recursively through present nested messages, repeated message fields
/// and map values.
pub fn check(full_name: &str, bytes: &[u8]) -> Result<(), RequiredError> {
    let tables = tables();
    let Some(idx) = tables.index_of(full_name) else {
        return Err(RequiredError::UnknownMessage(full_name.to_string()));
    };
    if !tables.msgs[idx].needs_check {
        // Still reject garbage so callers get a consistent answer.
        return validate_wire(bytes).map_err(|reason| RequiredError::Malformed {
            message: full_name.to_string(),
            reason,
        });
    }
    match scan(tables, idx, bytes) {
        Ok(()) => Ok(()),
        Err(Fail::Missing(path)) => Err(RequiredError::Missing {
            message: full_name.to_string(),
            field: render_path(&path),
        }),
        Err(Fail::Malformed(reason)) => Err(RequiredError::Malformed {
            message: full_name.to_string(),
            reason,
        }),
        Err(Fail::NeedsMerge) => slow_check(full_name, bytes),
    }
}

/// All missing required field paths of a reflected message, in
/// protobuf's `InitializationErrorString` style (`a.b`, `list[2].c`).
pub fn missing_fields(msg: &DynamicMessage) -> Vec<String> {
    let mut out = Vec::new();
    collect_missing(msg, "", &mut out);
    out
}

fn collect_missing(msg: &DynamicMessage, prefix: &str, out: &mut Vec<String>) {
    for field in msg.descriptor().fields() {
        if field.cardinality() == Cardinality::Required && !msg.has_field(&field) {
            out.push(format!("{prefix}{}", field.name()));
        }
        if !matches!(field.kind(), Kind::Message(_)) || !msg.has_field(&field) {
            continue;
        }
        match &*msg.get_field(&field) {
            Value::Message(m) => collect_missing(m, &format!("{prefix}{}.", field.name()), out),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(m) = item {
                        collect_missing(m, &format!("{prefix}{}[{i}].", field.name()), out);
                    }
                }
            }
            Value::Map(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
                for (k, v) in entries {
                    if let Value::Message(m) = v {
                        let key = match k {
                            prost_reflect::MapKey::String(s) => s.clone(),
                            other => format!("{other:?}"),
                        };
                        collect_missing(m, &format!("{prefix}{}[{key}].", field.name()), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn slow_check(full_name: &str, bytes: &[u8]) -> Result<(), RequiredError> {
    let desc = crate::descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| RequiredError::UnknownMessage(full_name.to_string()))?;
    let msg = DynamicMessage::decode(desc, bytes).map_err(|_| RequiredError::Malformed {
        message: full_name.to_string(),
        reason: "invalid protobuf encoding",
    })?;
    match missing_fields(&msg).into_iter().next() {
        None => Ok(()),
        Some(field) => Err(RequiredError::Missing {
            message: full_name.to_string(),
            field,
        }),
    }
}

// ---------------------------------------------------------------------------
// Tables

struct FieldEntry {
    number: u32,
    name: &'static str,
    /// Bit in the required mask, for required fields (first 128 only).
    required_bit: Option<u8>,
    /// Wire type a present required field must have.
    wire_type: u8,
    /// Nested message table, if it needs checking.
    nested: Option<usize>,
    repeated: bool,
}

struct MsgTable {
    /// Only fields that matter (required or nested-needing-check), by number.
    fields: &'static [FieldEntry],
    required_mask: u128,
    needs_check: bool,
}

impl MsgTable {
    #[inline]
    fn lookup(&self, number: u32) -> Option<&FieldEntry> {
        if self.fields.len() <= 8 {
            self.fields.iter().find(|f| f.number == number)
        } else {
            self.fields
                .binary_search_by_key(&number, |f| f.number)
                .ok()
                .map(|i| &self.fields[i])
        }
    }
}

// `MSGS` and `NAMES` (sorted by full name), generated by build.rs from the descriptors.
include!(concat!(env!("OUT_DIR"), "/required_tables.rs"));

struct Tables {
    msgs: &'static [MsgTable],
}

impl Tables {
    fn index_of(&self, full_name: &str) -> Option<usize> {
        NAMES
            .binary_search_by(|(n, _)| (*n).cmp(full_name))
            .ok()
            .map(|i| NAMES[i].1)
    }
}

fn tables() -> &'static Tables {
    static TABLES: Tables = Tables { msgs: MSGS };
    &TABLES
}

// ---------------------------------------------------------------------------
// Scanner

enum Seg {
    Field(usize, u32),       // (table index, field number)
    Item(usize, u32, usize), // repeated: (table index, field number, index)
}

enum Fail {
    /// Path segments, innermost first.
    Missing(Vec<Seg>),
    Malformed(&'static str),
    NeedsMerge,
}

fn render_path(path: &[Seg]) -> String {
    let t = tables();
    let name =
        |ti: usize, num: u32| -> &str { t.msgs[ti].lookup(num).map(|f| f.name).unwrap_or("?") };
    let parts: Vec<String> = path
        .iter()
        .rev()
        .map(|s| match *s {
            Seg::Field(ti, n) => name(ti, n).to_string(),
            Seg::Item(ti, n, i) => format!("{}[{i}]", name(ti, n)),
        })
        .collect();
    parts.join(".")
}

#[inline]
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Fail> {
    let mut result = 0u64;
    let mut shift = 0u32;
    loop {
        let Some(&b) = buf.get(*pos) else {
            return Err(Fail::Malformed("truncated varint"));
        };
        *pos += 1;
        if shift < 64 {
            result |= u64::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            return Ok(result);
        }
        shift += 7;
        if shift >= 70 {
            return Err(Fail::Malformed("varint too long"));
        }
    }
}

/// Skips one field value of `wire_type` starting at `pos`; returns the
/// payload range for length-delimited values.
#[inline]
fn skip_value(
    buf: &[u8],
    pos: &mut usize,
    wire_type: u8,
    field: u32,
    depth: u32,
) -> Result<Option<(usize, usize)>, Fail> {
    match wire_type {
        0 => {
            read_varint(buf, pos)?;
            Ok(None)
        }
        1 | 5 => {
            let n = if wire_type == 1 { 8 } else { 4 };
            if buf.len() - *pos < n {
                return Err(Fail::Malformed("truncated fixed-width value"));
            }
            *pos += n;
            Ok(None)
        }
        2 => {
            let len = read_varint(buf, pos)?;
            if ((buf.len() - *pos) as u64) < len {
                return Err(Fail::Malformed("truncated length-delimited value"));
            }
            let start = *pos;
            *pos += len as usize;
            Ok(Some((start, *pos)))
        }
        3 => {
            if depth > 100 {
                return Err(Fail::Malformed("nesting too deep"));
            }
            loop {
                let key = read_varint(buf, pos)?;
                let wt = (key & 7) as u8;
                let num = (key >> 3) as u32;
                if wt == 4 {
                    if num != field {
                        return Err(Fail::Malformed("mismatched end group"));
                    }
                    return Ok(None);
                }
                skip_value(buf, pos, wt, num, depth + 1)?;
            }
        }
        _ => Err(Fail::Malformed("invalid wire type")),
    }
}

fn validate_wire(buf: &[u8]) -> Result<(), &'static str> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos).map_err(fail_reason)?;
        let num = (key >> 3) as u32;
        if num == 0 {
            return Err("field number 0");
        }
        skip_value(buf, &mut pos, (key & 7) as u8, num, 0).map_err(fail_reason)?;
    }
    Ok(())
}

fn fail_reason(f: Fail) -> &'static str {
    match f {
        Fail::Malformed(r) => r,
        _ => "invalid protobuf encoding",
    }
}

fn scan(tables: &Tables, idx: usize, buf: &[u8]) -> Result<(), Fail> {
    scan_depth(tables, idx, buf, 0)
}

fn scan_depth(tables: &Tables, idx: usize, buf: &[u8], depth: u32) -> Result<(), Fail> {
    if depth > 100 {
        return Err(Fail::Malformed("nesting too deep"));
    }
    let table = &tables.msgs[idx];
    let mut seen: u128 = 0;
    // Singular nested message fields already seen (by position in `fields`).
    let mut singular_seen: u64 = 0;
    let mut pos = 0usize;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let wire_type = (key & 7) as u8;
        let number = (key >> 3) as u32;
        if number == 0 {
            return Err(Fail::Malformed("field number 0"));
        }
        let range = skip_value(buf, &mut pos, wire_type, number, depth)?;
        let Some(entry) = table.lookup(number) else {
            continue;
        };
        if wire_type != entry.wire_type {
            // Protobuf treats a wire-type mismatch as an unknown field.
            continue;
        }
        if let Some(bit) = entry.required_bit {
            seen |= 1u128 << bit;
        }
        if let (Some(nested), Some((start, end))) = (entry.nested, range) {
            if !entry.repeated {
                let fi = table
                    .fields
                    .iter()
                    .position(|f| f.number == number)
                    .unwrap_or(0);
                if fi < 64 {
                    if singular_seen & (1 << fi) != 0 {
                        return Err(Fail::NeedsMerge);
                    }
                    singular_seen |= 1 << fi;
                }
            }
            if let Err(fail) = scan_depth(tables, nested, &buf[start..end], depth + 1) {
                return Err(match fail {
                    Fail::Missing(mut path) => {
                        if entry.repeated {
                            let i = count_occurrences(&buf[..start], number);
                            path.push(Seg::Item(idx, number, i));
                        } else {
                            path.push(Seg::Field(idx, number));
                        }
                        Fail::Missing(path)
                    }
                    other => other,
                });
            }
        }
    }
    let missing = table.required_mask & !seen;
    if missing != 0 {
        let bit = missing.trailing_zeros() as u8;
        let number = table
            .fields
            .iter()
            .find(|f| f.required_bit == Some(bit))
            .map(|f| f.number)
            .unwrap_or(0);
        return Err(Fail::Missing(vec![Seg::Field(idx, number)]));
    }
    Ok(())
}

/// Number of complete occurrences of field `number` in `buf` (used only
/// to report the index of a failing repeated element).
fn count_occurrences(buf: &[u8], number: u32) -> usize {
    let mut pos = 0;
    let mut count = 0;
    // `buf` ends right after the failing element's length prefix.
    while pos < buf.len() {
        let Ok(key) = read_varint(buf, &mut pos) else {
            break;
        };
        let num = (key >> 3) as u32;
        let before = pos;
        match skip_value(buf, &mut pos, (key & 7) as u8, num, 0) {
            Ok(_) if pos <= buf.len() => {
                if num == number && pos > before {
                    count += 1;
                }
            }
            _ => break,
        }
    }
    count
}
