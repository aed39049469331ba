//! What reaches the upstream is what was checked (issue 11): method-override and URL-rewrite
//! headers removed (a configurable list), the forwarded path exactly the checked one in
//! normalised form, `;` path parameters refused or stripped, and a client's malformed chunked
//! body answered 400 (the client's fault), not 502.

mod gateway_support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aclgate::config::request::PathParams;
use gateway_support::Gateway;

const OVERRIDES: [(&str, &str); 6] = [
    ("x-http-method-override", "DELETE"),
    ("x-http-method", "DELETE"),
    ("x-method-override", "DELETE"),
    ("x-original-url", "/api2/json/root-only"),
    ("x-rewrite-url", "/api2/json/root-only"),
    // CGI-style upstreams read `_` as `-`.
    ("x_http_method_override", "DELETE"),
];

/// Send `GET /api2/json/version` with `extra` headers over HTTP/2 and over HTTP/1.1 (the two
/// upstream clients); return the headers the upstream saw each time.
async fn seen_headers(gw: &mut Gateway, extra: &[(&str, &str)]) -> Vec<http::HeaderMap> {
    let auth = Gateway::token_header("joe@pve!full");
    let mut req = gw.client().get(gw.url("/api2/json/version"));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.header("authorization", &auth).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = gw.upstream.arrivals.recv().await.unwrap().headers;

    let mut conn = gw.h1_connection().await;
    let mut req = http::Request::get("/api2/json/version")
        .header("host", "gw")
        .header("authorization", &auth);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(conn.send_request(req).await.unwrap().status(), 200);
    let second = gw.upstream.arrivals.recv().await.unwrap().headers;
    vec![first, second]
}

#[tokio::test]
async fn override_headers_are_removed_by_default() {
    let mut gw = Gateway::start().await;
    for h in seen_headers(&mut gw, &OVERRIDES).await {
        for (name, _) in OVERRIDES {
            assert!(!h.contains_key(name), "{name} reached the upstream: {h:?}");
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn the_strip_list_is_configurable() {
    let mut gw = Gateway::start_with(|c| {
        c.request.strip_headers = vec![http::HeaderName::from_static("x-custom")];
    })
    .await;
    let extra = [("x-custom", "1"), ("x-http-method-override", "DELETE")];
    for h in seen_headers(&mut gw, &extra).await {
        assert!(!h.contains_key("x-custom"), "{h:?}");
        assert_eq!(h["x-http-method-override"], "DELETE", "{h:?}");
    }
    gw.shutdown().await;
}

/// Routes for the path tests, added to the fixture's policy.
const PATH_ROUTES: &str = r#"
[[route]]
method = "GET"
path = "/p/{a}"
user = "all"

[[route]]
method = "GET"
path = "/p/{a}/{b}"
user = "all"

[[route]]
method = "GET"
path = "/p/{a}/{b}/{c}"
user = "all"
"#;

/// A gateway whose policy also has the `/api2/json/p/...` routes.
async fn path_gateway(mode: PathParams) -> Gateway {
    let gw = Gateway::start_with(|c| c.request.path_params = mode).await;
    let policy = format!("{}{PATH_ROUTES}", gateway_support::POLICY);
    gateway_support::write_atomic(&gw.dir.path().join("policies/test.toml"), &policy);
    gw.reload().await.unwrap();
    gw
}

/// `GET raw` on an HTTP/1.1 connection, the request target sent exactly as given; returns the
/// status and the path the upstream received (if it received the request).
async fn get_raw(
    gw: &mut Gateway,
    conn: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    raw: &str,
) -> (u16, Option<String>) {
    let req = http::Request::get(raw)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    conn.ready().await.unwrap();
    let before = gw.upstream.count();
    let status = conn.send_request(req).await.unwrap().status().as_u16();
    let seen = (gw.upstream.count() > before).then(|| {
        let seen = gw.upstream.arrivals.try_recv().unwrap();
        seen.path
    });
    (status, seen)
}

#[tokio::test]
async fn the_upstream_gets_the_checked_path() {
    let mut gw = path_gateway(PathParams::Refuse).await;
    let mut conn = gw.h1_connection().await;
    for (raw, want) in [
        ("/api2/json/p/a/", Some("/api2/json/p/a")),
        ("/api2/json/p/%71emu", Some("/api2/json/p/qemu")),
        ("/api2/json/p/%7Euser/x", Some("/api2/json/p/~user/x")),
        ("/api2/json/p/a%20b?x=1", Some("/api2/json/p/a%20b?x=1")),
        ("/api2/json/p/%2525", Some("/api2/json/p/%2525")),
        ("/api2/json/p/a;jsessionid=1", None),
        ("/api2/json/p/..;/root-only", None),
        ("/api2/json/p/a%3Bb", None),
    ] {
        let (status, seen) = get_raw(&mut gw, &mut conn, raw).await;
        assert_eq!(seen.as_deref(), want, "{raw}");
        assert_eq!(status, if want.is_some() { 200 } else { 400 }, "{raw}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn path_parameters_can_be_stripped() {
    let mut gw = path_gateway(PathParams::Strip).await;
    let mut conn = gw.h1_connection().await;
    for (raw, want) in [
        ("/api2/json/p/a;jsessionid=1/b", Some("/api2/json/p/a/b")),
        ("/api2/json/p/a;x=1/", Some("/api2/json/p/a")),
        ("/api2/json/p/..;/root-only", None),
        ("/api2/json/p/a%3Bb", None),
    ] {
        let (status, seen) = get_raw(&mut gw, &mut conn, raw).await;
        assert_eq!(seen.as_deref(), want, "{raw}");
        assert_eq!(status, if want.is_some() { 200 } else { 400 }, "{raw}");
    }
    gw.shutdown().await;
}

/// For random request targets through the real gateway: whatever is forwarded decodes to, and
/// normalises to, exactly the path that was checked; whatever the checker refuses is a 400 and
/// reaches nobody.
#[test]
fn forwarded_path_equals_checked_path() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (gw, conn) = rt.block_on(async {
        let gw = path_gateway(PathParams::Refuse).await;
        let conn = gw.h1_connection().await;
        (gw, conn)
    });
    // The runner takes a `Fn`: the gateway and the connection are borrowed per case.
    let (gw, conn) = (std::cell::RefCell::new(gw), std::cell::RefCell::new(conn));
    let piece = prop::sample::select(vec![
        "a", "Z", "9", "-", ".", "_", "~", "!", "$", "&", "'", "(", "*", "+", ",", "=", ":", "@",
        ";", "%41", "%7e", "%2E", "%2F", "%25", "%3B", "%3F", "%23", "%20", "%C3%A9", "%FF", "%00",
        "..",
    ]);
    let segment = prop::collection::vec(piece, 0..4).prop_map(|p| p.concat());
    let strategy = (prop::collection::vec(segment, 1..4), any::<bool>());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    runner
        .run(&strategy, |(segments, trailing)| {
            let mut raw = format!("/api2/json/p/{}", segments.join("/"));
            if trailing {
                raw.push('/');
            }
            let checked = aclgate::proxy::normalise(&raw);
            let (status, seen) =
                rt.block_on(get_raw(&mut gw.borrow_mut(), &mut conn.borrow_mut(), &raw));
            match (&checked, seen) {
                (Ok(checked), Some(forwarded)) => {
                    prop_assert_eq!(status, 200);
                    let decoded = percent_encoding::percent_decode_str(&forwarded).decode_utf8();
                    prop_assert_eq!(decoded.as_deref().ok(), Some(checked.as_str()));
                    prop_assert_eq!(aclgate::proxy::normalise(&forwarded), Ok(checked.clone()));
                }
                // A checked path that matches no route (e.g. four segments): 404.
                (Ok(_), None) => prop_assert_eq!(status, 404, "{}", raw),
                (Err(_), seen) => {
                    prop_assert_eq!(status, 400, "{}", raw);
                    prop_assert!(seen.is_none(), "{}", raw);
                }
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(gw.into_inner().shutdown());
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400() {
    let gw = Gateway::start().await;
    let auth = Gateway::token_header("joe@pve!full");
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
        let req = format!(
            "POST /api2/json/nodes/n1/qemu/100/status/start HTTP/1.1\r\nHost: gw\r\n\
             Authorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 400", "body {body:?}");
    }
    gw.shutdown().await;
}
