//! Upgrades (issue 11): only a WebSocket, only on a route with `websocket = true`. Against an
//! upstream that switches to any protocol it is asked for and then echoes raw bytes, an
//! `Upgrade: h2c` (or a WebSocket on another route) must not open a tunnel: the request goes on
//! without its `Upgrade`, and the next request on the same client connection is still checked.

mod gateway_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use gateway_support::Gateway;

/// The `Upgrade` header of each request the upstream received (`None`: none).
type Upgrades = Arc<Mutex<Vec<Option<String>>>>;

/// An upstream that answers 101 to every upgrade and then echoes raw bytes.
async fn switching_upstream() -> (SocketAddr, Upgrades) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Upgrades = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let upgrade = req
                            .headers()
                            .get("upgrade")
                            .map(|v| v.to_str().unwrap().to_owned());
                        record.lock().unwrap().push(upgrade.clone());
                        let Some(protocol) = upgrade else {
                            let body = Full::new(Bytes::from_static(b"plain"));
                            return Ok::<_, Infallible>(http::Response::new(body));
                        };
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let io = TokioIo::new(on.await.unwrap());
                            let (mut r, mut w) = tokio::io::split(io);
                            let _ = tokio::io::copy(&mut r, &mut w).await;
                        });
                        Ok(http::Response::builder()
                            .status(101)
                            .header("connection", "upgrade")
                            .header("upgrade", protocol)
                            .body(Full::new(Bytes::new()))
                            .unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Read one response head (up to the blank line); returns its status code.
async fn read_status(stream: &mut (impl AsyncRead + Unpin)) -> u16 {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Skip a `Content-Length`-framed body the test knows the length of.
async fn skip(stream: &mut (impl AsyncRead + Unpin), n: usize) {
    let mut body = vec![0u8; n];
    stream.read_exact(&mut body).await.unwrap();
}

#[tokio::test]
async fn h2c_and_misplaced_websocket_upgrades_are_not_passed_on() {
    let (addr, upgrades) = switching_upstream().await;
    let gw = Gateway::start_with(|c| c.upstream.url = format!("http://{addr}")).await;
    let auth = Gateway::token_header("joe@pve!full");
    let asks = [
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n",
    ];
    for (path, ask) in [
        ("/api2/json/version", asks[0]),
        ("/api2/json/ws", asks[0]),
        ("/api2/json/version", asks[1]),
        ("/api2/json/ws", asks[2]),
    ] {
        let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
        let req = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n{ask}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        assert_eq!(read_status(&mut stream).await, 200, "{path} {ask:?}");
        assert_eq!(
            upgrades.lock().unwrap().last().cloned(),
            Some(None),
            "the upstream was asked to upgrade: {path} {ask:?}"
        );
        skip(&mut stream, b"plain".len()).await;
        // The connection is still HTTP, still checked: no credentials, no entry.
        let before = upgrades.lock().unwrap().len();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(read_status(&mut stream).await, 401, "{path} {ask:?}");
        assert_eq!(upgrades.lock().unwrap().len(), before, "{path} {ask:?}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn websocket_on_a_websocket_route_is_passed_on() {
    let (addr, upgrades) = switching_upstream().await;
    let gw = Gateway::start_with(|c| c.upstream.url = format!("http://{addr}")).await;
    let auth = Gateway::token_header("joe@pve!full");
    let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
    let req = format!(
        "GET /api2/json/ws HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(read_status(&mut stream).await, 101);
    assert_eq!(
        upgrades.lock().unwrap().last().cloned(),
        Some(Some("websocket".to_owned()))
    );
    stream.write_all(b"raw bytes").await.unwrap();
    let mut echo = [0u8; 9];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"raw bytes");
    gw.shutdown().await;
}
