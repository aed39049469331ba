//! Attacks with headers (issue 11, item 3): credentials in unusual places and spellings
//! (several `Authorization` headers, a token and a ticket at once, tokens in the query string or
//! a cookie, header-name case), spoofed identity, `X-Forwarded-*` and `Forwarded` headers from an
//! untrusted peer, method-override headers in every spelling, and `Host` tricks. Raw HTTP/1.1
//! over TLS to the real gateway with a recording upstream: refused with a 4xx, or forwarded
//! once, clean (no credential, the gateway's own identity and forwarding headers).

mod attack_support;
mod gateway_support;

use attack_support::{ROOT_ONLY, START_VM, Want, exchange, verdict};
use gateway_support::{Gateway, secret_of};

const VERSION: &str = "/api2/json/version";

/// `METHOD PATH` with exactly the given header lines (no credential added).
fn raw(method: &str, path: &str, headers: &[String]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    if method == "POST" {
        text.push_str("Content-Length: 0\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn token(id: &str) -> String {
    format!("PVEAPIToken={id}={}", secret_of(id))
}

fn host() -> String {
    "Host: gw".to_owned()
}

/// Run `(case, bytes, want, authid of what may be forwarded)` cases; panic listing failures.
async fn run(gw: &Gateway, cases: Vec<(&str, Vec<u8>, Want, &str)>) {
    let mut failures = Vec::new();
    for (case, bytes, want, authid) in &cases {
        let ex = exchange(gw, bytes).await;
        failures.extend(verdict(case, &ex, want, authid));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn credentials_in_unusual_places_and_spellings() {
    let gw = Gateway::start().await;
    let (full, mon) = (token("joe@pve!full"), token("joe@pve!monitoring"));
    let ok = |p: &str| Want::Forwarded("GET", p.to_owned());
    let cases = vec![
        (
            "upper-case header name",
            raw("GET", VERSION, &[host(), format!("AUTHORIZATION: {full}")]),
            ok(VERSION),
            "joe@pve!full",
        ),
        (
            "mixed-case header name",
            raw("GET", VERSION, &[host(), format!("aUtHoRiZaTiOn: {full}")]),
            ok(VERSION),
            "joe@pve!full",
        ),
        (
            "token after other text (Proxmox's finder)",
            raw(
                "GET",
                VERSION,
                &[host(), format!("Authorization: Bearer x {full}")],
            ),
            ok(VERSION),
            "joe@pve!full",
        ),
        (
            "two tokens in one value",
            raw(
                "POST",
                START_VM,
                &[host(), format!("Authorization: {mon} {full}")],
            ),
            Want::Refused,
            "-",
        ),
        (
            "lower-case key",
            raw(
                "GET",
                VERSION,
                &[
                    host(),
                    format!("Authorization: pveapitoken={}", &full[12..]),
                ],
            ),
            Want::Refused,
            "-",
        ),
        (
            "token and a forged ticket cookie: the ticket is read",
            raw(
                "GET",
                VERSION,
                &[
                    host(),
                    format!("Authorization: {full}"),
                    "Cookie: PVEAuthCookie=PVE:root@pam:4EEC61E2::forged".to_owned(),
                ],
            ),
            Want::Refused,
            "-",
        ),
        (
            "token in the query string",
            raw("GET", &format!("{VERSION}?{full}"), &[host()]),
            Want::Refused,
            "-",
        ),
        (
            "token as a query parameter",
            raw(
                "GET",
                &format!("{ROOT_ONLY}?Authorization={full}"),
                &[host()],
            ),
            Want::Refused,
            "-",
        ),
        (
            "token in a cookie",
            raw("GET", VERSION, &[host(), format!("Cookie: {full}")]),
            Want::Refused,
            "-",
        ),
        (
            "token in Proxy-Authorization only",
            raw(
                "GET",
                VERSION,
                &[host(), format!("Proxy-Authorization: {full}")],
            ),
            Want::Refused,
            "-",
        ),
        (
            "Proxy-Authorization beside a valid token",
            raw(
                "GET",
                VERSION,
                &[
                    host(),
                    format!("Authorization: {full}"),
                    format!("Proxy-Authorization: {mon}"),
                ],
            ),
            ok(VERSION),
            "joe@pve!full",
        ),
        (
            "token split by obs-fold",
            raw(
                "GET",
                VERSION,
                &[
                    host(),
                    format!("Authorization: {}\r\n {}", &full[..20], &full[20..]),
                ],
            ),
            Want::Refused,
            "-",
        ),
    ];
    run(&gw, cases).await;
    gw.shutdown().await;
}

/// Two `Authorization` headers: Proxmox reads them as one value joined by `, ` that is no valid
/// credential (401); aclgate reads the first and forwards as that token. No escalation (the
/// client holds both), but a component in front that adds or keeps a second header would not
/// get the answer it expects, so this must be refused like Proxmox does.
#[tokio::test]
async fn several_authorization_headers_are_refused() {
    let gw = Gateway::start().await;
    let (full, mon) = (token("joe@pve!full"), token("joe@pve!monitoring"));
    let cases = vec![
        (
            "two tokens, allowed one first",
            raw(
                "POST",
                START_VM,
                &[
                    host(),
                    format!("Authorization: {full}"),
                    format!("Authorization: {mon}"),
                ],
            ),
            Want::Refused,
            "-",
        ),
        (
            "a valid token, then garbage",
            raw(
                "GET",
                VERSION,
                &[
                    host(),
                    format!("Authorization: {full}"),
                    "Authorization: x".to_owned(),
                ],
            ),
            Want::Refused,
            "-",
        ),
    ];
    run(&gw, cases).await;
    gw.shutdown().await;
}

/// Identity, forwarding and override headers sent by a client (an untrusted peer: the fixture
/// trusts no proxy): removed or replaced, in any case and with `_` for `-`.
#[tokio::test]
async fn spoofed_identity_forwarding_and_override_headers_never_reach_the_upstream() {
    let gw = Gateway::start().await;
    let spoofed = [
        "X-Aclgate-Authid: root@pam",
        "x-aclgate-authid: root@pam",
        "X_Aclgate_Authid: root@pam",
        "x_forwarded_for: 10.0.0.1",
        "X-Forwarded-Host: evil.example",
        "X_Forwarded_Host: evil.example",
        "X-Forwarded-Proto: http",
        "X-HTTP-Method-Override: DELETE",
        "X-HTTP-METHOD-OVERRIDE: DELETE",
        "X_HTTP_Method_Override: DELETE",
        "X-Http-Method: DELETE",
        "X-Method-Override: DELETE",
        "X-Original-URL: /api2/json/root-only",
        "X-Rewrite-URL: /api2/json/root-only",
        "X_Original_URL: /api2/json/root-only",
    ];
    let mut headers = vec![host(), format!("Authorization: {}", token("joe@pve!full"))];
    headers.extend(spoofed.iter().map(|h| (*h).to_owned()));
    let ex = exchange(&gw, &raw("GET", VERSION, &headers)).await;
    let want = Want::Forwarded("GET", VERSION.to_owned());
    assert_eq!(verdict("spoofed headers", &ex, &want, "joe@pve!full"), None);
    let seen = &ex.forwarded()[0].headers;
    for h in spoofed {
        let name = h.split(':').next().unwrap().to_ascii_lowercase();
        if ["x-aclgate-authid", "x-forwarded-host", "x-forwarded-proto"].contains(&name.as_str()) {
            // Set by the gateway (the identity and X-Forwarded-For are checked by assert_clean).
            assert_eq!(
                seen.get_all(name.as_str()).iter().count(),
                1,
                "{name}: {seen:?}"
            );
            assert_ne!(
                seen[name.as_str()],
                h.split(": ").nth(1).unwrap(),
                "{name} kept"
            );
            continue;
        }
        assert!(
            !seen.contains_key(name.as_str()),
            "{name} forwarded: {seen:?}"
        );
    }
    gw.shutdown().await;
}

/// An untrusted peer's `X-Forwarded-For` is kept and the peer appended (`10.0.0.1, 127.0.0.1`):
/// an upstream reading the first address (most do) takes the client's word for its address.
/// SECURITY.md promises client-sent `X-Forwarded-*` are removed; from a peer that is not a
/// trusted proxy the header must be the peer alone.
#[tokio::test]
async fn untrusted_x_forwarded_for_is_replaced() {
    let gw = Gateway::start().await;
    for spoof in [
        "X-Forwarded-For: 10.0.0.1",
        "X-Forwarded-For: 10.0.0.1, 127.0.0.1",
    ] {
        let auth = format!("Authorization: {}", token("joe@pve!full"));
        let ex = exchange(&gw, &raw("GET", VERSION, &[host(), auth, spoof.to_owned()])).await;
        let seen = &ex.forwarded()[0].headers;
        let xff: Vec<_> = seen.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["127.0.0.1"], "{spoof}");
    }
    gw.shutdown().await;
}

/// `Forwarded` (RFC 7239), the common single-address headers, and the `X-Forwarded-*` headers
/// the gateway does not set are the same claims in other names; an upstream that reads them
/// would trust a client's word (SECURITY.md: client-sent `X-Forwarded-*` are removed).
#[tokio::test]
async fn other_forwarding_headers_never_reach_the_upstream() {
    let gw = Gateway::start().await;
    let spoofed = [
        "Forwarded: for=10.0.0.1;host=evil.example;proto=http",
        "X-Real-IP: 10.0.0.1",
        "X-Client-IP: 10.0.0.1",
        "True-Client-IP: 10.0.0.1",
        "X-Forwarded-Port: 1",
        "X-Forwarded-Prefix: /admin",
        "X-Forwarded-Uri: /api2/json/root-only",
        "X-Forwarded-Method: DELETE",
    ];
    let mut headers = vec![host(), format!("Authorization: {}", token("joe@pve!full"))];
    headers.extend(spoofed.iter().map(|h| (*h).to_owned()));
    let ex = exchange(&gw, &raw("GET", VERSION, &headers)).await;
    let seen = &ex.forwarded()[0].headers;
    for h in spoofed {
        let name = h.split(':').next().unwrap().to_ascii_lowercase();
        assert!(
            !seen.contains_key(name.as_str()),
            "{name} forwarded: {seen:?}"
        );
    }
    gw.shutdown().await;
}

/// RFC 9112 §3.2: a request without `Host`, with two, or with an invalid one is a 400.
#[tokio::test]
async fn host_header_tricks() {
    let gw = Gateway::start().await;
    let auth = format!("Authorization: {}", token("joe@pve!full"));
    let cases = vec![
        (
            "Host with a path",
            raw("GET", VERSION, &["Host: gw/x".to_owned(), auth.clone()]),
            Want::RefusedOrForwarded("GET", VERSION.to_owned()),
            "joe@pve!full",
        ),
        (
            "absolute form and another Host",
            raw(
                "GET",
                &format!("https://gw{ROOT_ONLY}"),
                &["Host: other".to_owned(), auth.clone()],
            ),
            Want::Refused,
            "-",
        ),
        (
            "absolute form and another Host, allowed route",
            raw(
                "GET",
                &format!("https://gw{VERSION}"),
                &["Host: other".to_owned(), auth.clone()],
            ),
            Want::RefusedOrForwarded("GET", VERSION.to_owned()),
            "joe@pve!full",
        ),
    ];
    run(&gw, cases).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn missing_or_duplicate_host_is_refused() {
    let gw = Gateway::start().await;
    let auth = format!("Authorization: {}", token("joe@pve!full"));
    let cases = vec![
        (
            "no Host",
            raw("GET", VERSION, std::slice::from_ref(&auth)),
            Want::Refused,
            "-",
        ),
        (
            "two Host headers",
            raw(
                "GET",
                VERSION,
                &[host(), "Host: evil.example".to_owned(), auth.clone()],
            ),
            Want::Refused,
            "-",
        ),
    ];
    run(&gw, cases).await;
    gw.shutdown().await;
}
