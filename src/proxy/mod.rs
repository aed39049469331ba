//! The request pipeline, one straight async fn: load the snapshot once → normalise the path →
//! find the route → authenticate → collect parameters → evaluate → log → forward.

mod forward;
mod path;
mod response;
mod upstream;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::auth::{self, Authenticated, Credential};
use crate::interim::policy::{self, Access, Caller, EvalContext, Params};
use crate::observe::{AccessEvent, RequestLabels};
use crate::snapshot::{Snapshot, SnapshotReader, now};

pub use forward::ForwardContext;
pub use path::{PathError, normalise};
pub use response::ProxyError;
pub use response::full as full_body;
pub use upstream::{Upstream, UpstreamError};

/// Response (and forwarded request) body type.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>;

/// Shared by every connection: the snapshot reader and the upstream client.
#[derive(Clone)]
pub struct Gateway {
    /// Where each request loads its snapshot.
    pub snapshots: SnapshotReader,
    /// The pooled upstream client.
    pub upstream: Upstream,
}

/// Facts about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// What the pipeline learned, for the access log.
#[derive(Default)]
struct Trace {
    authid: Option<String>,
    route: Option<String>,
    reason: Option<String>,
    decided: Option<Duration>,
}

/// Handle one request end to end; never fails (errors become responses).
pub async fn handle(gw: &Gateway, conn: ConnInfo, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    // The only snapshot load of this request: every later step uses this `Arc`.
    let snapshot = gw.snapshots.load();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let metrics = gw.snapshots.metrics();

    if path == "/healthz" && method == Method::GET {
        let resp = response::ok_json("\"ok\"");
        metrics
            .requests
            .get_or_create(&RequestLabels {
                decision: "health",
                status: 200,
            })
            .inc();
        return resp;
    }

    let mut trace = Trace::default();
    let outcome = pipeline(gw, &snapshot, conn, req, &mut trace).await;
    let (resp, decision) = match outcome {
        Ok(resp) => (resp, "allow"),
        Err(e) => {
            if matches!(e, ProxyError::NoTicket | ProxyError::AuthFailed(_)) {
                // Proxmox delays every authentication failure by a fixed time, which also
                // hides how far verification got.
                let delay = snapshot.config.auth.failure_delay_ms;
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
            let decision = e.decision();
            if trace.reason.is_none() {
                trace.reason = Some(e.to_string());
            }
            (e.into_response(), decision)
        }
    };
    let status = resp.status().as_u16();
    if let Some(d) = trace.decided {
        metrics.decision_seconds.observe(d.as_secs_f64());
    }
    metrics
        .requests
        .get_or_create(&RequestLabels { decision, status })
        .inc();
    AccessEvent {
        authid: trace.authid.as_deref().unwrap_or("-"),
        method: method.as_str(),
        path: &path,
        route: trace.route.as_deref().unwrap_or("-"),
        decision,
        reason: trace.reason.as_deref().unwrap_or("-"),
        status,
        latency: start.elapsed(),
    }
    .log();
    resp
}

async fn pipeline(
    gw: &Gateway,
    snapshot: &Snapshot,
    conn: ConnInfo,
    req: Request<Incoming>,
    trace: &mut Trace,
) -> Result<Response<Body>, ProxyError> {
    let start = Instant::now();
    // HTTP/1 counts lines while parsing; HTTP/2 only bounds the header bytes, so count here.
    if req.headers().len() > snapshot.config.limits.max_header_lines {
        return Err(ProxyError::TooManyHeaders);
    }
    let path = path::normalise(req.uri().path()).map_err(ProxyError::BadPath)?;
    let found = snapshot.routes.find(req.method().as_str(), &path);
    if let Some(m) = &found {
        trace.route = Some(m.route.source.clone());
    }
    let credential = Credential::extract(req.headers());

    // `user: world` routes need no identity (PVE ignores tickets there) but still refuse a
    // token on an `allowtoken = false` route. Everything else — including paths without a
    // route, so nobody can probe which paths exist — needs authentication first.
    let world = found
        .as_ref()
        .is_some_and(|m| matches!(m.route.access, Access::World));
    let caller: Option<Authenticated> = if world {
        None
    } else {
        let authed = match auth::authenticate(snapshot, &credential, now()) {
            Ok(a) => a,
            Err(auth::AuthError::NoCredentials) => return Err(ProxyError::NoTicket),
            Err(e) => return Err(ProxyError::AuthFailed(e)),
        };
        trace.authid = Some(authed.authid.to_string());
        Some(authed)
    };
    let Some(found) = found else {
        return Err(ProxyError::RouteNotFound);
    };
    let route = found.route;

    let mut params = Params::new(found.path_params);
    if let Some(q) = req.uri().query() {
        params.add_query(q).map_err(ProxyError::BadParams)?;
    }
    let (parts, body) = req.into_parts();
    let body: Body = if route.needs_body() && matches!(parts.method, Method::POST | Method::PUT) {
        let limit = snapshot.config.limits.max_body_buffered;
        let bytes = read_body(&parts.headers, body, limit).await?;
        let ctype = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        params
            .add_body(ctype, &bytes)
            .map_err(ProxyError::BadParams)?;
        response::full(bytes)
    } else {
        body.boxed_unsync()
    };
    let mut req = Request::from_parts(parts, body);

    match &caller {
        None => {
            if matches!(credential, Credential::Token { .. }) && !route.allowtoken {
                let d = format!(
                    "Permission check failed (URI '{path}' not available with API token, need proper ticket."
                );
                return Err(ProxyError::Forbidden(d));
            }
            trace.reason = Some("world".to_owned());
        }
        Some(c) => {
            let ctx = EvalContext {
                engine: &snapshot.engine,
                users: &snapshot.user_cfg,
            };
            let who = Caller {
                authid: &c.authid,
                via_token: c.via_token,
            };
            let decision = policy::eval(route, &who, &params, &ctx);
            trace.reason = Some(decision.reason.to_string());
            if !decision.allow {
                trace.decided = Some(start.elapsed());
                return Err(ProxyError::Forbidden(decision.reason.to_string()));
            }
        }
    }
    trace.decided = Some(start.elapsed());

    let client_upgrade = forward::is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let identity_header = identity_header(snapshot);
    let ctx = ForwardContext {
        authid: trace.authid.as_deref(),
        peer: conn.peer,
        tls: conn.tls,
        identity_header: &identity_header,
        strip_credentials: snapshot.config.auth.strip_credentials,
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

fn identity_header(snapshot: &Snapshot) -> HeaderName {
    // Validated at config load; the fallback only guards against a hand-built config.
    HeaderName::from_bytes(snapshot.config.auth.identity_header.as_bytes())
        .unwrap_or(HeaderName::from_static("x-aclgate-authid"))
}
