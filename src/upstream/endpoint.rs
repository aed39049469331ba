//! One upstream endpoint's client: for requests without a body the client connection's own
//! upstream connections, spoken to by our own lean HTTP/1.1 client (`super::lean`); hyper's
//! shared pool for requests with a body; a hyper connection of its own for each upgrade. Which
//! of the three is decided once, by the caller ([`Via`]); each keeps the request's deadline.
//! Plain HTTP, or HTTPS trusting a CA file or a pinned SHA-256 certificate fingerprint.
//!
//! On the load benchmark the pool cost about 11k instructions per request, hyper's client on a
//! dedicated connection about 12k (mostly handing requests and responses between its
//! connection task and ours), the lean client about 6k.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tower_service::Service;

use super::UpstreamFailure;
use super::headers::Added;
use super::lean::{LeanConn, LeanError};
use super::{ClientBodyError, SetupError, Via};
use crate::body::{Body, BodyError};
use crate::config::gateway::UpstreamSettings;

/// Classify an error of hyper's clients: did the client's body cause it?
fn from_hyper(e: hyper_util::client::legacy::Error) -> UpstreamFailure {
    if e.is_connect() {
        // Nothing of the request was sent.
        return UpstreamFailure::Connect(Box::new(e));
    }
    from_hyper_error(Box::new(e))
}

fn from_hyper_error(e: BodyError) -> UpstreamFailure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    let mut by_client = false;
    while let Some(c) = cause {
        if c.is::<ClientBodyError>() {
            by_client = true;
            break;
        }
        cause = c.source();
    }
    if by_client {
        UpstreamFailure::ClientBody(e)
    } else {
        UpstreamFailure::Exchange(e)
    }
}

/// Endpoint ids: a client connection's lean upstream connection is reused only for the
/// endpoint it was opened to.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One endpoint (`scheme://host:port`) of an upstream.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(super) id: u64,
    pool: Client<HttpsConnector<HttpConnector>, Body>,
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`: what the connector is asked to connect to.
    base: Uri,
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header sent upstream.
    host: HeaderValue,
    pub(super) timeout: Duration,
}

impl Endpoint {
    /// Build the client for `cfg.url`.
    pub fn new(cfg: &UpstreamSettings) -> Result<Endpoint, SetupError> {
        let bad_url = || SetupError::Url(cfg.url.clone());
        let uri: Uri = cfg.url.parse().map_err(|_| bad_url())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(bad_url());
        };
        // User info would be sent as `Host` and shown in logs and metrics: credentials belong
        // in `authorization_file`.
        if authority.as_str().contains('@') {
            return Err(SetupError::UserInfo);
        }
        let base = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| bad_url())?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad_url())?;
        let tls = super::tls::client_tls(cfg, scheme == Scheme::HTTPS)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let pool = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(cfg.pool_max_idle)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector.clone());
        Ok(Endpoint {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pool,
            connector,
            base,
            scheme,
            authority,
            host,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    /// `scheme://host:port` as configured (what logs and metric labels show).
    pub(super) fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Send `req` (origin-form URI, headers prepared, no `Host`) the way `via` says, and have
    /// the response head by `deadline`. On the lean client a reused connection the upstream
    /// had closed is replaced, and a request with a safe method sent again on the new one.
    /// Requests with a body go through hyper's pool: hyper reads while it writes, so an
    /// upstream that answers early (413, 401) without reading the body is passed on. An
    /// upgrade gets a hyper connection of its own, which the upgrade then takes over.
    pub(super) async fn send(
        &self,
        via: Via<'_>,
        mut req: Request<Body>,
        mut added: Added,
        deadline: Instant,
    ) -> Result<Response<Body>, UpstreamFailure> {
        added.push(header::HOST, self.host.clone());
        let slot = match via {
            Via::Lean(slot) => slot,
            Via::Pool => {
                added.insert_into(req.headers_mut());
                self.make_absolute(&mut req);
                let sent = timeout_at(deadline, self.pool.request(req)).await;
                let resp = sent
                    .map_err(|_| UpstreamFailure::Timeout)?
                    .map_err(from_hyper)?;
                return Ok(resp.map(|b| b.map_err(BodyError::from).boxed_unsync()));
            }
            Via::Upgrade => {
                added.insert_into(req.headers_mut());
                // Boxed: its hyper handshake would make every request's future 2.9 KB larger.
                let sent = timeout_at(deadline, Box::pin(self.send_upgrade(req))).await;
                return sent.unwrap_or(Err(UpstreamFailure::Timeout));
            }
        };
        let (parts, _) = req.into_parts();
        let lean_failure = |e: LeanError| match e {
            LeanError::Deadline => UpstreamFailure::Timeout,
            e => UpstreamFailure::Exchange(Box::new(e)),
        };
        if let Some(conn) = slot.take_open(self.id) {
            match conn.exchange(&parts, &added, slot, deadline).await {
                Ok(resp) => return Ok(resp),
                Err(e) if e.stale() && parts.method.is_safe() => {}
                Err(e) => return Err(lean_failure(e)),
            }
        }
        let io = timeout_at(deadline, self.connect_io())
            .await
            .map_err(|_| UpstreamFailure::Timeout)??;
        let conn = LeanConn::new(Box::new(TokioIo::new(io)), self.id, deadline);
        conn.exchange(&parts, &added, slot, deadline)
            .await
            .map_err(lean_failure)
    }

    /// An upgrade request on a hyper connection of its own, driven by its own task: after a
    /// `101` the connection hands the socket to the upgrade.
    async fn send_upgrade(&self, req: Request<Body>) -> Result<Response<Body>, UpstreamFailure> {
        let io = self.connect_io().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| from_hyper_error(Box::new(e)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| from_hyper_error(Box::new(e)))?;
        Ok(resp.map(|b| b.map_err(BodyError::from).boxed_unsync()))
    }

    async fn connect_io(&self) -> Result<MaybeHttpsStream<TokioIo<TcpStream>>, UpstreamFailure> {
        self.connector
            .clone()
            .call(self.base.clone())
            .await
            .map_err(UpstreamFailure::Connect)
    }

    /// The pool routes by the absolute URI (scheme and authority are valid: they came from
    /// one).
    fn make_absolute(&self, req: &mut Request<Body>) {
        let path_and_query = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}
