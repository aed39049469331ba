//! Idle and greedy clients cannot lock others out (issue 11): a connection that finishes its
//! TLS handshake and sends nothing is closed after `first_request_timeout_ms`; one idle
//! between requests (HTTP/1.1 or HTTP/2) after `keepalive_timeout_ms`; and one source holds at
//! most `max_connections_per_source` connections.

mod gateway_support;

use std::time::Duration;

use tokio::io::AsyncReadExt;

use gateway_support::Gateway;

const PATH: &str = "/api2/json/version";

/// Wait (bounded) until the server closes `stream`.
async fn closed_by_server(stream: &mut (impl AsyncReadExt + Unpin)) -> bool {
    until_closed(stream).await.is_some()
}

/// What the server sent until it closed `stream` (waiting at most 10 s); `None` if it did not.
async fn until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .ok()
        .map(|_| out)
}

/// A new HTTP/1.1 connection on which `path` has been requested with a valid token.
async fn h1_get(
    gw: &Gateway,
    path: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut h1 = gw.tls_stream(&[b"http/1.1"]).await;
    let auth = Gateway::token_header("joe@pve!full");
    let req = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut h1, req.as_bytes())
        .await
        .unwrap();
    h1
}

#[tokio::test]
async fn idle_connections_do_not_exhaust_max_connections() {
    let gw = Gateway::start_with(|c| {
        c.limits.max_connections = 3;
        c.limits.first_request_timeout_ms = 300;
    })
    .await;
    // Three connections that finish the handshake and send nothing fill the limit...
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(gw.tls_stream(&[b"http/1.1"]).await);
    }
    // ...yet a real client gets through once their first-request deadline has passed.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        gw.client()
            .get(gw.url(PATH))
            .header("authorization", Gateway::token_header("joe@pve!full"))
            .send(),
    )
    .await
    .expect("locked out by idle connections")
    .unwrap();
    assert_eq!(resp.status(), 200);
    for stream in &mut idle {
        assert!(closed_by_server(stream).await, "idle connection left open");
    }
}

#[tokio::test]
async fn keep_alive_connections_are_closed_when_idle() {
    let gw = Gateway::start_with(|c| c.limits.keepalive_timeout_ms = 300).await;
    // HTTP/1.1: one request, then silence.
    let mut h1 = h1_get(&gw, PATH).await;
    let out = until_closed(&mut h1).await;
    let out = out.expect("idle HTTP/1.1 connection left open");
    assert!(out.starts_with(b"HTTP/1.1 200"), "{out:?}");
    let auth = Gateway::token_header("joe@pve!full");

    // HTTP/2: the connection ends once idle (the client's driver task finishes).
    let stream = gw.tls_stream(&[b"h2"]).await;
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driver = tokio::spawn(conn);
    let req = http::Request::get(gw.url(PATH))
        .header("authorization", &auth)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), 200);
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("idle HTTP/2 connection left open")
        .unwrap()
        .ok();
}

/// On HTTP/1 the next head is due within `header_read_timeout_ms` of the previous response,
/// even when the keep-alive timeout is longer (the connection guard's deadline, not hyper's).
#[tokio::test]
async fn http1_awaits_a_next_head_only_for_the_header_read_timeout() {
    let gw = Gateway::start_with(|c| {
        c.limits.keepalive_timeout_ms = 600_000;
        c.limits.header_read_timeout_ms = 300;
    })
    .await;
    let mut h1 = h1_get(&gw, PATH).await;
    let out = until_closed(&mut h1).await;
    let out = out.expect("HTTP/1.1 connection left open without a next head");
    assert!(out.starts_with(b"HTTP/1.1 200"), "{out:?}");
}

/// A request that outlasts the connection's timer (here the first-request deadline, which
/// re-arms it while the request is in flight) still leaves the next head due within
/// `header_read_timeout_ms` of the response: hyper does not read an idle HTTP/1 connection
/// until something wakes it, so the timer itself must be due by then.
#[tokio::test]
async fn http1_after_a_long_request_awaits_a_next_head_only_for_the_header_read_timeout() {
    let mut gw = Gateway::start_with(|c| {
        c.limits.first_request_timeout_ms = 200;
        c.limits.keepalive_timeout_ms = 600_000;
        c.limits.header_read_timeout_ms = 400;
    })
    .await;
    let mut h1 = h1_get(&gw, "/api2/json/hold").await;
    gw.upstream.arrivals.recv().await.unwrap();
    // Held past the first-request deadline, so the timer runs out and is re-armed meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    gw.upstream.release.notify_one();
    let out = until_closed(&mut h1).await;
    let out = out.expect("HTTP/1.1 connection left open after a long request");
    assert!(out.starts_with(b"HTTP/1.1 200"), "{out:?}");
}

/// A connection in use stays open past its first request's idle deadline: each request moves
/// the deadline (the timer is re-armed when it runs out, not reset per request), and the
/// connection closes once it is idle for the timeout after its last request.
#[tokio::test]
async fn requests_keep_a_connection_open_past_its_first_deadline() {
    let gw = Gateway::start_with(|c| c.limits.keepalive_timeout_ms = 300).await;
    let stream = gw.tls_stream(&[b"http/1.1"]).await;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let driver = tokio::spawn(conn);
    let auth = Gateway::token_header("joe@pve!full");
    let started = tokio::time::Instant::now();
    // 12 requests 100 ms apart: 1.2 s, four times the idle timeout, on one connection.
    for i in 0..12 {
        let req = http::Request::get(PATH)
            .header("host", "gw")
            .header("authorization", &auth)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await;
        assert_eq!(
            resp.map(|r| r.status()).ok(),
            Some(http::StatusCode::OK),
            "request {i}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() > Duration::from_millis(900));
    assert!(!driver.is_finished(), "connection closed while in use");
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("idle HTTP/1.1 connection left open")
        .unwrap()
        .ok();
}

#[tokio::test]
async fn one_source_holds_at_most_its_share() {
    let gw = Gateway::start_with(|c| c.limits.max_connections_per_source = 2).await;
    let _held = [
        gw.tls_stream(&[b"http/1.1"]).await,
        gw.tls_stream(&[b"http/1.1"]).await,
    ];
    // A third from 127.0.0.1 is closed at once...
    let mut third = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    assert!(closed_by_server(&mut third).await);
    // ...while another source is served.
    let other = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(gw.ca.clone())
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let resp = other
        .get(gw.url(PATH))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
