//! What reaches the upstream is what was checked (issue 11): method-override and URL-rewrite
//! headers removed (a configurable list), the forwarded path exactly the checked one in
//! normalised form, `;` path parameters refused or stripped, and a client's malformed chunked
//! body answered 400 (the client's fault), not 502.

mod gateway_support;

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
