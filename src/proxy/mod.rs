//! The request path, read top to bottom: [`handle`] loads the snapshot once and logs the
//! outcome; `pipeline` normalises the path, finds the route, authenticates
//! ([`gate::authenticate`] → a [`Principal`]), collects the parameters and decides
//! ([`gate::decide`] → a [`Permit`] or a [`Denial`]); `dispatch` sends the permit to a built-in
//! handler ([`crate::access_api`]) or forwards it upstream. Errors become answers in
//! `src/error.rs`.

mod client_addr;
mod hygiene;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, Version, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::access_api::{self, ApiContext, ApiServices};
use crate::auth;
use crate::gate::{self, Facts, Permit, Principal};
use crate::header_scan;
use crate::identity::Authid;
use crate::observe::{AccessEvent, RequestLabels};
use crate::policy::request_path as path;
use crate::policy::{self, Access, EvalContext, Params, PathParams};
use crate::snapshot::{Snapshot, SnapshotReader, now};

pub use crate::error::{Body, BodyError, ProxyError, full as full_body};
use crate::upstream::{self, Chosen, ForwardContext, LeanSlot};
pub use path::{PathError, normalise};

/// Shared by every connection: the snapshot reader (the upstreams' clients are part of the
/// snapshot) and the built-in handlers' services.
#[derive(Clone)]
pub struct Gateway {
    /// Where each request loads its snapshot.
    pub snapshots: SnapshotReader,
    /// Ticket keys, login throttle and the built-in handlers' services; `None` = tickets are
    /// refused and handler routes answer 501.
    pub services: Option<Arc<ApiServices>>,
}

/// The CSRF prevention token header (`CSRFPreventionToken`; header names are case-insensitive
/// and `HeaderName` holds them lower-case). A constant name is not parsed and lowered per
/// request, as a `&str` lookup is.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("csrfpreventiontoken");

/// Facts about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// One client connection, shared by its requests.
#[derive(Debug)]
pub struct ClientConn {
    /// Facts about the connection.
    pub info: ConnInfo,
    /// The client's address as an `X-Forwarded-For` element, formatted once.
    peer_ip: HeaderValue,
    /// The connection's own upstream connections.
    upstream: LeanSlot,
}

impl ClientConn {
    /// State for a newly accepted connection.
    pub fn new(info: ConnInfo) -> ClientConn {
        let peer_ip = HeaderValue::from_str(&info.peer.ip().to_string())
            // INVARIANT: an IP address prints as ASCII digits, dots, colons and hex letters.
            .expect("an IP address is a valid header value");
        ClientConn {
            info,
            peer_ip,
            upstream: LeanSlot::default(),
        }
    }
}

/// What the pipeline learned, for the access log.
/// Borrowed from the request's snapshot where possible, so tracing costs no allocation.
#[derive(Default)]
struct Trace<'s> {
    /// The client address, once known (the forwarded one behind a trusted proxy).
    client: Option<std::net::IpAddr>,
    route: Option<&'s str>,
    reason: Option<Cow<'static, str>>,
    decided: Option<Duration>,
    /// The upstream endpoint a forwarded request went to.
    upstream: Option<Chosen>,
}

/// Handle one request end to end; never fails (errors become responses).
pub async fn handle(gw: &Gateway, conn: &ClientConn, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    // The only snapshot load of this request: every later step uses this `Arc`.
    let snapshot = gw.snapshots.load();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let metrics = &gw.snapshots.runtime().metrics;

    if path == "/healthz" && method == Method::GET {
        let resp = crate::error::ok_json("\"ok\"");
        metrics
            .requests
            .get_or_create(&RequestLabels {
                decision: "health",
                status: 200,
            })
            .inc();
        return resp;
    }

    // The web interface's own files (nothing else: API and upstream paths fall through).
    if let Some(resp) = crate::ui::serve(&snapshot.config.ui, &method, &path) {
        return resp.map(full_body);
    }

    let mut trace = Trace::default();
    let mut who = None;
    let outcome = pipeline(gw, &snapshot, conn, req, start, &mut trace, &mut who).await;
    let (resp, decision) = match outcome {
        Ok(resp) => (resp, "allow"),
        Err(e) => {
            if e.is_unauthorized() {
                // Proxmox answers every 401 no earlier than 3 s after the request started,
                // which also hides how far verification got.
                let delay = Duration::from_millis(snapshot.config.auth.failure_delay_ms);
                tokio::time::sleep_until(tokio::time::Instant::from_std(start + delay)).await;
            }
            let decision = e.decision();
            if trace.reason.is_none() {
                trace.reason = Some(Cow::Owned(e.to_string()));
            }
            (e.into_response(), decision)
        }
    };
    let status = resp.status().as_u16();
    if let Some(d) = trace.decided {
        metrics.decision_seconds.observe(d.as_secs_f64());
    }
    if decision == "allow" && status == 200 {
        metrics.allowed_ok.inc();
    } else {
        metrics
            .requests
            .get_or_create(&RequestLabels { decision, status })
            .inc();
    }
    // The connection's own address is formatted once per connection; a forwarded one here.
    let chosen = trace.upstream.and_then(|c| snapshot.upstreams.describe(c));
    let forwarded = trace
        .client
        .filter(|ip| *ip != conn.info.peer.ip())
        .map(|ip| ip.to_string());
    AccessEvent {
        client: forwarded
            .as_deref()
            .unwrap_or_else(|| conn.peer_ip.to_str().unwrap_or("-")),
        authid: who
            .as_ref()
            .and_then(Principal::authid)
            .map_or("-", Authid::as_str),
        method: method.as_str(),
        path: &path,
        route: trace.route.unwrap_or("-"),
        decision,
        reason: trace.reason.as_deref().unwrap_or("-"),
        status,
        latency: start.elapsed(),
        upstream: chosen.map(|(upstream, _)| upstream),
        endpoint: chosen.map(|(_, endpoint)| endpoint),
        retries: trace.upstream.map_or(0, |c| c.retries),
    }
    .log(&gw.snapshots.runtime().access_log);
    resp
}

/// The request path up to the decision: normalise the path, find the route, authenticate
/// (`gate::authenticate`), collect the parameters, decide (`gate::decide`); then [`dispatch`].
async fn pipeline<'s>(
    gw: &Gateway,
    snapshot: &'s Snapshot,
    conn: &ClientConn,
    req: Request<Incoming>,
    start: Instant,
    trace: &mut Trace<'s>,
    who: &mut Option<Principal>,
) -> Result<Response<Body>, ProxyError> {
    // HTTP/1 counts lines while parsing; HTTP/2 only bounds the header bytes, so count here.
    if req.headers().len() > snapshot.config.limits.max_header_lines {
        return Err(ProxyError::TooManyHeaders);
    }
    hygiene::check(req.version(), req.headers())?;
    let path = path::normalise_with(req.uri().path(), snapshot.config.request.path_params)
        .map_err(ProxyError::BadPath)?;
    let client = client_addr::client_ip(
        conn.info.peer.ip(),
        req.headers(),
        &snapshot.config.trusted_proxies,
    )
    .map_err(ProxyError::BadForwardedFor)?;
    trace.client = Some(client);
    let found = snapshot.routes.find(req.method().as_str(), &path);
    if let Some(m) = &found {
        trace.route = Some(&m.route.source);
    }

    let world = found
        .as_ref()
        .is_some_and(|m| matches!(m.route.access, Access::World));
    // etcd backend, `on_stale = "fail_closed"`: no decision on a state that may be stale.
    if !world && gw.snapshots.runtime().metrics.store.refusing.get() == 1 {
        return Err(ProxyError::StateStale);
    }
    let tickets = gw.services.as_deref().map(|s| &s.tickets);
    let now = now();
    let principal = match gate::authenticate_request(snapshot, tickets, req.headers(), world, now) {
        Ok(p) => &*who.insert(p),
        Err(auth::AuthError::NoCredentials) => return Err(ProxyError::NoTicket),
        Err(e) => return Err(ProxyError::AuthFailed(e)),
    };
    let (route, path_params) = match found {
        Some(m) => (Some(m.route), m.path_params),
        None => (None, PathParams::new()),
    };

    // Buffer the body only when the check reads a parameter that is not in the path, or a
    // built-in handler answers the route.
    let (parts, body) = req.into_parts();
    let needs_body = route.is_some_and(|r| r.needs_body() || r.handler.is_some());
    let (body, buffered): (Body, Option<Bytes>) = if needs_body {
        let limit = snapshot.config.limits.max_body_buffered;
        let bytes = read_body(&parts.headers, body, limit).await?;
        (full_body(bytes.clone()), Some(bytes))
    } else {
        let tagged = body.map_err(|e| BodyError::from(upstream::ClientBodyError(e)));
        (tagged.boxed_unsync(), None)
    };
    let mut params = Params::new(path_params);
    if let Some(bytes) = &buffered {
        let ctype = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        params
            .add_body(ctype, bytes)
            .map_err(ProxyError::BadParams)?;
    }
    // Added last: the query string wins over the body (spec §5.2). Read from a clone of the
    // URI (a reference count: hyper's URIs share the request's bytes), so that the parameters
    // do not hold `parts`, which dispatch moves on.
    let uri = parts.uri.clone();
    if route.is_some()
        && let Some(q) = uri.query()
    {
        params.add_query(q).map_err(ProxyError::BadParams)?;
    }

    let facts = Facts {
        method: &parts.method,
        csrf: header_scan::get(&parts.headers, &CSRF_HEADER).and_then(|v| v.to_str().ok()),
        client: Some(client),
        now,
    };
    let ctx = gate::Context {
        eval: EvalContext {
            engine: &snapshot.engine,
            users: &snapshot.user_cfg,
        },
        token_options: &snapshot.token_options,
        tickets,
        limiter: Some(&gw.snapshots.runtime().rate_limits),
    };
    let decided = gate::decide(principal, route, &params, &facts, &ctx);
    trace.decided = Some(start.elapsed());
    // A denial's reason reaches the access log through the error's message.
    let permit = decided.map_err(ProxyError::Denied)?;
    trace.reason = Some(Cow::Borrowed(allow_reason(permit.reason())));
    let request = Admitted {
        parts,
        body,
        params: &params,
        path: &path,
        client,
    };
    dispatch(gw, snapshot, conn, permit, request, &mut trace.upstream).await
}

/// An allowed request, with what the decision read.
struct Admitted<'r> {
    parts: http::request::Parts,
    body: Body,
    params: &'r Params<'r>,
    /// The checked (normalised) path.
    path: &'r str,
    /// The client's address (after trusted proxies).
    client: IpAddr,
}

/// Send an allowed request where its route says: a built-in handler ([`access_api::handle`])
/// or the upstream (the endpoint it went to in `chosen`).
async fn dispatch(
    gw: &Gateway,
    snapshot: &Snapshot,
    conn: &ClientConn,
    permit: Permit<'_>,
    request: Admitted<'_>,
    chosen: &mut Option<Chosen>,
) -> Result<Response<Body>, ProxyError> {
    let Admitted {
        parts,
        body,
        params,
        path,
        client,
    } = request;
    let route = permit.route();
    let authid = permit.principal().authid();
    // Routes answered by aclgate itself are never forwarded, unless the handler says the
    // request is not its own (ApiError::Upstream).
    if let Some(handler) = route.handler {
        let Some(services) = gw.services.as_deref() else {
            return Err(ProxyError::NoHandler(handler));
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let ctx = ApiContext {
            snapshot,
            caller: authid,
            via_token: permit.principal().via_token(),
            params,
            peer: SocketAddr::new(client, conn.info.peer.port()),
            services,
            host,
        };
        // Boxed: the handlers' futures are large, and an unboxed one would make every
        // forwarded request's future (moved into hyper's connection task) as large.
        match Box::pin(access_api::handle(handler, &ctx)).await {
            Ok(value) => return Ok(crate::error::ok_response(&value)),
            // Not aclgate's (e.g. another node's task): forwarded as any allowed request.
            Err(access_api::ApiError::Upstream) => {}
            Err(e) => return Err(ProxyError::Api(e)),
        }
    }
    let mut parts = parts;
    set_forwarded_path(&mut parts.uri, path)?;
    let mut req = Request::from_parts(parts, body);

    // Only a WebSocket, only where the route allows one: any other upgrade (h2c, ...) would
    // turn the connection into a tunnel that no later request of it is checked on. Refused
    // upgrades lose their `Upgrade` header and go on as plain requests.
    let client_upgrade = (route.websocket && upstream::is_websocket_upgrade(&req))
        .then(|| hyper::upgrade::on(&mut req));
    // An HTTP/1 connection's requests stay on one endpoint; HTTP/2 streams are balanced.
    let http1 = matches!(
        req.version(),
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    );
    let ctx = ForwardContext {
        authid: authid.map(Authid::as_str),
        peer_ip: &conn.peer_ip,
        peer_trusted: (snapshot.config.trusted_proxies.iter())
            .any(|c| c.contains(conn.info.peer.ip())),
        tls: conn.info.tls,
        identity_header: &snapshot.identity_header,
        strip_credentials: snapshot.config.auth.strip_credentials,
        strip_headers: &snapshot.config.request.strip_headers,
        slot: Some(&conn.upstream),
        sticky: http1,
        target: &route.target,
        credential: snapshot.service_credentials.get(&route.target.upstream),
    };
    upstream::forward(&snapshot.upstreams, req, client_upgrade, &ctx, chosen)
        .await
        .map_err(ProxyError::Upstream)
}

/// The upstream gets exactly the checked path, encoded once ([`path::encode`]), with the
/// query as sent; the URI is left alone when it already is that (the usual case).
fn set_forwarded_path(uri: &mut http::Uri, checked: &str) -> Result<(), ProxyError> {
    let forwarded = path::encode(checked);
    if uri.path() == forwarded {
        return Ok(());
    }
    let target = match uri.query() {
        Some(q) => format!("{forwarded}?{q}"),
        None => forwarded.into_owned(),
    };
    let bad = |_| ProxyError::BadPath(PathError::BadEscape);
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(http::uri::PathAndQuery::try_from(target).map_err(bad)?);
    *uri = http::Uri::from_parts(parts).map_err(|_| ProxyError::BadPath(PathError::BadEscape))?;
    Ok(())
}

async fn read_body(
    headers: &http::HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, ProxyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ProxyError::BodyTooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ProxyError::BodyTooLarge(limit))
        }
        Err(_) => Err(ProxyError::BodyRead),
    }
}

/// A static label for an allow reason (the access log needs no allocation for these).
fn allow_reason(reason: &policy::Reason) -> &'static str {
    match reason {
        policy::Reason::World => "world",
        policy::Reason::Root => "root@pam",
        policy::Reason::All => "user = all",
        _ => "check passed",
    }
}
