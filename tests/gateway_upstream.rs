//! Upstream variants and failure answers: HTTPS upstream trusted by CA file or by pinned
//! fingerprint, a wrong pin refused (502), a slow upstream (504), the plain-HTTP listener and
//! the authentication failure delay.

mod gateway_support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::Digest;
use tokio::net::TcpListener;

use gateway_support::Gateway;

/// An HTTPS upstream answering 200 `secure`; returns its address and certificate (PEM, DER).
async fn tls_upstream() -> (std::net::SocketAddr, String, Vec<u8>) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_pem = generated.cert.pem();
    let cert_der = generated.cert.der().to_vec();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(generated.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone().into()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("secure"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, cert_pem, cert_der)
}

async fn get_version(gw: &Gateway) -> (u16, String) {
    let resp = gw
        .client()
        .get(gw.url("/api2/json/version"))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn https_upstream_by_ca_file() {
    let (addr, pem, _) = tls_upstream().await;
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let gw = Gateway::start_with(|c| {
        c.upstream.url = format!("https://{addr}");
        c.upstream.ca = Some(ca);
    })
    .await;
    // HTTP/2 (the pool) and HTTP/1.1 (the client connection's own upstream connection, used
    // twice).
    assert_eq!(get_version(&gw).await, (200, "secure".to_owned()));
    let mut conn = gw.h1_connection().await;
    for _ in 0..2 {
        assert_eq!(get_version_h1(&mut conn).await, (200, "secure".to_owned()));
    }
}

/// `GET /version` over an HTTP/1.1 client connection.
async fn get_version_h1(
    conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
) -> (u16, String) {
    let req = http::Request::get("/api2/json/version")
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.ready().await.unwrap();
    let resp = conn.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn https_upstream_by_pinned_fingerprint() {
    let (addr, _, der) = tls_upstream().await;
    let pin = hex::encode(sha2::Sha256::digest(&der));
    let colons = pin
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    for (name, fingerprint, want) in [
        ("pin", pin.clone(), 200),
        ("colon form", colons, 200),
        ("wrong pin", "00".repeat(32), 502),
    ] {
        let gw = Gateway::start_with(|c| {
            c.upstream.url = format!("https://{addr}");
            c.upstream.fingerprint = Some(fingerprint.clone());
        })
        .await;
        let (status, body) = get_version(&gw).await;
        assert_eq!(status, want, "case `{name}`: {body}");
    }
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let gw = Gateway::start_with(|c| c.upstream.timeout_ms = 100).await;
    let resp = gw
        .client()
        .get(gw.url("/api2/json/hold"))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["data"], serde_json::Value::Null);
    gw.upstream.release.notify_one();
}

/// The lean client keeps one deadline timer per upstream connection and moves it to each
/// request's deadline: on a reused connection, after a pause that outlasts an earlier
/// request's deadline (the timer fires while the connection is idle), requests are answered,
/// and a held one still times out, no earlier than its own deadline.
#[tokio::test]
async fn upstream_deadline_holds_on_a_reused_connection() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let gw = Gateway::start_with(|c| c.upstream.timeout_ms = TIMEOUT.as_millis() as u64).await;
    let client = gw.client();
    let get = |path: &str| {
        client
            .get(gw.url(path))
            .header("authorization", Gateway::token_header("joe@pve!full"))
            .send()
    };
    assert_eq!(get("/api2/json/version").await.unwrap().status(), 200);
    // Past the first request's deadline: its timer fires on the idle connection.
    tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
    for _ in 0..3 {
        assert_eq!(get("/api2/json/version").await.unwrap().status(), 200);
    }
    assert_eq!(
        gw.upstream.accepted.load(Ordering::SeqCst),
        1,
        "one upstream connection"
    );
    let started = Instant::now();
    assert_eq!(get("/api2/json/hold").await.unwrap().status(), 504);
    assert!(
        started.elapsed() >= TIMEOUT,
        "timed out after {:?}",
        started.elapsed()
    );
    gw.upstream.release.notify_one();
    assert_eq!(get("/api2/json/version").await.unwrap().status(), 200);
}

#[tokio::test]
async fn plain_http_listener() {
    // The fixture serves TLS; run a second server on a plain listener with the same snapshot.
    let mut gw = Gateway::start().await;
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = plain.local_addr().unwrap();
    let listeners = aclgate::server::Listeners {
        tls: None,
        http: Some(plain),
        admin: None,
    };
    let reader = gw.reader.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(aclgate::server::run(listeners, reader, async {
        let _ = stopped.await;
    }));
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/api2/json/version"))
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = gw.upstream.arrivals.recv().await.unwrap();
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn authentication_failures_are_delayed() {
    let gw = Gateway::start_with(|c| c.auth.failure_delay_ms = 300).await;
    let client = gw.client();
    for auth in [None, Some("PVEAPIToken=joe@pve!full=wrong")] {
        let started = Instant::now();
        let mut req = client.get(gw.url("/api2/json/version"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        // A lower bound only: the delay is the behaviour, not a speed measurement.
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "auth {auth:?} answered early"
        );
    }
}
