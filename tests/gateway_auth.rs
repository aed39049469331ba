//! Authentication and decisions through the real gateway over TLS: every token failure, each
//! check kind allowed and denied, the documentation's monitoring example, header hygiene.

mod gateway_support;

use gateway_support::{Gateway, secret_of};

async fn status(gw: &Gateway, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let client = gw.client();
    let mut req = client.request(method.parse().unwrap(), gw.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap())
}

#[tokio::test]
async fn credentials_table() {
    let gw = Gateway::start().await;
    let path = "/api2/json/version";
    let good = Gateway::token_header("joe@pve!full");
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no credentials", None, 401),
        ("good token", Some(good.clone()), 200),
        (
            "space form",
            Some(format!(
                "PVEAPIToken joe@pve!full={}",
                secret_of("joe@pve!full")
            )),
            200,
        ),
        (
            "percent-encoded",
            Some(format!(
                "PVEAPIToken=joe%40pve%21full%3D{}",
                secret_of("joe@pve!full")
            )),
            200,
        ),
        (
            "wrong secret",
            Some("PVEAPIToken=joe@pve!full=00000000-0000-4000-8000-000000000000".into()),
            401,
        ),
        ("trailing blank", Some(format!("{good} ")), 401),
        ("no secret", Some("PVEAPIToken=joe@pve!full".into()), 401),
        ("malformed id", Some("PVEAPIToken=joe!full=abc".into()), 401),
        (
            "unknown token",
            Some("PVEAPIToken=joe@pve!nope=abc".into()),
            401,
        ),
        (
            "expired token",
            Some(Gateway::token_header("joe@pve!expired")),
            401,
        ),
        (
            "expired owner",
            Some(Gateway::token_header("old@pve!tk")),
            401,
        ),
        (
            "disabled owner",
            Some(Gateway::token_header("off@pve!tk")),
            401,
        ),
        (
            "key case",
            Some(good.replace("PVEAPIToken", "pveapitoken")),
            401,
        ),
        ("other scheme", Some("Bearer abc".into()), 401),
    ];
    for (name, auth, want) in cases {
        let (got, body) = status(&gw, "GET", path, auth.as_deref()).await;
        assert_eq!(got, want, "case `{name}` (auth {auth:?}): body {body}");
        if want == 401 {
            assert_eq!(body, "", "case `{name}`: 401 must have an empty body");
        }
    }
}

#[tokio::test]
async fn reason_phrases_on_the_wire() {
    let gw = Gateway::start().await;
    let mut conn = gw.h1_connection().await;
    let send = |auth: Option<String>| {
        let mut b = http::Request::get("/api2/json/version").header("host", "x");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let resp = conn.send_request(send(None)).await.unwrap();
    let phrase = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|p| p.as_bytes().to_vec());
    assert_eq!(
        (resp.status().as_u16(), phrase.as_deref()),
        (401, Some(&b"No ticket"[..]))
    );
    let resp = conn
        .send_request(send(Some("PVEAPIToken=joe@pve!full=x".into())))
        .await
        .unwrap();
    let phrase = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|p| p.as_bytes().to_vec());
    assert_eq!(
        (resp.status().as_u16(), phrase.as_deref()),
        (401, Some(&b"Authentication failed!"[..]))
    );
}

#[tokio::test]
async fn monitoring_example_from_the_documentation() {
    let mut gw = Gateway::start().await;
    let auth = Gateway::token_header("joe@pve!monitoring");
    let (code, body) = status(
        &gw,
        "GET",
        "/api2/json/nodes/n1/qemu/100/status/current",
        Some(&auth),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let seen = gw.upstream.arrivals.recv().await.unwrap();
    assert_eq!(seen.path, "/api2/json/nodes/n1/qemu/100/status/current");
    assert_eq!(seen.headers["x-aclgate-authid"], "joe@pve!monitoring");

    let before = gw.upstream.count();
    let client = gw.client();
    let resp = client
        .post(gw.url("/api2/json/nodes/n1/qemu/100/status/start"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"data": null, "message": "Permission check failed (/vms/100, VM.PowerMgmt)\n"})
    );
    assert_eq!(
        gw.upstream.count(),
        before,
        "a denied request must never reach the upstream"
    );
    // The owner itself (and its privsep=0 token) may start the VM.
    let (code, _) = status(
        &gw,
        "POST",
        "/api2/json/nodes/n1/qemu/100/status/start",
        Some(&Gateway::token_header("joe@pve!full")),
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn check_kinds_table() {
    let gw = Gateway::start().await;
    let mon = Gateway::token_header("joe@pve!monitoring");
    let full = Gateway::token_header("joe@pve!full");
    let cases: Vec<(&str, &str, &str, u16)> = vec![
        (
            "GET",
            "/api2/json/nodes/n1/qemu/100/status/current",
            &mon,
            200,
        ),
        ("GET", "/api2/json/nodes/n1/qemu/100/either", &mon, 200),
        ("GET", "/api2/json/nodes/n1/qemu/100/both", &mon, 403),
        ("GET", "/api2/json/nodes/n1/qemu/100/both", &full, 403),
        ("GET", "/api2/json/nodes/n1/qemu/100/any", &mon, 200),
        ("GET", "/api2/json/access/users/off@pve/self", &full, 403),
        // A token is not its owner for `userid-param self` (Proxmox compares the full authid).
        ("GET", "/api2/json/access/users/joe@pve/self", &full, 403),
        ("POST", "/api2/json/access/users?userid=new@pve", &full, 403),
        ("PUT", "/api2/json/access/acl?path=/vms/100", &mon, 403),
        // perm-modify below /vms: VM.Allocate suffices (PVEVMAdmin has it).
        ("PUT", "/api2/json/access/acl?path=/vms/100", &full, 200),
        ("GET", "/api2/json/version", &mon, 200),
        ("GET", "/api2/json/access/domains", "", 200),
        ("GET", "/api2/json/ticket-only", &full, 403),
        ("GET", "/api2/json/root-only", &full, 403),
        ("GET", "/api2/json/unknown", &full, 404),
        ("GET", "/api2/json/unknown", "", 401),
        ("DELETE", "/api2/json/version", &full, 404),
    ];
    for (method, path, auth, want) in cases {
        let auth = (!auth.is_empty()).then_some(auth);
        let (got, body) = status(&gw, method, path, auth).await;
        assert_eq!(got, want, "{method} {path} with {auth:?}: {body}");
    }
}

#[tokio::test]
async fn body_and_query_parameters() {
    let gw = Gateway::start().await;
    let client = gw.client();
    let mon = Gateway::token_header("joe@pve!monitoring");
    let full = Gateway::token_header("joe@pve!full");
    let post = |auth: &str, ctype: &str, body: &str| {
        client
            .post(gw.url("/api2/json/nodes/n1/qemu"))
            .header("authorization", auth)
            .header("content-type", ctype)
            .body(body.to_owned())
            .send()
    };
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        post(&full, form, "vmid=100&name=a").await.unwrap().status(),
        200
    );
    assert_eq!(post(&mon, form, "vmid=100").await.unwrap().status(), 403);
    assert_eq!(
        post(&full, "application/json", r#"{"vmid":100}"#)
            .await
            .unwrap()
            .status(),
        200
    );
    // The upstream gets the body unchanged.
    let seen = gw.upstream.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.body == r#"{"vmid":100}"#), "{seen:?}");
    // Query wins over body, and a missing parameter denies.
    let resp = client
        .post(gw.url("/api2/json/nodes/n1/qemu?vmid=100"))
        .header("authorization", &full)
        .header("content-type", form)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(post(&full, form, "name=x").await.unwrap().status(), 403);
    // Beyond the buffer bound: 413.
    let big = format!("vmid=100&pad={}", "x".repeat(2 << 20));
    assert_eq!(post(&full, form, &big).await.unwrap().status(), 413);
}

#[tokio::test]
async fn bad_paths_are_refused() {
    let gw = Gateway::start().await;
    let full = Gateway::token_header("joe@pve!full");
    for path in [
        "/api2/json/nodes/n1/qemu/%2e%2e/status/current",
        "/api2/json/nodes/n1/qemu/100%2Fx/status/current",
        "/api2/json/nodes/n1/qemu/1%00/status/current",
        "/api2/json/nodes/n1/qemu/%zz/status/current",
        "/api2/json//version",
    ] {
        let mut conn = gw.h1_connection().await;
        let req = http::Request::get(path)
            .header("host", "x")
            .header("authorization", &full)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = conn.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 400, "path {path}");
    }
}

/// What a spoofing client adds to its request in `header_hygiene`.
const SPOOFED: [(&str, &str); 7] = [
    ("x-aclgate-authid", "root@pam"),
    // Glued to `;`: not a ticket for Proxmox's finder (a found ticket would win over the
    // token), but still stripped before forwarding.
    ("cookie", "lang=en;PVEAuthCookie=forged"),
    ("connection", "x-drop-me"),
    ("x-drop-me", "1"),
    ("x-forwarded-for", "10.9.9.9"),
    // CGI-style upstreams read `_` as `-`.
    ("x_aclgate_authid", "root@pam"),
    ("x_forwarded_host", "evil"),
];

#[tokio::test]
async fn header_hygiene() {
    let mut gw = Gateway::start().await;
    let mut req = gw
        .client()
        .get(gw.url("/api2/json/version"))
        .header("authorization", Gateway::token_header("joe@pve!full"));
    for (name, value) in SPOOFED {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-upstream"], "echo");
    let seen = gw.upstream.arrivals.recv().await.unwrap();
    check_hygiene(&seen.headers);

    // The same over HTTP/1.1, where the gateway's own upstream client writes the request.
    let mut conn = gw.h1_connection().await;
    let mut req = http::Request::get("/api2/json/version")
        .header("host", "127.0.0.1:1")
        .header("authorization", Gateway::token_header("joe@pve!full"));
    for (name, value) in SPOOFED {
        req = req.header(name, value);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    conn.ready().await.unwrap();
    assert_eq!(conn.send_request(req).await.unwrap().status(), 200);
    let seen = gw.upstream.arrivals.recv().await.unwrap();
    check_hygiene(&seen.headers);
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
}

/// What `header_hygiene`'s spoofing client may never get through to the upstream.
fn check_hygiene(h: &http::HeaderMap) {
    assert!(!h.contains_key("x_aclgate_authid"), "{h:?}");
    assert!(!h.contains_key("x_forwarded_host"), "{h:?}");
    assert_eq!(h.get_all("x-aclgate-authid").iter().count(), 1);
    assert_eq!(h["x-aclgate-authid"], "joe@pve!full");
    assert!(!h.contains_key("authorization"), "{h:?}");
    assert_eq!(h["cookie"], "lang=en");
    assert!(!h.contains_key("x-drop-me"));
    // The client (not a trusted proxy) claimed 10.9.9.9: replaced by its address.
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert!(
        h["x-forwarded-host"]
            .to_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test]
async fn upstream_down_is_502() {
    let gw = Gateway::start_with(|c| c.upstream.url = "http://127.0.0.1:1".to_owned()).await;
    let (code, body) = status(
        &gw,
        "GET",
        "/api2/json/version",
        Some(&Gateway::token_header("joe@pve!full")),
    )
    .await;
    assert_eq!(code, 502, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["message"].is_string());
}
