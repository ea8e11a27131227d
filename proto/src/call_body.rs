//! The body of an operator or scheduler call in either encoding a client may choose
//! (JSON or protobuf), with the error texts genuine Mesos answers in its 400s.

/// Why a request body is not the call it should be.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CallBodyError {
    #[error("Failed to parse body into JSON: {0}")]
    Json(String),
    #[error("Failed to convert JSON into Call protobuf: {0}")]
    JsonCall(String),
    #[error("Failed to parse body into Call protobuf: {0}")]
    Protobuf(String),
}

/// Decodes `body` as `M`: Mesos JSON when `json`, else protobuf (required fields checked).
pub fn decode_call<M: prost::Message + prost::Name + Default>(
    body: &[u8],
    json: bool,
) -> Result<M, CallBodyError> {
    if json {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| CallBodyError::Json(e.to_string()))?;
        crate::from_json(&value).map_err(|e| CallBodyError::JsonCall(e.to_string()))
    } else {
        crate::decode(body).map_err(|e| CallBodyError::Protobuf(e.to_string()))
    }
}
