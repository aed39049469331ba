//! Connections: `limits.max_connections` holds further clients in the accept backlog until a
//! connection ends, and each HTTP/1.1 client connection keeps its own upstream connection for
//! its requests (a new one when the upstream closed it).

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
/// `x-test-close` makes it close the connection after the response.
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
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let close = req.headers().contains_key("x-test-close");
                        async move {
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
