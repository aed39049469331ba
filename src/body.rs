//! The body type of every answer and every forwarded request ([`Body`]), with its error type,
//! below both the request path and the error map (src/error.rs re-exports them), so that the
//! upstream client, which the snapshot holds, depends on neither.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Response (and forwarded request) body type.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

/// A body's error: hyper's, or our upstream client's.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body from bytes.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
