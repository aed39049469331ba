//! The server: accept loops on already-bound listeners (TLS, optional plain HTTP, optional
//! admin), connection limit, TLS handshake, HTTP/1.1 + HTTP/2 via hyper-util's auto builder with
//! header limits and timeouts, and graceful shutdown that drains in-flight requests.

mod accept;
mod dead_peers;
mod guard;
mod per_source;
pub mod proxy_protocol;
pub mod shards;
pub mod tls;

pub use shards::{ShardListeners, bind_reuseport};

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
use crate::proxy::{self, Body, Gateway};
use crate::snapshot::SnapshotReader;
use crate::upstream::{HealthChecks, SetupError};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("upstream: {0}")]
    Upstream(#[from] SetupError),
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
    run_per_core(listeners, Vec::new(), snapshots, services, || {}, shutdown).await
}

/// [`run_with_services`], and each of `more` served by a thread of its own running a
/// single-threaded runtime (see [`shards`]); all share one gateway, connection limit and
/// per-source cap. `started` is called once every worker runs; `shutdown` stops them all.
pub async fn run_per_core(
    listeners: Listeners,
    more: Vec<ShardListeners>,
    snapshots: SnapshotReader,
    services: Option<Arc<ApiServices>>,
    started: impl FnOnce(),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    if listeners.tls.is_none() && listeners.http.is_none() {
        return Err(ServerError::NoListener);
    }
    let config = snapshots.load().config.clone();
    let health = tokio::spawn(check_upstreams(snapshots.clone()));
    let gw = Arc::new(Gateway {
        snapshots,
        services,
    });
    let shared = Arc::new(accept::Shared {
        builder: http_builder(&config),
        limit: Arc::new(Semaphore::new(config.limits.max_connections.max(1))),
        sources: per_source::PerSource::new(config.limits.max_connections_per_source),
        acceptor: TlsAcceptor::from(tls::server_config(gw.snapshots.clone())),
        gw,
        config,
    });
    let mut others = shards::spawn(&shared, more);
    others.accepting().await;
    // This worker accepts from here on: its listeners are polled with the first poll below.
    started();
    let stop = async {
        shutdown.await;
        others.signal_stop();
    };
    serve_shard(&shared, listeners, stop).await;
    others.wait().await;
    health.abort();
    Ok(())
}

/// Run the health checks of the current snapshot's upstreams, following reloads.
async fn check_upstreams(snapshots: SnapshotReader) {
    let mut checks = HealthChecks::default();
    loop {
        let generation = {
            let snapshot = snapshots.load();
            checks.follow(&snapshot.upstreams);
            snapshot.generation
        };
        snapshots.wait_for_generation(generation + 1).await;
        if snapshots.generation() <= generation {
            // No more reloads: keep checking these upstreams until the server stops.
            return std::future::pending().await;
        }
    }
}

/// Serve `listeners` on the current runtime until `stop` completes, then drain.
async fn serve_shard(
    shared: &Arc<accept::Shared>,
    listeners: Listeners,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let proxied = shared.config.listeners.proxy_protocol;
    let loops = async {
        let tls = accept::Kind {
            tls: true,
            proxy_protocol: proxied.listen,
        };
        let http = accept::Kind {
            tls: false,
            proxy_protocol: proxied.http_listen,
        };
        tokio::join!(
            maybe(listeners.tls, |l| shared.serve(l, tls, &graceful)),
            maybe(listeners.http, |l| shared.serve(l, http, &graceful)),
            maybe(listeners.admin, |l| serve_admin(
                l,
                shared.gw.clone(),
                &graceful
            )),
        )
    };
    tokio::select! {
        _ = loops => {}
        () = stop => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
    let grace = Duration::from_millis(shared.config.limits.shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// hyper's HTTP/1 header-line cap when none is configured.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Builder for HTTP/1.1 and HTTP/2 with the configured limits.
fn http_builder(config: &GatewayConfig) -> auto::Builder<TokioExecutor> {
    let limits = &config.limits;
    let mut b = auto::Builder::new(TokioExecutor::new());
    // The header-read timeout is the connection guard's (`Activity::speaks_http1`): hyper
    // would arm and drop a timer per request for it.
    b.http1()
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // Up to hyper's own cap of 100 lines the pipeline's count enforces the limit: telling hyper
    // a limit makes it build its parse arrays element by element on every request (~1.4k
    // instructions) instead of using its inline ones.
    if limits.max_header_lines > HYPER_DEFAULT_MAX_HEADERS {
        b.http1().max_headers(limits.max_header_lines);
    }
    // No HTTP/2 keep-alive PINGs: dead peers are found by TCP keep-alive
    // (`dead_peers::probe_dead_peers`); hyper's PING bookkeeping (a lock and a clock read on every
    // poll of the connection) was about 1.2% of the instructions of an HTTP/2 request.
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    b
}

async fn maybe<F: Future<Output = ()>>(l: Option<TcpListener>, f: impl FnOnce(TcpListener) -> F) {
    match l {
        Some(l) => f(l).await,
        None => std::future::pending().await,
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
            gw.snapshots.runtime().metrics.encode(),
        ),
        "/healthz" => {
            // On etcd: the revision served, its lag and connectivity; 503 while refusing.
            let metrics = &gw.snapshots.runtime().metrics;
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
