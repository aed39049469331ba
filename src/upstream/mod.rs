//! The way out to the upstream: one transport for every forwarded request.
//!
//! [`forward`] edits the headers once ([`headers`]), decides once how the request travels
//! ([`Via`]: the client connection's own lean HTTP/1.1 connection, hyper's pool, or a connection
//! of its own for an upgrade), and hands both to the one [`Endpoint::send`]. Failures are typed
//! ([`UpstreamFailure`]); `crate::error` turns them into HTTP answers.

mod endpoint;
mod headers;
mod lean;
mod tls;

use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;

pub use self::endpoint::Endpoint;
pub use self::headers::is_websocket_upgrade;
pub use self::lean::LeanSlot;
#[doc(hidden)]
pub use self::lean::fuzz_api as lean_fuzz_api;
use crate::error::{Body, UpstreamFailure};
use crate::observe::Metrics;

/// The upstream could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid upstream url `{0}`")]
    Url(String),
    #[error("cannot read upstream ca `{file}`: {message}")]
    Ca { file: String, message: String },
    #[error("invalid upstream fingerprint: expected 64 hex digits")]
    Fingerprint,
    #[error("an https upstream needs `upstream.ca` or `upstream.fingerprint`")]
    NoTrust,
    #[error("tls: {0}")]
    Tls(String),
}

/// The error a client's request body yields while it streams upstream (tagged so that a
/// failed exchange can tell the client's fault from the upstream's).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientBodyError(pub hyper::Error);

/// How a request travels to its endpoint, decided once per request.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    /// The client connection's own upstream connection, on the lean client (HTTP/1 clients'
    /// requests without a body).
    Lean(&'a LeanSlot),
    /// hyper's shared pool (HTTP/2 clients, requests with a body).
    Pool,
    /// A hyper connection of its own, which a `101` hands to the upgrade.
    Upgrade,
}

/// What forwarding needs to know about the request besides the request itself.
pub struct ForwardContext<'a> {
    /// The authenticated id, sent in the identity header (`None` for `user: world` routes).
    pub authid: Option<&'a str>,
    /// The client's address as an `X-Forwarded-For` element.
    pub peer_ip: &'a HeaderValue,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// `auth.identity_header`.
    pub identity_header: &'a HeaderName,
    /// `auth.strip_credentials`.
    pub strip_credentials: bool,
    /// `request.strip_headers`: method-override and URL-rewrite headers.
    pub strip_headers: &'a [HeaderName],
    /// The client connection's own upstream connection (`None`: use the pool, as HTTP/2
    /// clients do).
    pub slot: Option<&'a LeanSlot>,
}

/// Send `req` upstream and return its response; the client's upgrade (if any, already checked
/// to be an allowed WebSocket) is joined with the upstream's.
pub async fn forward(
    endpoint: &Endpoint,
    mut req: Request<Body>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ctx: &ForwardContext<'_>,
    metrics: &Metrics,
) -> Result<Response<Body>, UpstreamFailure> {
    let upgrade = client_upgrade
        .as_ref()
        .and_then(|_| req.headers().get(http::header::UPGRADE).cloned());
    let via = match (&upgrade, ctx.slot) {
        (Some(_), _) => Via::Upgrade,
        (None, Some(slot)) if req.body().is_end_stream() => Via::Lean(slot),
        (None, _) => Via::Pool,
    };
    let added = headers::prepare_request(&mut req, ctx, upgrade);

    let started = Instant::now();
    let sent = tokio::time::timeout(endpoint.timeout, endpoint.send(via, req, added)).await;
    metrics
        .upstream_seconds
        .observe(started.elapsed().as_secs_f64());
    let mut resp = sent.map_err(|_| UpstreamFailure::Timeout)??;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // A switch nobody asked for would hand the client an unchecked tunnel.
        let Some(client) = client_upgrade else {
            return Err(UpstreamFailure::UnaskedSwitch);
        };
        let upstream_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(splice(client, upstream_side));
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(
            parts,
            crate::error::full(bytes::Bytes::new()),
        ));
    }
    headers::strip_hop_by_hop(resp.headers_mut(), None);
    Ok(resp)
}

async fn splice(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "upgraded connection ended");
    }
}
