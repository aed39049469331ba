//! The way out to the upstream: one transport for every forwarded request.
//!
//! [`forward`] edits the headers once ([`headers`]), decides once how the request travels
//! ([`Via`]: the client connection's own lean HTTP/1.1 connection, hyper's pool, or a connection
//! of its own for an upgrade), and hands both to the one [`Endpoint::send`]. Failures are typed
//! ([`UpstreamFailure`]); the error map (src/error.rs) turns them into HTTP answers.

pub mod balance;
mod endpoint;
mod failure;
mod headers;
mod health;
mod lean;
mod pool;
mod tls;

use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;

pub use self::endpoint::Endpoint;
pub use self::failure::UpstreamFailure;
pub use self::headers::is_websocket_upgrade;
pub use self::health::HealthChecks;
pub use self::lean::LeanSlot;
#[doc(hidden)]
pub use self::lean::fuzz_api as lean_fuzz_api;
pub use self::pool::{Pool, Upstreams};
use crate::body::Body;
use crate::config::upstreams::ServiceCredential;
use crate::policy::UpstreamTarget;

/// The upstream could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid upstream url `{0}`")]
    Url(String),
    /// Not named: the URL holds what may be a password.
    #[error("an upstream url must not hold user info (credentials go in `authorization_file`)")]
    UserInfo,
    #[error("cannot read upstream ca `{file}`: {message}")]
    Ca { file: String, message: String },
    #[error("invalid upstream fingerprint: expected 64 hex digits")]
    Fingerprint,
    #[error("an https upstream needs `upstream.ca` or `upstream.fingerprint`")]
    NoTrust,
    #[error("tls: {0}")]
    Tls(String),
    #[error("upstream `{0}` has more than 64 endpoints")]
    TooManyEndpoints(String),
}

/// The error a client's request body yields while it streams upstream (tagged so that a
/// failed exchange can tell the client's fault from the upstream's).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientBodyError(pub hyper::Error);

/// How a request travels to its endpoint, decided once per request.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    /// The client connection's own upstream connections, on the lean client (requests
    /// without a body).
    Lean(&'a LeanSlot),
    /// hyper's shared pool (requests with a body).
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
    /// Whether the TCP peer is a trusted proxy (`trusted_proxies`): only then is its
    /// `X-Forwarded-For` extended rather than replaced.
    pub peer_trusted: bool,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// `auth.identity_header`.
    pub identity_header: &'a HeaderName,
    /// `auth.strip_credentials`.
    pub strip_credentials: bool,
    /// `request.strip_headers`: method-override and URL-rewrite headers.
    pub strip_headers: &'a [HeaderName],
    /// The client connection's own upstream connections (`None`: use hyper's pool).
    pub slot: Option<&'a LeanSlot>,
    /// Whether the request goes to the endpoint of the slot's idle connection while that is up:
    /// an HTTP/1 client connection stays on one endpoint; HTTP/2 streams are balanced one by
    /// one.
    pub sticky: bool,
    /// The route's upstream and path rewrite.
    pub target: &'a UpstreamTarget,
    /// The upstream's service credential, sent instead of the client's credentials.
    pub credential: Option<&'a ServiceCredential>,
}

/// Which endpoint a forwarded request went to (for the access log): the last one tried, so
/// the one that answered when one did. Positions in the [`Upstreams`] it was forwarded with
/// (names by [`Upstreams::describe`]): a plain value, so that no borrow of the snapshot has
/// to cross the request path's awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    pool: usize,
    member: usize,
    /// Tries before this endpoint's (0: the first endpoint tried).
    pub retries: u32,
}

/// Send `req` to an endpoint of its route's upstream and return the response; the client's
/// upgrade (if any, already checked to be an allowed WebSocket) is joined with the upstream's.
/// `chosen` is set to each endpoint as it is tried.
///
/// A try that fails before any byte of an answer goes to another endpoint when that cannot
/// repeat an action: the request has no body and either its method is idempotent or no byte
/// of it was sent (the connection failed). A request with a streaming body is sent once.
pub async fn forward(
    upstreams: &Upstreams,
    mut req: Request<Body>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ctx: &ForwardContext<'_>,
    chosen: &mut Option<Chosen>,
) -> Result<Response<Body>, UpstreamFailure> {
    let (pool_at, pool) = upstreams
        .find(&ctx.target.upstream)
        .ok_or_else(|| UpstreamFailure::Unavailable(ctx.target.upstream.clone()))?;
    let upgrade = client_upgrade
        .as_ref()
        .and_then(|_| req.headers().get(http::header::UPGRADE).cloned());
    let bodyless = req.body().is_end_stream();
    let via = match (&upgrade, ctx.slot) {
        (Some(_), _) => Via::Upgrade,
        (None, Some(slot)) if bodyless => Via::Lean(slot),
        (None, _) => Via::Pool,
    };
    let added = headers::prepare_request(&mut req, ctx, upgrade);
    headers::rewrite_path(&mut req, ctx.target);
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    // A copy for another try, only where one can happen.
    let spare = (bodyless && pool.members.len() > 1).then(|| (clone_request(&req), added.clone()));
    let prefer = match via {
        Via::Lean(slot) if ctx.sticky => slot.origin().and_then(|id| pool.position(id)),
        _ => None,
    };

    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started) + pool.timeout();
    let mut tried = balance::Tried::default();
    let mut retries = 0;
    let mut next = Some((req, added));
    // When the answer came; clocks are read once per try, not per figure.
    let mut answered = None;
    let result = loop {
        let Some(i) = pool.balancer.pick(tried, prefer) else {
            break Err(UpstreamFailure::Unavailable(pool.name.clone()));
        };
        tried.add(i);
        let (req, added) = match next.take() {
            Some(first) => first,
            None => match &spare {
                Some((req, added)) => (clone_request(req), added.clone()),
                None => break Err(UpstreamFailure::Unavailable(pool.name.clone())),
            },
        };
        let member = &*pool.members[i];
        *chosen = Some(Chosen {
            pool: pool_at,
            member: i,
            retries,
        });
        retries += 1;
        member.requests.inc();
        let pending = pool.balancer.state(i).start();
        let try_started = if retries == 1 {
            started
        } else {
            Instant::now()
        };
        let sent = member.endpoint.send(via, req, added, deadline).await;
        drop(pending);
        let failure = match sent {
            Ok(resp) => {
                let now = Instant::now();
                member.seconds.observe((now - try_started).as_secs_f64());
                answered = Some(now);
                break Ok(resp);
            }
            Err(e) => e,
        };
        if matches!(failure, UpstreamFailure::ClientBody(_)) {
            break Err(failure);
        }
        member.failures.inc();
        if endpoint_down(&failure) {
            pool.eject(i, "request failed");
        }
        let again = spare.is_some()
            && match failure {
                UpstreamFailure::Connect(_) => true,
                UpstreamFailure::Exchange(_) => idempotent,
                _ => false,
            };
        tracing::debug!(upstream = %pool.name, endpoint = %member.url, error = %failure, again, "upstream try failed");
        if !again {
            break Err(failure);
        }
    };
    let ended = answered.unwrap_or_else(Instant::now);
    upstreams
        .total_seconds()
        .observe((ended - started).as_secs_f64());
    let mut resp = result?;

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
            crate::body::full(bytes::Bytes::new()),
        ));
    }
    headers::strip_hop_by_hop(resp.headers_mut());
    Ok(resp)
}

/// Whether a failed try says the endpoint is down (refused, reset, closed, silent) rather than
/// that it answered badly.
fn endpoint_down(failure: &UpstreamFailure) -> bool {
    let exchange = match failure {
        UpstreamFailure::Connect(_) | UpstreamFailure::Timeout => return true,
        UpstreamFailure::Exchange(e) => e,
        _ => return false,
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(exchange.as_ref());
    while let Some(c) = cause {
        if c.downcast_ref::<lean::LeanError>()
            .is_some_and(lean::LeanError::stale)
        {
            return true;
        }
        if c.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed())
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | UnexpectedEof
            );
        }
        cause = c.source();
    }
    false
}

/// A bodyless request's copy for another try.
fn clone_request(req: &Request<Body>) -> Request<Body> {
    let mut copy = Request::new(crate::body::full(bytes::Bytes::new()));
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    copy
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
