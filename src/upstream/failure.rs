//! How forwarding failed ([`UpstreamFailure`]); the error map (src/error.rs) turns it into the answer.

use crate::body::BodyError;

/// Forwarding to the upstream failed: the upstream's fault or the network's (502, 503, 504),
/// or the client's request body broke off while it streamed out (400).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFailure {
    /// No connection to the endpoint (refused, unreachable, TLS handshake failed).
    #[error("connect: {0}")]
    Connect(BodyError),
    /// The exchange with the endpoint failed after connecting.
    #[error("{0}")]
    Exchange(BodyError),
    /// The client's request body broke off or was malformed while it was being sent.
    #[error("client request body: {0}")]
    ClientBody(BodyError),
    /// No response head within the upstream's `timeout_ms`.
    #[error("upstream timed out")]
    Timeout,
    /// A `101 Switching Protocols` to a request whose upgrade was not allowed.
    #[error("101 Switching Protocols to a request without an allowed upgrade")]
    UnaskedSwitch,
    /// Every endpoint of the named upstream is down.
    #[error("no healthy endpoint of upstream `{0}`")]
    Unavailable(String),
}
