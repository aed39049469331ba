//! One listener's accept loop and what happens to each connection before HTTP: the connection
//! limit, the per-source cap, the PROXY header on a listener that expects one, the TLS
//! handshake (all within the handshake deadline), then HTTP/1.1 or HTTP/2 until the connection
//! ends or the server drains.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::dead_peers::probe_dead_peers;
use super::guard::{Activity, IdleIo};
use super::per_source::{PerSource, Refused};
use super::proxy_protocol;
use crate::config::gateway::GatewayConfig;
use crate::proxy::{self, ClientConn, ConnInfo, Gateway};

/// What every listener of every runtime shares.
pub(super) struct Shared {
    pub gw: Arc<Gateway>,
    pub builder: auto::Builder<TokioExecutor>,
    pub limit: Arc<Semaphore>,
    pub sources: Arc<PerSource>,
    pub acceptor: TlsAcceptor,
    pub config: Arc<GatewayConfig>,
}

/// How a listener's connections start.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kind {
    /// TLS (else plain HTTP).
    pub tls: bool,
    /// A PROXY protocol header comes first, from a trusted proxy.
    pub proxy_protocol: bool,
}

impl Shared {
    fn trusted(&self, ip: std::net::IpAddr) -> bool {
        self.config.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// Accept on `listener` until the future is dropped; connections are watched by
    /// `graceful`.
    pub async fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        kind: Kind,
        graceful: &GracefulShutdown,
    ) {
        let idle = Duration::from_millis(self.config.limits.idle_timeout_ms);
        if let Err(e) = probe_dead_peers(&listener, idle) {
            tracing::warn!(error = %e, "TCP keep-alive not set: dead peers are found only by the deadlines");
        }
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
            let trusted = self.trusted(peer.ip());
            // Behind the PROXY protocol the cap applies to the header's source, once read.
            let source = if kind.proxy_protocol {
                if !trusted {
                    tracing::debug!(%peer, "connection refused: PROXY protocol listener, peer not in trusted_proxies");
                    continue;
                }
                None
            } else {
                match self.sources.admit_or_exempt(peer.ip(), trusted) {
                    Ok(slot) => slot,
                    Err(Refused) => {
                        tracing::debug!(%peer, "connection refused: too many from this source");
                        continue;
                    }
                }
            };
            let _ = tcp.set_nodelay(true);
            let limits = &self.config.limits;
            let activity = Activity::new(
                Duration::from_millis(limits.first_request_timeout_ms),
                Duration::from_millis(limits.keepalive_timeout_ms),
                self.config.header_read_timeout(),
            );
            let watcher = graceful.watcher();
            let shared = self.clone();
            tokio::spawn(async move {
                let conn = ConnInfo {
                    peer,
                    tls: kind.tls,
                };
                if kind.proxy_protocol {
                    shared.proxied(tcp, conn, activity, watcher).await;
                } else {
                    shared.establish(tcp, conn, activity, watcher).await;
                }
                drop((permit, source));
            });
        }
    }

    /// A connection from a trusted proxy: read its PROXY header (within the handshake
    /// deadline), count it against the header's source, and go on as that client.
    async fn proxied(
        &self,
        tcp: TcpStream,
        mut conn: ConnInfo,
        activity: Arc<Activity>,
        watcher: Watcher,
    ) {
        let peer = conn.peer;
        let deadline = Duration::from_millis(self.config.limits.tls_handshake_timeout_ms);
        let (source, io) =
            match tokio::time::timeout(deadline, proxy_protocol::read_header(tcp)).await {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "connection refused: PROXY header");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "connection refused: no PROXY header in time");
                    return;
                }
            };
        // No source in the header (a LOCAL health check): the proxy's own connection.
        if let Some(source) = source {
            conn.peer = SocketAddr::new(crate::config::cidr::canonical(source.ip()), source.port());
        }
        let exempt = self.trusted(conn.peer.ip());
        let Ok(_slot) = self.sources.admit_or_exempt(conn.peer.ip(), exempt) else {
            tracing::debug!(client = %conn.peer, %peer, "connection refused: too many from this source");
            return;
        };
        self.establish(io, conn, activity, watcher).await;
    }

    /// TLS handshake (if the listener is TLS), then HTTP.
    async fn establish<T>(&self, io: T, conn: ConnInfo, activity: Arc<Activity>, watcher: Watcher)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = IdleIo::new(io, activity.clone());
        let gw = self.gw.clone();
        if !conn.tls {
            // Plain HTTP: no ALPN; its clients speak HTTP/1.1 nearly always.
            return serve_conn(io, conn, activity, gw, &self.builder, watcher, false).await;
        }
        let peer = conn.peer;
        let deadline = Duration::from_millis(self.config.limits.tls_handshake_timeout_ms);
        match tokio::time::timeout(deadline, self.acceptor.accept(io)).await {
            Ok(Ok(stream)) => {
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                serve_conn(stream, conn, activity, gw, &self.builder, watcher, h2).await
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
            Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
        }
    }
}

/// HTTP/1.1 or HTTP/2 on `io` until the connection ends or the server drains.
///
/// The pipeline's future is several KB. HTTP/2 (`h2`) moves each stream's future into a task
/// of its own (copied a few times on the way: memcpy was 46% of the instructions per HTTP/2
/// request), so there it is boxed; HTTP/1 keeps it in the connection's one reused slot, where a
/// box would cost an allocation per request (1.4–3.5% of the CPU per request, measured side by side).
async fn serve_conn<IO>(
    io: IO,
    conn: ConnInfo,
    activity: Arc<Activity>,
    gw: Arc<Gateway>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    h2: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let conn = Arc::new(ClientConn::new(conn));
    let io = TokioIo::new(io);
    let served = if h2 {
        let service = service_fn(move |req: Request<Incoming>| {
            let (gw, conn, activity) = (gw.clone(), conn.clone(), activity.clone());
            async move {
                let in_flight = activity.begin();
                let resp = Box::pin(proxy::handle(&gw, &conn, req)).await;
                Ok::<_, Infallible>(activity.track(resp, in_flight))
            }
        });
        let served = builder.serve_connection_with_upgrades(io, service);
        watcher.watch(served.into_owned()).await
    } else {
        let service = service_fn(move |req: Request<Incoming>| {
            let (gw, conn, activity) = (gw.clone(), conn.clone(), activity.clone());
            // What the requests speak, not what ALPN named: hyper serves an HTTP/2 preface on
            // this path too (plain HTTP, no ALPN, or a client that named `http/1.1`). Told
            // before the request begins: the header-read deadline applies once it has ended.
            if req.version() < http::Version::HTTP_2 {
                activity.speaks_http1();
            }
            async move {
                let in_flight = activity.begin();
                let resp = proxy::handle(&gw, &conn, req).await;
                Ok::<_, Infallible>(activity.track(resp, in_flight))
            }
        });
        let served = builder.serve_connection_with_upgrades(io, service);
        watcher.watch(served.into_owned()).await
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
