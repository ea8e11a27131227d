//! Media types of the v1 HTTP APIs and their negotiation, as libprocess does it: a request
//! body is JSON or protobuf by `Content-Type`; a response is JSON when `Accept` allows it
//! (a missing `Accept` allows everything), else protobuf, else 406.

use crate::http::Response;

pub const APPLICATION_JSON: &str = "application/json";
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";
/// The outer type of streamed (RecordIO) responses whose records are `Message-Content-Type`.
pub const APPLICATION_RECORDIO: &str = "application/recordio";
pub const TEXT_JAVASCRIPT: &str = "text/javascript";

/// The two body encodings of the v1 APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Protobuf,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }
}

/// Why a request's media types cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("Expecting 'Content-Type' to be present")]
    MissingContentType,
    #[error("Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}, got '{0}'")]
    UnsupportedContentType(String),
    #[error("Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'")]
    NotAcceptable,
}

impl MediaError {
    /// 400, 415 or 406, as Mesos answers.
    pub fn status(&self) -> u16 {
        match self {
            MediaError::MissingContentType => 400,
            MediaError::UnsupportedContentType(_) => 415,
            MediaError::NotAcceptable => 406,
        }
    }

    pub fn response(&self) -> Response {
        Response::new(self.status(), self.to_string())
    }
}

/// The media type of a header value, lowercased, without parameters.
pub fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A request body's encoding from its `Content-Type` header.
pub fn content_type(header: Option<&str>) -> Result<ContentType, MediaError> {
    let value = header.ok_or(MediaError::MissingContentType)?;
    match essence(value).as_str() {
        APPLICATION_JSON => Ok(ContentType::Json),
        APPLICATION_PROTOBUF => Ok(ContentType::Protobuf),
        other => Err(MediaError::UnsupportedContentType(other.to_string())),
    }
}

/// Whether an `Accept`-style header allows `media_type`: an exact match first, then
/// `type/*`, then `*/*`; the first match decides, and `q=0` refuses. No header allows all.
pub fn accepts(header: Option<&str>, media_type: &str) -> bool {
    let Some((kind, _)) = media_type.split_once('/') else {
        return false;
    };
    let Some(header) = header else {
        return true;
    };
    let header: String = header
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n'))
        .collect();
    let wildcard = format!("{kind}/*");
    for candidate in [media_type, wildcard.as_str(), "*/*"] {
        for item in header.split(',').filter(|i| !i.is_empty()) {
            let mut params = item.split(';');
            if !params
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case(candidate))
            {
                continue;
            }
            let q: Vec<&str> = params
                .filter_map(|p| p.split_once('='))
                .filter(|(k, _)| *k == "q")
                .map(|(_, v)| v)
                .collect();
            return match q.as_slice() {
                [one] => one.parse::<f64>().is_ok_and(|q| q > 0.0),
                // No q value, or an ambiguous one: accepted.
                _ => true,
            };
        }
    }
    false
}

/// The response encoding for an `Accept` header: JSON if allowed, else protobuf.
pub fn negotiate(accept: Option<&str>) -> Result<ContentType, MediaError> {
    if accepts(accept, APPLICATION_JSON) {
        Ok(ContentType::Json)
    } else if accepts(accept, APPLICATION_PROTOBUF) {
        Ok(ContentType::Protobuf)
    } else {
        Err(MediaError::NotAcceptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_selects_json_or_protobuf_ignoring_parameters_and_case() {
        assert_eq!(
            content_type(Some("application/json; charset=utf-8")),
            Ok(ContentType::Json)
        );
        assert_eq!(
            content_type(Some("Application/X-Protobuf")),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(content_type(None).unwrap_err().status(), 400);
        let err = content_type(Some("text/plain")).unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(err.response().status, 415);
    }

    #[test]
    fn accept_prefers_json_then_protobuf_and_honours_wildcards_and_q_zero() {
        assert_eq!(negotiate(None), Ok(ContentType::Json));
        assert_eq!(negotiate(Some("application/json")), Ok(ContentType::Json));
        assert_eq!(
            negotiate(Some("application/x-protobuf")),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(negotiate(Some("*/*")), Ok(ContentType::Json));
        assert_eq!(negotiate(Some("application/*")), Ok(ContentType::Json));
        assert_eq!(
            negotiate(Some("application/json;q=0, application/x-protobuf")),
            Ok(ContentType::Protobuf)
        );
        assert_eq!(
            negotiate(Some("application/json;q=0.0,*/*;q=0")),
            Err(MediaError::NotAcceptable)
        );
        assert_eq!(negotiate(Some("text/html")), Err(MediaError::NotAcceptable));
        assert_eq!(MediaError::NotAcceptable.status(), 406);
        // The exact type decides before a wildcard that would refuse it.
        assert!(accepts(Some("*/*;q=0, application/json"), APPLICATION_JSON));
        assert!(!accepts(Some("text/html"), "not-a-media-type"));
    }
}
