//! The request pipeline, one straight async fn: load the snapshot once → normalise the path →
//! find the route → authenticate (token, or ticket + CSRF) → collect parameters → evaluate →
//! log → forward, or answer with a built-in handler ([`crate::access_api`]).

mod client_addr;
mod forward;
mod lean;
mod path;
mod upstream;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, Version, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::access_api::{self, ApiContext, ApiServices};
use crate::auth::{self, Credential};
use crate::identity::Authid;
use crate::observe::{AccessEvent, RequestLabels};
use crate::policy::{self, Access, Caller, EvalContext, Params};
use crate::snapshot::{Snapshot, SnapshotReader, now};

pub use crate::error::{Body, BodyError, ProxyError, full as full_body};
pub use forward::ForwardContext;
pub use lean::LeanSlot;
#[doc(hidden)]
pub use lean::fuzz_api as lean_fuzz_api;
pub use path::{PathError, normalise};
pub use upstream::{Upstream, UpstreamError};

/// Shared by every connection: the snapshot reader and the upstream client.
#[derive(Clone)]
pub struct Gateway {
    /// Where each request loads its snapshot.
    pub snapshots: SnapshotReader,
    /// The pooled upstream client.
    pub upstream: Upstream,
    /// Ticket keys, login throttle and the built-in handlers' services; `None` = tickets are
    /// refused and handler routes answer 501.
    pub services: Option<Arc<ApiServices>>,
}

/// The CSRF prevention token header.
pub const CSRF_HEADER: &str = "CSRFPreventionToken";

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
    /// The connection's own upstream connection (used by HTTP/1 requests).
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
    authid: Option<Authid>,
    route: Option<&'s str>,
    reason: Option<Cow<'static, str>>,
    decided: Option<Duration>,
}

/// Handle one request end to end; never fails (errors become responses).
pub async fn handle(gw: &Gateway, conn: &ClientConn, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    // The only snapshot load of this request: every later step uses this `Arc`.
    let snapshot = gw.snapshots.load();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let metrics = gw.snapshots.metrics();

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
    let outcome = pipeline(gw, &snapshot, conn, req, &mut trace).await;
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
    AccessEvent {
        authid: trace.authid.as_ref().map_or("-", Authid::as_str),
        method: method.as_str(),
        path: &path,
        route: trace.route.unwrap_or("-"),
        decision,
        reason: trace.reason.as_deref().unwrap_or("-"),
        status,
        latency: start.elapsed(),
    }
    .log();
    resp
}

async fn pipeline<'s>(
    gw: &Gateway,
    snapshot: &'s Snapshot,
    conn: &ClientConn,
    req: Request<Incoming>,
    trace: &mut Trace<'s>,
) -> Result<Response<Body>, ProxyError> {
    let start = Instant::now();
    // HTTP/1 counts lines while parsing; HTTP/2 only bounds the header bytes, so count here.
    if req.headers().len() > snapshot.config.limits.max_header_lines {
        return Err(ProxyError::TooManyHeaders);
    }
    let path = path::normalise_with(req.uri().path(), snapshot.config.request.path_params)
        .map_err(ProxyError::BadPath)?;
    let client = client_addr::client_ip(
        conn.info.peer.ip(),
        req.headers(),
        &snapshot.config.trusted_proxies,
    )
    .map_err(ProxyError::BadForwardedFor)?;
    let found = snapshot.routes.find(req.method().as_str(), &path);
    if let Some(m) = &found {
        trace.route = Some(&m.route.source);
    }
    let credential = Credential::extract(req.headers());

    // `user: world` routes need no identity (PVE ignores tickets there) but still refuse a
    // token on an `allowtoken = false` route. Everything else — including paths without a
    // route, so nobody can probe which paths exist — needs authentication first.
    let world = found
        .as_ref()
        .is_some_and(|m| matches!(m.route.access, Access::World));
    let via_token = if world {
        None
    } else {
        // etcd backend, `on_stale = "fail_closed"`: no decision on a state that may be stale.
        if gw.snapshots.metrics().store.refusing.get() == 1 {
            return Err(ProxyError::StateStale);
        }
        let tickets = gw.services.as_deref().map(|s| &s.tickets);
        let now = now();
        let authed = match auth::authenticate(snapshot, tickets, &credential, client, now) {
            Ok(a) => a,
            Err(auth::AuthError::NoCredentials) => return Err(ProxyError::NoTicket),
            Err(e @ auth::AuthError::SourceNotAllowed) => {
                // The secret was right, so the log may name the token (a leak to look into);
                // the client gets the same answer as for any other failure.
                if let Credential::Token { tokenid, .. } = &credential {
                    trace.authid = tokenid.parse().ok().map(Authid::Token);
                }
                return Err(ProxyError::AuthFailed(e));
            }
            Err(e) => return Err(ProxyError::AuthFailed(e)),
        };
        // Counted only once the token is authenticated: a wrong secret cannot use up a
        // token's budget. Every authenticated request counts, allowed or denied later.
        if let Some(limit) = authed.rate_limit
            && let Err(limited) = gw
                .snapshots
                .rate_limiter()
                .check(authed.authid.as_str(), limit)
        {
            trace.authid = Some(authed.authid);
            return Err(ProxyError::RateLimited(limited.retry_after));
        }
        // Spec §6.6: every ticket request other than GET carries the user's CSRF token.
        if credential.is_ticket()
            && req.method() != Method::GET
            && let (Some(tickets), Authid::User(userid)) = (tickets, &authed.authid)
        {
            let token = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            if !tickets.verify_csrf(token, userid, now) {
                trace.authid = Some(authed.authid);
                return Err(ProxyError::BadCsrf);
            }
        }
        trace.authid = Some(authed.authid);
        Some(authed.via_token)
    };
    let Some(found) = found else {
        return Err(ProxyError::RouteNotFound);
    };
    let route = found.route;

    // Buffer the body only when the check reads a parameter that is not in the path, or a
    // built-in handler answers the route.
    let (parts, body) = req.into_parts();
    let (body, buffered): (Body, Option<Bytes>) = if route.needs_body() || route.handler.is_some() {
        let limit = snapshot.config.limits.max_body_buffered;
        let bytes = read_body(&parts.headers, body, limit).await?;
        (full_body(bytes.clone()), Some(bytes))
    } else {
        let tagged = body.map_err(|e| BodyError::from(upstream::ClientBodyError(e)));
        (tagged.boxed_unsync(), None)
    };
    {
        let mut params = Params::new(found.path_params);
        if let Some(bytes) = &buffered {
            let ctype = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            params
                .add_body(ctype, bytes)
                .map_err(ProxyError::BadParams)?;
        }
        // Added last: the query string wins over the body (spec §5.2).
        if let Some(q) = parts.uri.query() {
            params.add_query(q).map_err(ProxyError::BadParams)?;
        }
        match (via_token, &trace.authid) {
            (None, _) => {
                // `user = "world"`: no identity, but a token still meets `allowtoken = false`.
                if matches!(credential, Credential::Token { .. }) && !route.allowtoken {
                    let uri = route.relative_uri(&params);
                    let reason = policy::Reason::TokenNotAllowed { uri };
                    return Err(ProxyError::Forbidden(reason.to_string()));
                }
                trace.reason = Some(Cow::Borrowed("world"));
            }
            (Some(via_token), Some(authid)) => {
                let ctx = EvalContext {
                    engine: &snapshot.engine,
                    users: &snapshot.user_cfg,
                };
                let who = Caller { authid, via_token };
                let decision = policy::eval(route, &who, &params, &ctx);
                trace.decided = Some(start.elapsed());
                if !decision.allow {
                    let message = decision.reason.to_string();
                    trace.reason = Some(Cow::Owned(message.clone()));
                    return Err(ProxyError::Forbidden(message));
                }
                trace.reason = Some(Cow::Borrowed(allow_reason(&decision.reason)));
            }
            // Authenticated but no identity recorded: cannot happen; fail closed all the same.
            (Some(_), None) => return Err(ProxyError::AuthFailed(auth::AuthError::Malformed)),
        }
        // Routes answered by aclgate itself are never forwarded, unless the handler says the
        // request is not its own (ApiError::Upstream).
        if let Some(handler) = &route.handler {
            trace.decided.get_or_insert_with(|| start.elapsed());
            let Some(services) = gw.services.as_deref() else {
                return Err(ProxyError::NoHandler(handler.clone()));
            };
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()));
            let ctx = ApiContext {
                snapshot,
                caller: trace.authid.as_ref(),
                via_token: via_token.unwrap_or(false),
                params: &params,
                peer: SocketAddr::new(client, conn.info.peer.port()),
                services,
                host,
            };
            // Boxed: the handlers' futures are large, and an unboxed one would make every
            // forwarded request's future (moved into hyper's connection task) as large.
            match Box::pin(access_api::handle(handler, &ctx)).await {
                None => return Err(ProxyError::NoHandler(handler.clone())),
                Some(Ok(value)) => return Ok(crate::error::ok_response(&value)),
                // Not aclgate's (e.g. another node's task): forwarded as any allowed request.
                Some(Err(access_api::ApiError::Upstream)) => {}
                Some(Err(e)) => return Err(ProxyError::Api(e)),
            }
        }
    }
    trace.decided.get_or_insert_with(|| start.elapsed());
    let mut parts = parts;
    set_forwarded_path(&mut parts.uri, &path)?;
    let mut req = Request::from_parts(parts, body);

    // Only a WebSocket, only where the route allows one: any other upgrade (h2c, ...) would
    // turn the connection into a tunnel that no later request of it is checked on. Refused
    // upgrades lose their `Upgrade` header and go on as plain requests.
    let client_upgrade = (route.websocket && forward::is_websocket_upgrade(&req))
        .then(|| hyper::upgrade::on(&mut req));
    // HTTP/2 streams of one connection run concurrently: they share the pool instead.
    let http1 = matches!(
        req.version(),
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    );
    let ctx = ForwardContext {
        authid: trace.authid.as_ref().map(Authid::as_str),
        peer_ip: &conn.peer_ip,
        tls: conn.info.tls,
        identity_header: &snapshot.identity_header,
        strip_credentials: snapshot.config.auth.strip_credentials,
        strip_headers: &snapshot.config.request.strip_headers,
        slot: http1.then_some(&conn.upstream),
    };
    forward::forward(
        &gw.upstream,
        req,
        client_upgrade,
        &ctx,
        gw.snapshots.metrics(),
    )
    .await
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
