//! Attacks on the request target and method (issue 11, item 3): absolute-, authority- and
//! asterisk-form targets, CONNECT and TRACE, method case, HEAD and OPTIONS on GET-only routes,
//! percent-encoded slashes and dots (doubly encoded too), NUL / CR / LF / backslash, overlong
//! UTF-8, fragments, very long paths and many headers, and WebSocket upgrades on other routes.
//! Raw HTTP/1.1 over TLS to the real gateway with a recording upstream: every case is refused
//! with a 4xx, or forwarded once with exactly the checked path, and nothing else arrives.

mod attack_support;
mod gateway_support;

use attack_support::{ROOT_ONLY, VM_STATUS, Want, exchange_exact, request, run_table, verdict};
use gateway_support::Gateway;

const VERSION: &str = "/api2/json/version";

fn fwd(method: &'static str, target: &str) -> Want {
    Want::Forwarded(method, target.to_owned())
}

fn maybe(method: &'static str, target: &str) -> Want {
    Want::RefusedOrForwarded(method, target.to_owned())
}

#[tokio::test]
async fn unusual_request_target_forms_and_methods() {
    let gw = Gateway::start().await;
    let up = gw.upstream.addr;
    let mut cases: Vec<(String, Vec<u8>, Want)> = Vec::new();
    let mut case = |name: &str, bytes: Vec<u8>, want: Want| {
        cases.push((name.to_owned(), bytes, want));
    };
    case(
        "origin form (control)",
        request("GET", VERSION, ""),
        fwd("GET", VERSION),
    );
    case(
        "absolute form, denied route",
        request("GET", &format!("https://gw{ROOT_ONLY}"), ""),
        Want::Refused,
    );
    case(
        "absolute form, allowed route: origin form upstream",
        request("GET", &format!("https://gw{VERSION}"), ""),
        maybe("GET", VERSION),
    );
    case(
        "absolute form naming another host",
        request("GET", &format!("http://169.254.169.254{VERSION}"), ""),
        maybe("GET", VERSION),
    );
    case(
        "absolute form with user info",
        request("GET", &format!("https://root@pam:x@gw{ROOT_ONLY}"), ""),
        Want::Refused,
    );
    case(
        "authority form with GET",
        request("GET", &format!("127.0.0.1:{}", up.port()), ""),
        Want::Refused,
    );
    case(
        "CONNECT to the upstream",
        request("CONNECT", &format!("127.0.0.1:{}", up.port()), ""),
        Want::Refused,
    );
    case("asterisk form", request("OPTIONS", "*", ""), Want::Refused);
    case("TRACE", request("TRACE", VERSION, ""), Want::Refused);
    case("TRACK", request("TRACK", VERSION, ""), Want::Refused);
    case(
        "lower-case method",
        request("get", VERSION, ""),
        Want::Refused,
    );
    case(
        "mixed-case method",
        request("Get", ROOT_ONLY, ""),
        Want::Refused,
    );
    case(
        "OPTIONS on a GET route",
        request("OPTIONS", VERSION, ""),
        Want::Refused,
    );
    case(
        "OPTIONS on a denied route",
        request("OPTIONS", ROOT_ONLY, ""),
        Want::Refused,
    );
    case(
        "PATCH on a GET route",
        request("PATCH", VERSION, ""),
        Want::Refused,
    );
    case(
        "method with a space-like byte",
        request("GET\x0b", VERSION, ""),
        Want::Refused,
    );
    case(
        "lower-case protocol",
        format!("GET {VERSION} http/1.1\r\nHost: gw\r\n\r\n").into_bytes(),
        Want::Refused,
    );
    case(
        "HTTP/1.0 absolute form",
        format!("GET https://gw{ROOT_ONLY} HTTP/1.0\r\nHost: gw\r\n\r\n").into_bytes(),
        Want::Refused,
    );
    run_table(&gw, "joe@pve!full", cases).await;

    // HEAD answers carry no body: one request per connection, no sentinel.
    let mut failures = Vec::new();
    for (name, path, want) in [
        ("HEAD on a GET route", VERSION, maybe("HEAD", VERSION)),
        ("HEAD on a denied GET route", ROOT_ONLY, Want::Refused),
    ] {
        let ex = exchange_exact(&gw, &request("HEAD", path, "Connection: close\r\n")).await;
        failures.extend(verdict(name, &ex, &want, "joe@pve!full"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    gw.shutdown().await;
}

#[tokio::test]
async fn encoded_paths_are_refused_or_forwarded_as_checked() {
    let gw = Gateway::start().await;
    let vm = "/api2/json/nodes/n1/qemu";
    let mut cases: Vec<(String, Vec<u8>, Want)> = Vec::new();
    let mut path = |name: &str, target: &str, want: Want| {
        cases.push((name.to_owned(), request("GET", target, ""), want));
    };
    path("control", VM_STATUS, fwd("GET", VM_STATUS));
    path(
        "encoded slash",
        &format!("{vm}/100%2Fstatus/current"),
        Want::Refused,
    );
    path(
        "encoded slash, lower case",
        &format!("{vm}/100%2fstatus/current"),
        Want::Refused,
    );
    path(
        "encoded dot segments",
        &format!("{VM_STATUS}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/root-only"),
        Want::Refused,
    );
    path(
        "raw dot segments",
        &format!("{VM_STATUS}/../../../../../root-only"),
        Want::Refused,
    );
    path(
        "mixed dot",
        &format!("{vm}/100/status/.%2e/current"),
        Want::Refused,
    );
    path("single dot", "/api2/json/./version", maybe("GET", VERSION));
    path("double slash", "/api2/json//version", maybe("GET", VERSION));
    path(
        "double-encoded dots: a literal `%2e%2e` segment, re-encoded",
        &format!("{vm}/%252e%252e/status/current"),
        maybe("GET", &format!("{vm}/%252e%252e/status/current")),
    );
    path(
        "double-encoded slash: a literal `%2F`, re-encoded",
        &format!("{vm}/1%252F2/status/current"),
        maybe("GET", &format!("{vm}/1%252F2/status/current")),
    );
    path(
        "encoded NUL",
        &format!("{vm}/1%00/status/current"),
        Want::Refused,
    );
    path(
        "encoded CR LF",
        &format!("{vm}/1%0d%0aX:%20y/status/current"),
        Want::Refused,
    );
    path(
        "encoded backslash",
        &format!("{vm}/100%5cstatus/current"),
        Want::Refused,
    );
    path(
        "raw backslash",
        &format!("{vm}/100\\status/current"),
        Want::Refused,
    );
    path(
        "overlong dot (C0 AE)",
        &format!("{vm}/%c0%ae%c0%ae/status/current"),
        Want::Refused,
    );
    path(
        "overlong slash (E0 80 AF)",
        &format!("{vm}/1%e0%80%af2/status/current"),
        Want::Refused,
    );
    path(
        "invalid escape",
        &format!("{vm}/1%zz/status/current"),
        Want::Refused,
    );
    path("truncated escape", &format!("{vm}/1%2"), Want::Refused);
    path("fragment", &format!("{VERSION}#x"), maybe("GET", VERSION));
    path(
        "fragment hiding dots",
        &format!("{ROOT_ONLY}#/../../version"),
        Want::Refused,
    );
    path(
        "encoded question mark",
        &format!("{ROOT_ONLY}%3F/../version"),
        Want::Refused,
    );
    path("upper-case prefix", "/API2/json/version", Want::Refused);
    path(
        "trailing dot segment",
        &format!("{ROOT_ONLY}/."),
        Want::Refused,
    );
    path(
        "semicolon parameter",
        &format!("{ROOT_ONLY};/../version"),
        Want::Refused,
    );
    cases.push((
        "raw NUL byte".to_owned(),
        [b"GET /api2/json/ver\0sion HTTP/1.1\r\nHost: gw\r\n\r\n".as_slice()].concat(),
        Want::Refused,
    ));
    cases.push((
        "raw CR in the target".to_owned(),
        b"GET /api2/json/ver\rsion HTTP/1.1\r\nHost: gw\r\n\r\n".to_vec(),
        Want::Refused,
    ));
    cases.push((
        "raw overlong UTF-8 bytes".to_owned(),
        [b"GET /api2/json/\xc0\xae\xc0\xae/version HTTP/1.1\r\nHost: gw\r\n\r\n".as_slice()]
            .concat(),
        Want::Refused,
    ));
    run_table(&gw, "joe@pve!full", cases).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn oversized_heads_are_refused_without_a_server_error() {
    let gw = Gateway::start().await;
    let long_path = format!("/api2/json/{}", "a/".repeat(40_000));
    let many: String = (0..500).map(|i| format!("X-Pad-{i}: {i}\r\n")).collect();
    let big = format!("X-Big: {}\r\n", "b".repeat(200_000));
    let cases = vec![
        (
            "80 KB path".to_owned(),
            request("GET", &long_path, ""),
            Want::Refused,
        ),
        (
            "500 headers".to_owned(),
            request("GET", VERSION, &many),
            Want::Refused,
        ),
        (
            "200 KB header".to_owned(),
            request("GET", VERSION, &big),
            Want::Refused,
        ),
    ];
    run_table(&gw, "joe@pve!full", cases).await;
    gw.shutdown().await;
}

/// A WebSocket handshake on a route without `websocket = true`, in several spellings: never a
/// `101`, never an `Upgrade` upstream (the request may go on as a plain GET).
#[tokio::test]
async fn websocket_upgrades_outside_websocket_routes() {
    let gw = Gateway::start().await;
    let ws = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let mut cases = Vec::new();
    for (name, headers) in [
        ("plain", "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
        (
            "upper case",
            "CONNECTION: UPGRADE\r\nUPGRADE: WebSocket\r\n",
        ),
        (
            "listed",
            "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n",
        ),
        (
            "two protocols",
            "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n",
        ),
        (
            "h2c",
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n",
        ),
    ] {
        let headers = format!("{headers}{ws}");
        cases.push((
            format!("{name} on a GET route"),
            request("GET", VERSION, &headers),
            maybe("GET", VERSION),
        ));
        cases.push((
            format!("{name} on a denied route"),
            request("GET", ROOT_ONLY, &headers),
            Want::Refused,
        ));
    }
    let mut failures = Vec::new();
    for (case, bytes, want) in &cases {
        let ex = attack_support::exchange(&gw, bytes).await;
        failures.extend(verdict(case, &ex, want, "joe@pve!full"));
        if ex.statuses().contains(&101) {
            failures.push(format!("{case}: switched protocols"));
        }
        for seen in &ex.seen {
            if seen.headers.contains_key("upgrade") {
                failures.push(format!("{case}: Upgrade forwarded: {:?}", seen.headers));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    gw.shutdown().await;
}
