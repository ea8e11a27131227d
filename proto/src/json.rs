//! Protobuf ↔ JSON with the conventions of Mesos (stout's `JSON::protobuf`
//! and `protobuf::parse`), as used by the HTTP APIs:
//!
//! * keys are proto field names (snake_case); enums are value-name strings;
//! * `bytes` are standard base64; 64-bit integers are JSON numbers;
//! * output contains set fields plus unset singular fields that declare an
//!   explicit, non-deprecated `[default = ...]` (so `"shell": true` and
//!   `"refuse_seconds": 5.0` appear); empty repeated fields are omitted;
//!   map fields are JSON objects; non-finite doubles are rendered as the
//!   strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! * parsing ignores unknown keys and `null`s, accepts numbers and bools
//!   given as strings, doubles as `"Infinity"`/`"-Infinity"`/`"NaN"`, a
//!   single value for a repeated field, and ignores unknown enum names on
//!   non-required fields (an error on required ones); afterwards required
//!   fields are enforced ("Missing required fields: framework_info.user").

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value,
};
use serde_json::{Map, Number, Value as Json};

/// Error of [`from_json`] / [`from_json_str`].
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The full name is not a message known to this crate.
    #[error("unknown message type '{0}'")]
    UnknownMessage(String),
    /// The text is not valid JSON.
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// The JSON does not match the message schema.
    #[error("{0}")]
    Invalid(String),
    /// Required fields are missing (comma-separated paths).
    #[error("Missing required fields: {0}")]
    MissingRequired(String),
    /// The reflected message could not be converted to the prost type.
    #[error("failed to decode: {0}")]
    Decode(#[from] prost::DecodeError),
}

fn descriptor(full_name: &str) -> Result<MessageDescriptor, JsonError> {
    crate::descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError::UnknownMessage(full_name.to_string()))
}

/// Renders a message as Mesos-style JSON.
pub fn to_json<M: prost::Message + prost::Name>(msg: &M) -> Json {
    let desc = descriptor(&M::full_name()).expect("generated type is in the descriptor pool");
    let dynamic = DynamicMessage::decode(desc, msg.encode_to_vec().as_slice())
        .expect("prost-encoded bytes decode");
    dynamic_to_json(&dynamic)
}

/// Renders the wire bytes of the message `full_name` as Mesos-style JSON.
pub fn bytes_to_json(full_name: &str, bytes: &[u8]) -> Result<Json, JsonError> {
    let dynamic = DynamicMessage::decode(descriptor(full_name)?, bytes)?;
    Ok(dynamic_to_json(&dynamic))
}

/// Parses Mesos-style JSON into a message, enforcing required fields.
pub fn from_json<M: prost::Message + prost::Name + Default>(value: &Json) -> Result<M, JsonError> {
    let dynamic = json_to_dynamic(descriptor(&M::full_name())?, value)?;
    Ok(M::decode(dynamic.encode_to_vec().as_slice())?)
}

/// Like [`from_json`], from JSON text.
pub fn from_json_str<M: prost::Message + prost::Name + Default>(
    text: &str,
) -> Result<M, JsonError> {
    let value: Json = serde_json::from_str(text)?;
    from_json(&value)
}

/// Renders a reflected message as Mesos-style JSON.
pub fn dynamic_to_json(msg: &DynamicMessage) -> Json {
    let mut object = Map::new();
    for field in msg.descriptor().fields() {
        if field.is_map() {
            if let Value::Map(map) = &*msg.get_field(&field) {
                if map.is_empty() {
                    continue;
                }
                let value_kind = match field.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    _ => unreachable!("map field has an entry message"),
                };
                let mut out = Map::new();
                for (k, v) in map {
                    let key = match k {
                        MapKey::String(s) => s.clone(),
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(n) => n.to_string(),
                        MapKey::I64(n) => n.to_string(),
                        MapKey::U32(n) => n.to_string(),
                        MapKey::U64(n) => n.to_string(),
                    };
                    out.insert(key, value_to_json(v, &value_kind));
                }
                object.insert(field.name().to_string(), Json::Object(out));
            }
        } else if field.is_list() {
            if let Value::List(items) = &*msg.get_field(&field) {
                if items.is_empty() {
                    continue;
                }
                let kind = field.kind();
                let array = items.iter().map(|v| value_to_json(v, &kind)).collect();
                object.insert(field.name().to_string(), Json::Array(array));
            }
        } else if msg.has_field(&field) {
            let value = value_to_json(&msg.get_field(&field), &field.kind());
            object.insert(field.name().to_string(), value);
        } else if has_explicit_default(&field) {
            let value = value_to_json(&field.default_value(), &field.kind());
            object.insert(field.name().to_string(), value);
        }
    }
    Json::Object(object)
}

fn has_explicit_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    proto.default_value.is_some() && !proto.options.as_ref().is_some_and(|o| o.deprecated())
}

fn float_to_json(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn value_to_json(value: &Value, kind: &Kind) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F32(f) => float_to_json(f64::from(*f)),
        Value::F64(f) => float_to_json(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(v) => Json::String(v.name().to_string()),
                None => Json::from(*n),
            },
            _ => Json::from(*n),
        },
        Value::Message(m) => dynamic_to_json(m),
        Value::List(items) => Json::Array(items.iter().map(|v| value_to_json(v, kind)).collect()),
        Value::Map(_) => Json::Null,
    }
}

/// Parses Mesos-style JSON into a reflected message of type `desc`,
/// enforcing required fields.
pub fn json_to_dynamic(desc: MessageDescriptor, value: &Json) -> Result<DynamicMessage, JsonError> {
    let Json::Object(object) = value else {
        return Err(JsonError::Invalid("Expecting a JSON object".into()));
    };
    let mut msg = DynamicMessage::new(desc);
    parse_object(&mut msg, object)?;
    let missing = crate::required::missing_fields(&msg);
    if !missing.is_empty() {
        return Err(JsonError::MissingRequired(missing.join(", ")));
    }
    Ok(msg)
}

fn parse_object(msg: &mut DynamicMessage, object: &Map<String, Json>) -> Result<(), JsonError> {
    let desc = msg.descriptor();
    for (key, value) in object {
        if let Some(field) = desc.get_field_by_name(key) {
            apply(msg, &field, value)?;
        }
    }
    Ok(())
}

fn invalid(what: &str, field: &FieldDescriptor) -> JsonError {
    JsonError::Invalid(format!(
        "Not expecting a JSON {what} for field '{}'",
        field.name()
    ))
}

fn apply(msg: &mut DynamicMessage, field: &FieldDescriptor, value: &Json) -> Result<(), JsonError> {
    match value {
        Json::Null => Ok(()),
        Json::Array(items) => {
            if !field.is_list() && !field.is_map() {
                return Err(invalid("array", field));
            }
            for item in items {
                apply(msg, field, item)?;
            }
            Ok(())
        }
        Json::Object(object) => {
            let Kind::Message(sub) = field.kind() else {
                return Err(invalid("object", field));
            };
            if field.is_map() {
                let key_field = sub.map_entry_key_field();
                let value_field = sub.map_entry_value_field();
                for (k, v) in object {
                    let key = parse_map_key(&key_field, k)?;
                    let val = match (v, value_field.kind()) {
                        (Json::Object(o), Kind::Message(m)) => {
                            let mut inner = DynamicMessage::new(m);
                            parse_object(&mut inner, o)?;
                            Value::Message(inner)
                        }
                        (Json::Null, _) => continue,
                        (other, kind) => match scalar(&value_field, &kind, other)? {
                            Some(v) => v,
                            None => continue,
                        },
                    };
                    if let Value::Map(map) = msg.get_field_mut(field) {
                        map.insert(key, val);
                    }
                }
                Ok(())
            } else if field.is_list() {
                let mut inner = DynamicMessage::new(sub);
                parse_object(&mut inner, object)?;
                push(msg, field, Value::Message(inner));
                Ok(())
            } else {
                // Merge into the existing sub-message, like MutableMessage.
                match msg.get_field_mut(field) {
                    Value::Message(inner) => parse_object(inner, object),
                    _ => Err(invalid("object", field)),
                }
            }
        }
        other => {
            if let Some(v) = scalar(field, &field.kind(), other)? {
                if field.is_list() {
                    push(msg, field, v);
                } else {
                    msg.set_field(field, v);
                }
            }
            Ok(())
        }
    }
}

fn push(msg: &mut DynamicMessage, field: &FieldDescriptor, value: Value) {
    if let Value::List(items) = msg.get_field_mut(field) {
        items.push(value);
    }
}

fn parse_map_key(key_field: &FieldDescriptor, key: &str) -> Result<MapKey, JsonError> {
    let bad = || JsonError::Invalid(format!("Failed to parse map key '{key}'"));
    Ok(match key_field.kind() {
        Kind::String => MapKey::String(key.to_string()),
        Kind::Bool => MapKey::Bool(key.parse().map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(key.parse().map_err(|_| bad())?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(key.parse().map_err(|_| bad())?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(key.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(key.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

fn number_as_i64(n: &Number) -> i64 {
    n.as_i64()
        .or_else(|| n.as_u64().map(|u| u as i64))
        .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64)
}

fn number_as_u64(n: &Number) -> u64 {
    n.as_u64()
        .or_else(|| n.as_i64().map(|i| i as u64))
        .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as u64)
}

/// Converts a scalar JSON value for `field` of `kind`. `Ok(None)` means
/// "ignore" (unknown enum name on a non-required field).
fn scalar(field: &FieldDescriptor, kind: &Kind, value: &Json) -> Result<Option<Value>, JsonError> {
    let name = field.name();
    match value {
        Json::Bool(b) => match kind {
            Kind::Bool => Ok(Some(Value::Bool(*b))),
            _ => Err(invalid("boolean", field)),
        },
        Json::Number(n) => Ok(Some(match kind {
            Kind::Double => Value::F64(n.as_f64().unwrap_or(0.0)),
            Kind::Float => Value::F32(n.as_f64().unwrap_or(0.0) as f32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(number_as_i64(n)),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(number_as_u64(n)),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(number_as_i64(n) as i32),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(number_as_u64(n) as u32),
            _ => return Err(invalid("number", field)),
        })),
        Json::String(s) => match kind {
            Kind::String => Ok(Some(Value::String(s.clone()))),
            Kind::Bytes => {
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                let bytes = engine.decode(s.as_bytes()).map_err(|e| {
                    JsonError::Invalid(format!("Failed to base64 decode bytes field '{name}': {e}"))
                })?;
                Ok(Some(Value::Bytes(bytes.into())))
            }
            Kind::Enum(e) => match e.get_value_by_name(s) {
                Some(v) => Ok(Some(Value::EnumNumber(v.number()))),
                None if field.cardinality() == prost_reflect::Cardinality::Required => {
                    Err(JsonError::Invalid(format!("Failed to find enum for '{s}'")))
                }
                None => Ok(None),
            },
            Kind::Double | Kind::Float => {
                let f = match s.as_str() {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    "NaN" => f64::NAN,
                    _ => s.trim().parse::<f64>().map_err(|_| {
                        JsonError::Invalid(format!(
                            "Failed to parse '{s}' as a JSON number for field '{name}'"
                        ))
                    })?,
                };
                Ok(Some(if matches!(kind, Kind::Float) {
                    Value::F32(f as f32)
                } else {
                    Value::F64(f)
                }))
            }
            Kind::Bool => match s.trim() {
                "true" => Ok(Some(Value::Bool(true))),
                "false" => Ok(Some(Value::Bool(false))),
                _ => Err(JsonError::Invalid(format!(
                    "Failed to parse '{s}' as a JSON boolean for field '{name}'"
                ))),
            },
            Kind::Message(_) => Err(invalid("string", field)),
            _ => {
                let n: Number = serde_json::from_str(s.trim()).map_err(|_| {
                    JsonError::Invalid(format!(
                        "Failed to parse '{s}' as a JSON number for field '{name}'"
                    ))
                })?;
                scalar(field, kind, &Json::Number(n))
            }
        },
        Json::Null => Ok(None),
        Json::Array(_) => Err(invalid("array", field)),
        Json::Object(_) => Err(invalid("object", field)),
    }
}
