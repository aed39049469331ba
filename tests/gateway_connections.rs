//! Connections: `limits.max_connections` holds further clients in the accept backlog until a
//! connection ends; each HTTP/1.1 client connection keeps its own upstream connection for its
//! requests (a new one when the upstream closed it), and each HTTP/2 client connection one per
//! stream it runs at once.

mod gateway_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use gateway_support::Gateway;

const PATH: &str = "/api2/json/version";

#[tokio::test]
async fn max_connections_holds_the_next_client_back() {
    let gw = Gateway::start_with(|c| c.limits.max_connections = 1).await;
    let mut first = gw.h1_connection().await;
    assert_eq!(get(&mut first).await.0, 200);

    // The second client's TCP connect succeeds (kernel backlog), its TLS handshake does not
    // while the first connection is open.
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(gw.tls_client_config(&[b"http/1.1"]));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let handshake = connector.connect(name, tcp);
    tokio::pin!(handshake);
    let early = tokio::time::timeout(Duration::from_millis(300), &mut handshake).await;
    assert!(early.is_err(), "second connection accepted over the limit");

    drop(first);
    let stream = tokio::time::timeout(Duration::from_secs(10), handshake)
        .await
        .expect("second connection not accepted after the first closed")
        .unwrap();
    let (mut second, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    assert_eq!(get(&mut second).await.0, 200);
}

#[tokio::test]
async fn a_client_connection_reuses_its_upstream_connection() {
    let upstream = CountingUpstream::start().await;
    let url = format!("http://{}", upstream.addr);
    let gw = Gateway::start_with(|c| c.upstream.url = url).await;

    let mut a = gw.h1_connection().await;
    let mut b = gw.h1_connection().await;
    let a1 = get(&mut a).await;
    let b1 = get(&mut b).await;
    let a2 = get(&mut a).await;
    let b2 = get(&mut b).await;
    assert_eq!((a1.0, a2.0, b1.0, b2.0), (200, 200, 200, 200));
    assert_eq!(a1.1, a2.1, "client a changed upstream connection");
    assert_eq!(b1.1, b2.1, "client b changed upstream connection");
    assert_ne!(a1.1, b1.1, "two clients shared one upstream connection");
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_upstream_connection_closed_by_the_upstream_is_replaced() {
    let upstream = CountingUpstream::start().await;
    let url = format!("http://{}", upstream.addr);
    let gw = Gateway::start_with(|c| c.upstream.url = url).await;

    let mut conn = gw.h1_connection().await;
    let first = get(&mut conn).await;
    // The upstream answers this one with `Connection: close` and closes the connection.
    let closing = get_with(&mut conn, Some("close")).await;
    let after = get(&mut conn).await;
    assert_eq!((first.0, closing.0, after.0), (200, 200, 200));
    assert_eq!(first.1, closing.1);
    assert_ne!(
        closing.1, after.1,
        "request sent on the closed upstream connection"
    );
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_http2_connection_keeps_an_upstream_connection_per_concurrent_stream() {
    let upstream = CountingUpstream::start().await;
    let url = format!("http://{}", upstream.addr);
    let gw = Gateway::start_with(|c| c.upstream.url = url).await;
    let h2 = h2_connection(&gw).await;

    // Three streams at once: the upstream answers none before all three have arrived, so
    // they are in flight together and need three upstream connections.
    let together = futures_util::future::join_all((0..3).map(|_| h2_get(&h2, Some(GATHER)))).await;
    let mut first: Vec<String> = together.iter().map(|(_, n)| n.clone()).collect();
    first.sort();
    assert!(together.iter().all(|(status, _)| *status == 200));
    assert_eq!(first, ["1", "2", "3"], "one upstream connection per stream");

    // One after another: the idle connections are reused, none is opened.
    for _ in 0..6 {
        let (status, n) = h2_get(&h2, None).await;
        assert_eq!(status, 200);
        assert!(
            first.contains(&n),
            "stream went to a new upstream connection {n}"
        );
    }
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 3);

    // Another client connection has connections of its own.
    let other = h2_connection(&gw).await;
    assert_eq!(h2_get(&other, None).await.1, "4");
}

/// The header that makes the counting upstream hold its answer until three such requests
/// have arrived.
const GATHER: &str = "x-test-gather";

async fn h2_connection(gw: &Gateway) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = gw.tls_stream(&[b"h2"]).await;
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_get(
    conn: &hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    header: Option<&str>,
) -> (u16, String) {
    let mut req = http::Request::get(format!("https://gw{PATH}"))
        .header("authorization", Gateway::token_header("joe@pve!full"));
    if let Some(h) = header {
        req = req.header(h, "1");
    }
    let mut conn = conn.clone();
    conn.ready().await.unwrap();
    let resp = conn
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Status and body (the upstream connection's number) of a GET through `conn`.
async fn get(conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>) -> (u16, String) {
    get_with(conn, None).await
}

async fn get_with(
    conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    close: Option<&str>,
) -> (u16, String) {
    let mut req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"));
    if let Some(c) = close {
        req = req.header("x-test-close", c);
    }
    conn.ready().await.unwrap();
    let resp = conn
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// An upstream that numbers its connections and answers each request with that number;
/// `x-test-close` makes it close the connection after the response; requests with
/// [`GATHER`] are answered once three of them have arrived.
struct CountingUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl CountingUpstream {
    async fn start() -> CountingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let gather = Arc::new(tokio::sync::Barrier::new(3));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let gather = gather.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let close = req.headers().contains_key("x-test-close");
                        let wait = req.headers().contains_key(GATHER).then(|| gather.clone());
                        async move {
                            if let Some(barrier) = wait {
                                barrier.wait().await;
                            }
                            let mut resp =
                                http::Response::new(Full::new(Bytes::from(n.to_string())));
                            if close {
                                resp.headers_mut()
                                    .insert("connection", http::HeaderValue::from_static("close"));
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        CountingUpstream { addr, accepted }
    }
}
