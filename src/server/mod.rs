//! The server: accept loops on already-bound listeners (TLS, optional plain HTTP, optional
//! admin), connection limit, TLS handshake, HTTP/1.1 + HTTP/2 via hyper-util's auto builder with
//! header limits and timeouts, and graceful shutdown that drains in-flight requests.

mod guard;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::access_api::ApiServices;
use crate::config::gateway::GatewayConfig;
use crate::proxy::{self, Body, ClientConn, ConnInfo, Gateway, Upstream, UpstreamError};
use crate::snapshot::SnapshotReader;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("upstream: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("no listener given")]
    NoListener,
}

/// Already-bound listeners (tests bind `127.0.0.1:0`).
#[derive(Debug, Default)]
pub struct Listeners {
    /// HTTPS (TLS, HTTP/1.1 and HTTP/2).
    pub tls: Option<TcpListener>,
    /// Plain HTTP (behind a TLS-terminating load balancer).
    pub http: Option<TcpListener>,
    /// Admin: `/metrics` and `/healthz`, plain HTTP.
    pub admin: Option<TcpListener>,
}

/// Serve until `shutdown` completes, then stop accepting and let in-flight requests finish
/// (at most `limits.shutdown_grace_ms`).
pub async fn run(
    listeners: Listeners,
    snapshots: SnapshotReader,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    run_with_services(listeners, snapshots, None, shutdown).await
}

/// [`run`] with the services of the built-in handlers and ticket authentication.
pub async fn run_with_services(
    listeners: Listeners,
    snapshots: SnapshotReader,
    services: Option<Arc<ApiServices>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    if listeners.tls.is_none() && listeners.http.is_none() {
        return Err(ServerError::NoListener);
    }
    let config = snapshots.load().config.clone();
    let gw = Arc::new(Gateway {
        upstream: Upstream::new(&config.upstream)?,
        snapshots,
        services,
    });
    let builder = Arc::new(http_builder(&config));
    let limit = Arc::new(Semaphore::new(config.limits.max_connections.max(1)));
    let sources = guard::PerSource::new(config.limits.max_connections_per_source);
    let graceful = GracefulShutdown::new();
    let acceptor = TlsAcceptor::from(tls::server_config(gw.snapshots.clone()));

    let main = Accept {
        gw: &gw,
        builder: &builder,
        limit: &limit,
        sources: &sources,
        graceful: &graceful,
        config: &config,
    };
    let loops = async {
        tokio::join!(
            maybe(listeners.tls, |l| main.serve(l, Some(acceptor.clone()))),
            maybe(listeners.http, |l| main.serve(l, None)),
            maybe(listeners.admin, |l| serve_admin(l, gw.clone(), &graceful)),
        )
    };
    tokio::select! {
        _ = loops => {}
        () = shutdown => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
    let grace = Duration::from_millis(config.limits.shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    Ok(())
}

/// hyper's HTTP/1 header-line cap when none is configured.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Builder for HTTP/1.1 and HTTP/2 with the configured limits.
fn http_builder(config: &GatewayConfig) -> auto::Builder<TokioExecutor> {
    let limits = &config.limits;
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout())
        .max_buf_size(limits.max_header_bytes.max(8192));
    // Up to hyper's own cap of 100 lines the pipeline's count enforces the limit: telling hyper
    // a limit makes it build its parse arrays element by element on every request (~1.4k
    // instructions) instead of using its inline ones.
    if limits.max_header_lines > HYPER_DEFAULT_MAX_HEADERS {
        b.http1().max_headers(limits.max_header_lines);
    }
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Duration::from_millis(limits.idle_timeout_ms))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

async fn maybe<F: Future<Output = ()>>(l: Option<TcpListener>, f: impl FnOnce(TcpListener) -> F) {
    match l {
        Some(l) => f(l).await,
        None => std::future::pending().await,
    }
}

/// What every accept loop of the main listeners shares.
struct Accept<'a> {
    gw: &'a Arc<Gateway>,
    builder: &'a Arc<auto::Builder<TokioExecutor>>,
    limit: &'a Arc<Semaphore>,
    sources: &'a Arc<guard::PerSource>,
    graceful: &'a GracefulShutdown,
    config: &'a GatewayConfig,
}

impl Accept<'_> {
    async fn serve(&self, listener: TcpListener, tls: Option<TlsAcceptor>) {
        loop {
            // At the limit, stop accepting: new clients wait in the kernel's backlog.
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let limits = &self.config.limits;
            let trusted = self
                .config
                .trusted_proxies
                .iter()
                .any(|c| c.contains(peer.ip()));
            let source = match self.sources.admit(peer.ip()) {
                Some(slot) => Some(slot),
                None if trusted => None,
                None => {
                    tracing::debug!(%peer, "connection refused: too many from this source");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let activity = guard::Activity::new(
                Duration::from_millis(limits.first_request_timeout_ms),
                Duration::from_millis(limits.keepalive_timeout_ms),
            );
            let tcp = guard::IdleIo::new(tcp, activity.clone());
            let watcher = self.graceful.watcher();
            let gw = self.gw.clone();
            let builder = self.builder.clone();
            let tls = tls.clone();
            let handshake_timeout = Duration::from_millis(limits.tls_handshake_timeout_ms);
            tokio::spawn(async move {
                let conn = ConnInfo {
                    peer,
                    tls: tls.is_some(),
                };
                match tls {
                    Some(acceptor) => {
                        let hs = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                        match hs.await {
                            Ok(Ok(stream)) => {
                                serve_conn(stream, conn, activity, gw, &builder, watcher).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "tls handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                        }
                    }
                    None => serve_conn(tcp, conn, activity, gw, &builder, watcher).await,
                }
                drop((permit, source));
            });
        }
    }
}

async fn serve_conn<IO>(
    io: IO,
    conn: ConnInfo,
    activity: Arc<guard::Activity>,
    gw: Arc<Gateway>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let conn = Arc::new(ClientConn::new(conn));
    let service = service_fn(move |req: Request<Incoming>| {
        let (gw, conn, activity) = (gw.clone(), conn.clone(), activity.clone());
        async move {
            let in_flight = activity.begin();
            let resp = proxy::handle(&gw, &conn, req).await;
            Ok::<_, Infallible>(activity.track(resp, in_flight))
        }
    });
    let served = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(served.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

async fn serve_admin(listener: TcpListener, gw: Arc<Gateway>, graceful: &GracefulShutdown) {
    loop {
        let (tcp, _peer): (TcpStream, SocketAddr) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => continue,
        };
        let gw = gw.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(admin(&gw, &req)) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(tcp), service);
        let watched = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = watched.await;
        });
    }
}

fn admin(gw: &Gateway, req: &Request<Incoming>) -> Response<Body> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            gw.snapshots.metrics().encode(),
        ),
        "/healthz" => {
            // On etcd: the revision served, its lag and connectivity; 503 while refusing.
            let metrics = gw.snapshots.metrics();
            let store = crate::store::health::healthz_line(metrics).unwrap_or_default();
            let status = if metrics.store.refusing.get() == 1 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            (status, "text/plain", format!("ok\n{store}"))
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut resp = Response::new(proxy::full_body(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    resp
}
