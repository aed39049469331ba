//! Protocols and operations: HTTP/2 over ALPN, a WebSocket echoed through, a slow client timed
//! out, graceful shutdown draining an in-flight request, `/healthz` and `/metrics`.

mod gateway_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use gateway_support::Gateway;

#[tokio::test]
async fn http2_is_negotiated_and_served() {
    let mut gw = Gateway::start().await;
    let resp = gw
        .client()
        .get(gw.url("/api2/json/nodes/n1/qemu/100/status/current"))
        .header("authorization", Gateway::token_header("joe@pve!monitoring"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let seen = gw.upstream.arrivals.recv().await.unwrap();
    assert_eq!(seen.headers["x-aclgate-authid"], "joe@pve!monitoring");
    assert_eq!(
        seen.headers["x-forwarded-host"],
        format!("127.0.0.1:{}", gw.addr.port())
    );
}

#[tokio::test]
async fn websocket_is_passed_through() {
    let gw = Gateway::start().await;
    let stream = gw.tls_stream(&[b"http/1.1"]).await;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("wss://127.0.0.1:{}/api2/json/ws", gw.addr.port()),
    )
    .unwrap();
    req.headers_mut().insert(
        "authorization",
        Gateway::token_header("joe@pve!full").parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    for text in ["hello", "second message"] {
        ws.send(Message::text(text)).await.unwrap();
        let got = ws.next().await.unwrap().unwrap();
        assert_eq!(got.into_text().unwrap().as_str(), text);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn websocket_without_credentials_is_refused() {
    let gw = Gateway::start().await;
    let stream = gw.tls_stream(&[b"http/1.1"]).await;
    let url = format!("wss://127.0.0.1:{}/api2/json/ws", gw.addr.port());
    let err = tokio_tungstenite::client_async(url, stream)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected an HTTP 401, got {other:?}"),
    }
    assert_eq!(gw.upstream.count(), 0);
}

#[tokio::test]
async fn slow_client_is_timed_out() {
    // The first head's time is the first-request timeout's; later heads have the header-read
    // timeout from the previous response's end.
    for first_head in [true, false] {
        let gw = Gateway::start_with(|c| {
            if first_head {
                c.limits.first_request_timeout_ms = 200;
            } else {
                c.limits.header_read_timeout_ms = 200;
            }
        })
        .await;
        let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
        if !first_head {
            let auth = Gateway::token_header("joe@pve!full");
            let whole = format!(
                "GET /api2/json/version HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n"
            );
            stream.write_all(whole.as_bytes()).await.unwrap();
            let mut answer = [0u8; 12];
            stream.read_exact(&mut answer).await.unwrap();
            assert_eq!(&answer, b"HTTP/1.1 200");
        }
        let served = gw.upstream.count();
        stream
            .write_all(b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // Never finish the head: the gateway must close the connection on its own.
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "first head {first_head}: connection still open after the timeout"
        );
        assert_eq!(gw.upstream.count(), served);
    }
}

#[tokio::test]
async fn too_many_headers_are_refused() {
    let gw = Gateway::start().await;
    let client = gw.client();
    let mut req = client.get(gw.url("/api2/json/version"));
    for i in 0..70 {
        req = req.header(format!("x-h{i}"), "v");
    }
    // HTTP/2 answers with a protocol error or 431; either way nothing reaches the upstream.
    let result = req
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await;
    if let Ok(resp) = result {
        assert_ne!(resp.status(), 200);
    }
    let mut conn = gw.h1_connection().await;
    let mut b = http::Request::get("/api2/json/version").header("host", "x");
    for i in 0..70 {
        b = b.header(format!("x-h{i}"), "v");
    }
    let req = b
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = conn.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 431);
    assert_eq!(gw.upstream.count(), 0);
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut gw = Gateway::start().await;
    let client = gw.client();
    let url = gw.url("/api2/json/hold");
    let auth = Gateway::token_header("joe@pve!full");
    let in_flight = tokio::spawn(async move {
        let resp = client
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    });
    // The request has reached the upstream: now shut down while it is in flight.
    gw.upstream.arrivals.recv().await.unwrap();
    let stop = gw.stop.take().unwrap();
    stop.send(()).unwrap();
    // New connections are refused once the accept loop has stopped...
    let addr = gw.addr;
    let refused = async move {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .unwrap();
    // ...but the in-flight request completes.
    gw.upstream.release.notify_one();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("/hold"));
    tokio::time::timeout(Duration::from_secs(10), &mut gw.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn healthz_and_metrics() {
    let gw = Gateway::start().await;
    let client = gw.client();
    let resp = client.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = client
        .get(gw.url("/api2/json/version"))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    let _ = client
        .get(gw.url("/api2/json/version"))
        .send()
        .await
        .unwrap();

    let mut tcp = tokio::net::TcpStream::connect(gw.admin).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    for want in [
        "aclgate_requests_total{decision=\"allow\",status=\"200\"} 1",
        "aclgate_requests_total{decision=\"unauthenticated\",status=\"401\"} 1",
        "aclgate_snapshot_generation 1",
        "aclgate_decision_seconds_count",
        "aclgate_upstream_seconds_count",
        "aclgate_reloads_total{result=\"ok\"} 0",
        "aclgate_config_warnings 0",
        "aclgate_tokens_expiring_soon 0",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
}
