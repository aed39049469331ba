//! The one place where a request's failures become HTTP answers, in Proxmox's shape (status
//! codes, reason phrases and `{"data":null,"message":"...\n"}` bodies, spec §6.8): the request
//! path's [`ProxyError`] and the built-in handlers' [`ApiError`] alike, with the typed errors
//! they carry ([`PathError`], [`BadForwardedFor`], authentication, parameter and upstream
//! failures). Also the response body type every answer uses ([`Body`], defined in
//! `crate::body`; [`UpstreamFailure`] is defined in `crate::upstream`, below this map).
//!
//! Depends only on the layers whose errors it maps (auth, policy, access_api, gate); nothing it
//! maps depends on it, so the request path (`proxy`, `server`) can use it without a circle.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};

use crate::access_api::ApiError;
use crate::auth::AuthError;
use crate::gate::{Denial, retry_after_secs};
use crate::policy::{Handler, ParamError, PathError};

pub use crate::body::{Body, BodyError, full};
pub use crate::upstream::UpstreamFailure;

/// `X-Forwarded-For` from a trusted proxy that is not a list of IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed X-Forwarded-For from a trusted proxy")]
pub struct BadForwardedFor;

/// Everything that stops a request before (or while) forwarding it.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    BadPath(PathError),
    #[error("{0}")]
    BadParams(ParamError),
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("cannot read request body")]
    BodyRead,
    #[error("too many request headers")]
    TooManyHeaders,
    #[error("missing or repeated Host header")]
    BadHost,
    #[error("unsupported Transfer-Encoding")]
    BadTransferEncoding,
    #[error("{0}")]
    BadForwardedFor(BadForwardedFor),
    #[error("no credentials")]
    NoTicket,
    /// The cause is for the log only.
    #[error("authentication failed ({0})")]
    AuthFailed(AuthError),
    /// [`crate::gate::decide`] refused: no route, the check, CSRF, a token's source or limit.
    #[error("{0}")]
    Denied(Denial),
    #[error("upstream: {0}")]
    Upstream(UpstreamFailure),
    /// A handler route on a gateway started without the handlers' services (tests that
    /// serve only forwarded routes): never forwarded.
    #[error("built-in handler `{0}` not available")]
    NoHandler(Handler),
    /// The state could not be confirmed current for longer than `max_staleness_ms` and
    /// `on_stale = "fail_closed"` (etcd backend): authenticated requests are refused.
    #[error("state store unreachable: the gateway's state may be stale")]
    StateStale,
    /// A built-in handler refused or failed.
    #[error("{0}")]
    Api(ApiError),
}

impl ProxyError {
    /// The label for metrics and the access log.
    pub fn decision(&self) -> &'static str {
        match self {
            ProxyError::BadPath(_)
            | ProxyError::BadParams(_)
            | ProxyError::BodyTooLarge(_)
            | ProxyError::BodyRead
            | ProxyError::TooManyHeaders
            | ProxyError::BadHost
            | ProxyError::BadTransferEncoding
            | ProxyError::BadForwardedFor(_) => "invalid",
            ProxyError::NoTicket | ProxyError::AuthFailed(_) => "unauthenticated",
            ProxyError::Denied(d) => match d {
                Denial::SourceNotAllowed | Denial::BadCsrf => "unauthenticated",
                Denial::RateLimited(_) => "limited",
                Denial::RouteNotFound => "not_found",
                Denial::Forbidden(_) => "deny",
            },
            ProxyError::Upstream(UpstreamFailure::ClientBody(_)) => "invalid",
            ProxyError::Upstream(_) => "allow",
            ProxyError::NoHandler(_) => "invalid",
            ProxyError::StateStale => "stale",
            ProxyError::Api(e) => match e {
                ApiError::AuthFailure => "unauthenticated",
                ApiError::Forbidden(_) => "deny",
                ApiError::NotFound(_) => "not_found",
                ApiError::Internal(_) | ApiError::Upstream | ApiError::Unavailable(_) => "error",
                ApiError::Params(_) | ApiError::BadRequest(_) | ApiError::Rejected(_) => "invalid",
            },
        }
    }

    /// Whether the answer is a 401 (held until the failure delay after the request started).
    pub fn is_unauthorized(&self) -> bool {
        match self {
            ProxyError::NoTicket | ProxyError::AuthFailed(_) => true,
            ProxyError::Denied(d) => d.is_unauthorized(),
            ProxyError::Api(e) => e.is_auth_failure(),
            _ => false,
        }
    }

    /// The response the client gets.
    pub fn into_response(self) -> Response<Body> {
        match self {
            ProxyError::Api(e) => return e.into_response(),
            ProxyError::Denied(d) => return d.into_response(),
            _ => {}
        }
        match &self {
            ProxyError::NoTicket => empty(StatusCode::UNAUTHORIZED, "No ticket"),
            // Never a hint of which part failed.
            ProxyError::AuthFailed(_) => empty(StatusCode::UNAUTHORIZED, "Authentication failed!"),
            ProxyError::BadPath(_)
            | ProxyError::BadParams(_)
            | ProxyError::BodyRead
            | ProxyError::BadHost
            | ProxyError::BadTransferEncoding
            | ProxyError::BadForwardedFor(_) => json(StatusCode::BAD_REQUEST, &self.to_string()),
            ProxyError::TooManyHeaders => json(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
            ),
            ProxyError::BodyTooLarge(_) => json(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string()),
            ProxyError::Upstream(failure) => match failure {
                UpstreamFailure::ClientBody(_) => {
                    json(StatusCode::BAD_REQUEST, "cannot read request body")
                }
                UpstreamFailure::Timeout => json(StatusCode::GATEWAY_TIMEOUT, "Upstream timed out"),
                UpstreamFailure::Unavailable(_) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable - no healthy upstream endpoint",
                ),
                UpstreamFailure::Connect(_)
                | UpstreamFailure::Exchange(_)
                | UpstreamFailure::UnaskedSwitch => json(StatusCode::BAD_GATEWAY, "Bad gateway"),
            },
            ProxyError::StateStale => json(StatusCode::SERVICE_UNAVAILABLE, &self.to_string()),
            ProxyError::NoHandler(_) => json(StatusCode::NOT_IMPLEMENTED, "Not implemented"),
            // INVARIANT: answered above.
            ProxyError::Api(_) | ProxyError::Denied(_) => {
                json(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

// === impl Denial (its answers) ===

impl Denial {
    /// The response the client gets.
    pub fn into_response(self) -> Response<Body> {
        match &self {
            // Exactly like any other failed authentication: never a hint of which part failed.
            Denial::SourceNotAllowed => empty(StatusCode::UNAUTHORIZED, "Authentication failed!"),
            Denial::BadCsrf => empty(
                StatusCode::UNAUTHORIZED,
                "Permission denied - invalid csrf token",
            ),
            Denial::RateLimited(wait) => {
                let mut resp = json(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests - token rate limit exceeded",
                );
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*wait)),
                );
                resp
            }
            Denial::RouteNotFound => json(StatusCode::NOT_FOUND, "Not found"),
            // Proxmox's permission message, e.g. `Permission check failed (/vms/100, VM.Audit)`.
            Denial::Forbidden(reason) => json(StatusCode::FORBIDDEN, &reason.to_string()),
        }
    }
}

/// A plain JSON answer (used for `/healthz`).
pub fn ok_json(data: &str) -> Response<Body> {
    let body = format!("{{\"data\":{data}}}");
    let mut resp = Response::new(full(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}

fn empty(status: StatusCode, reason: &'static str) -> Response<Body> {
    let mut resp = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *resp.status_mut() = status;
    set_reason(&mut resp, reason);
    resp
}

fn json(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "data": null, "message": format!("{message}\n") });
    let mut resp = Response::new(full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    set_reason(&mut resp, message);
    resp
}

/// The HTTP/1 reason phrase is the message's first line (as Proxmox sends it).
fn set_reason(resp: &mut Response<Body>, message: &str) {
    let line = message.lines().next().unwrap_or_default();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(line.as_bytes().to_vec()) {
        resp.extensions_mut().insert(phrase);
    }
}

// === impl ApiError (its answers) ===

impl ApiError {
    /// The response the client gets (spec §6.8 bodies and reason phrases).
    pub fn into_response(self) -> Response<Body> {
        match self {
            ApiError::Params(errors) => {
                let body = serde_json::json!({
                    "data": null,
                    "errors": errors,
                    "message": "Parameter verification failed.\n",
                });
                api_json(
                    StatusCode::BAD_REQUEST,
                    "Parameter verification failed.",
                    &body,
                )
            }
            ApiError::BadRequest(m) => api_message(StatusCode::BAD_REQUEST, &m),
            ApiError::Forbidden(m) => api_message(StatusCode::FORBIDDEN, &m),
            ApiError::NotFound(m) => api_message(StatusCode::NOT_FOUND, &m),
            ApiError::AuthFailure => {
                api_message(StatusCode::UNAUTHORIZED, "authentication failure")
            }
            ApiError::Internal(m) | ApiError::Rejected(m) => {
                api_message(StatusCode::INTERNAL_SERVER_ERROR, &m)
            }
            ApiError::Unavailable(m) => api_message(StatusCode::SERVICE_UNAVAILABLE, &m),
            // The pipeline forwards these; only a handler called outside it ends here.
            ApiError::Upstream => {
                api_message(StatusCode::NOT_IMPLEMENTED, "not answered by aclgate")
            }
        }
    }
}

/// `200 {"data": value}`.
pub fn ok_response(value: &serde_json::Value) -> Response<Body> {
    let body = serde_json::json!({ "data": value });
    api_json(StatusCode::OK, "OK", &body)
}

fn api_message(status: StatusCode, text: &str) -> Response<Body> {
    let body = serde_json::json!({ "data": null, "message": format!("{text}\n") });
    api_json(status, text, &body)
}

fn api_json(status: StatusCode, reason: &str, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    let line = reason.lines().next().unwrap_or_default();
    if status != StatusCode::OK
        && let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(line.as_bytes().to_vec())
    {
        resp.extensions_mut().insert(phrase);
    }
    resp
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait, want) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1000), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(30), 30),
        ] {
            assert_eq!(retry_after_secs(wait), want, "retry_after_secs({wait:?})");
        }
    }

    #[test]
    fn rate_limited_is_a_429_with_retry_after_and_a_json_body() {
        let limited = |ms| ProxyError::Denied(Denial::RateLimited(Duration::from_millis(ms)));
        let resp = limited(1500).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert!(!limited(0).is_unauthorized());
    }
}
