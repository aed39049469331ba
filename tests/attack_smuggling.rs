//! Attacks on HTTP/1.1 message framing (issue 11, item 3): request smuggling with conflicting
//! `Content-Length` / `Transfer-Encoding`, obfuscated transfer codings, obsolete line folding,
//! pipelining, and `Expect: 100-continue` on a denied route. Against the real gateway over TLS
//! with the recording upstream of `gateway_support`: every case is refused with a 4xx or
//! forwarded exactly once with the body the gateway framed, and the upstream never receives a
//! request that was hidden in another one's body.

mod attack_support;
mod gateway_support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use attack_support::{
    Exchange, ROOT_ONLY, START_VM, VM_STATUS, assert_clean, auth_of, exchange, parse_answers,
    seen_path,
};
use gateway_support::Gateway;

/// What the gateway must do with one case.
#[derive(Debug, Clone)]
enum Want {
    /// Answer 4xx (or 501) and forward nothing.
    Refused,
    /// Either refuse, or forward the request once with exactly this body.
    RefusedOrOnce(String),
    /// Forward the request once with exactly this body.
    Once(String),
    /// Refuse, or forward the request once with exactly this body and then close the
    /// connection (RFC 9112 §6.1 for a request with both `Content-Length` and
    /// `Transfer-Encoding`: what followed it is never read as a request).
    RefusedOrOnceThenClose(String),
}

/// A request the gateway must never pass on: unauthenticated, to a route only root may call.
fn smuggled() -> String {
    format!("GET {ROOT_ONLY} HTTP/1.1\r\nHost: gw\r\n\r\n")
}

/// `POST START_VM` as joe@pve!full with `headers` (each ending in CRLF) and `body`.
fn post(headers: &str, body: &str) -> String {
    format!(
        "POST {START_VM} HTTP/1.1\r\n{}{headers}\r\n{body}",
        auth_of("joe@pve!full")
    )
}

/// Check one case; a failure is returned (all cases run, then all failures are shown).
fn check(case: &str, ex: &Exchange, want: Want) -> Option<String> {
    for a in &ex.answers {
        assert!(
            a.status < 500 || a.status == 501,
            "{case}: server error {} ({:?})",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
    }
    for seen in &ex.seen {
        assert_ne!(
            seen_path(seen),
            ROOT_ONLY,
            "{case}: a smuggled request reached the upstream"
        );
        assert_clean(case, seen, Some("joe@pve!full"));
    }
    let forwarded = ex.forwarded();
    let refused = forwarded.is_empty()
        && !ex.attack_answers().is_empty()
        && ex.attack_answers()[0].status >= 400;
    let once = |body: &str| {
        forwarded.len() == 1
            && seen_path(forwarded[0]) == START_VM
            && forwarded[0].body == body.as_bytes()
            && ex.attack_answers().first().is_some_and(|a| a.status == 200)
    };
    let ok = match &want {
        Want::Refused => refused,
        Want::RefusedOrOnce(body) => refused || once(body),
        Want::Once(body) => once(body),
        Want::RefusedOrOnceThenClose(body) => refused || (once(body) && ex.answers.len() == 1),
    };
    (!ok).then(|| {
        format!(
            "{case}: want {want:?}; answers {:?}, forwarded {:?}",
            ex.statuses(),
            forwarded
                .iter()
                .map(|s| (s.method.clone(), s.path.clone(), s.body.clone()))
                .collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn conflicting_or_obfuscated_framing_never_smuggles() {
    let gw = Gateway::start().await;
    let s = smuggled();
    let chunked_hello = "5\r\nhello\r\n0\r\n\r\n";
    let cases: Vec<(&str, String, Want)> = vec![
        (
            "CL then TE",
            post(
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                &format!("0\r\n\r\n{s}"),
            ),
            Want::RefusedOrOnceThenClose(String::new()),
        ),
        (
            "TE then CL",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n",
                &format!("0\r\n\r\n{s}"),
            ),
            Want::RefusedOrOnceThenClose(String::new()),
        ),
        (
            "duplicate equal Content-Length",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            Want::RefusedOrOnce("hello".into()),
        ),
        (
            "conflicting Content-Length",
            post(
                "Content-Length: 5\r\nContent-Length: 44\r\n",
                &format!("hello{s}"),
            ),
            Want::Refused,
        ),
        (
            "Content-Length list",
            post("Content-Length: 5, 44\r\n", &format!("hello{s}")),
            Want::Refused,
        ),
        (
            "signed Content-Length",
            post("Content-Length: +5\r\n", &format!("hello{s}")),
            Want::Refused,
        ),
        (
            "hex Content-Length",
            post("Content-Length: 0x5\r\n", &format!("hello{s}")),
            Want::Refused,
        ),
        (
            "TE chunked, identity",
            post(
                "Transfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n",
                &format!("hello{s}"),
            ),
            Want::Refused,
        ),
        (
            "TE xchunked",
            post(
                "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n",
                &format!("hello{s}"),
            ),
            Want::Refused,
        ),
        (
            "TE in two headers",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                chunked_hello,
            ),
            Want::Refused,
        ),
        (
            "space before the colon",
            post(
                "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n",
                &format!("hello{s}"),
            ),
            Want::Refused,
        ),
        (
            "vertical tab before the value",
            post(
                "Transfer-Encoding:\x0bchunked\r\nContent-Length: 5\r\n",
                &format!("hello{s}"),
            ),
            Want::Refused,
        ),
        (
            "tab before the value (valid whitespace)",
            post("Transfer-Encoding:\tchunked\r\n", chunked_hello),
            Want::Once("hello".into()),
        ),
        (
            "upper-case coding (case-insensitive)",
            post("Transfer-Encoding: CHUNKED\r\n", chunked_hello),
            Want::RefusedOrOnce("hello".into()),
        ),
        (
            "chunk extension",
            post(
                "Transfer-Encoding: chunked\r\n",
                "5;x=1\r\nhello\r\n0\r\n\r\n",
            ),
            Want::Once("hello".into()),
        ),
        (
            "obs-fold hiding a TE",
            post(
                "X-Pad: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                &format!("hello{s}"),
            ),
            Want::RefusedOrOnce("hello".into()),
        ),
        (
            "obs-fold continuing Content-Length",
            post("Content-Length: 5\r\n 44\r\n", &format!("hello{s}")),
            Want::Refused,
        ),
        (
            "a request hidden in a body",
            post(&format!("Content-Length: {}\r\n", s.len()), &s),
            Want::Once(s.clone()),
        ),
    ];
    let mut failures = Vec::new();
    for (case, bytes, want) in cases {
        let ex = exchange(&gw, bytes.as_bytes()).await;
        failures.extend(check(case, &ex, want));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    gw.shutdown().await;
}

/// `Transfer-Encoding: chunked, chunked` claims a body chunked twice (RFC 9112 §6.1: a sender
/// must not), so it cannot be read as singly chunked; hyper decodes it once and the gateway
/// forwards that. The upstream gets the gateway's own framing, so nothing is smuggled through
/// aclgate itself, but a front proxy that reads the header differently would disagree with it
/// about where the request ends.
#[tokio::test]
async fn chunked_applied_twice_is_refused() {
    let gw = Gateway::start().await;
    let bytes = post(
        "Transfer-Encoding: chunked, chunked\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
    );
    let ex = exchange(&gw, bytes.as_bytes()).await;
    let failure = check("TE chunked, chunked", &ex, Want::Refused);
    assert!(failure.is_none(), "{failure:?}");
    gw.shutdown().await;
}

/// Pipelined requests are each checked: the second, denied one never reaches the upstream, and
/// a GET with a body carrying a request forwards that body as a body (or is refused).
#[tokio::test]
async fn pipelined_requests_are_each_checked() {
    let gw = Gateway::start().await;
    let full = auth_of("joe@pve!full");
    let bytes = format!(
        "GET {VM_STATUS} HTTP/1.1\r\n{full}\r\nGET {ROOT_ONLY} HTTP/1.1\r\n{full}\r\n\
         POST {START_VM} HTTP/1.1\r\n{}Content-Length: 0\r\n\r\n",
        auth_of("joe@pve!monitoring")
    );
    let ex = exchange(&gw, bytes.as_bytes()).await;
    assert_eq!(ex.statuses(), [200, 403, 403, 200], "{ex:?}");
    let paths: Vec<String> = ex.seen.iter().map(seen_path).collect();
    assert_eq!(paths, [VM_STATUS, "/api2/json/version"]);

    let s = smuggled();
    let bytes = format!(
        "GET {VM_STATUS} HTTP/1.1\r\n{full}Content-Length: {}\r\n\r\n{s}",
        s.len()
    );
    let ex = exchange(&gw, bytes.as_bytes()).await;
    for seen in &ex.seen {
        assert_ne!(seen_path(seen), ROOT_ONLY, "{ex:?}");
    }
    assert!(ex.statuses().iter().all(|s| *s < 500), "{ex:?}");
    gw.shutdown().await;
}

/// Read from `stream` until one whole answer has arrived (bounded).
async fn first_answer(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Vec<attack_support::Answer> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while parse_answers(&got).is_empty() {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer: {:?}",
        String::from_utf8_lossy(&got)
    );
    parse_answers(&got)
}

/// `Expect: 100-continue` on a route the caller may not use: the final refusal comes at once,
/// without a `100 Continue` that would invite the body, and nothing reaches the upstream. On an
/// allowed route the body is asked for and forwarded.
#[tokio::test]
async fn expect_continue_on_a_denied_route_never_invites_the_body() {
    let gw = Gateway::start().await;
    for (case, auth, path, want) in [
        ("no credential", "Host: gw\r\n".to_owned(), START_VM, 401),
        ("denied token", auth_of("joe@pve!monitoring"), START_VM, 403),
        ("no route", auth_of("joe@pve!full"), "/api2/json/nope", 404),
    ] {
        let before = gw.upstream.count();
        let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\n{auth}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answers = first_answer(&mut stream).await;
        assert_eq!(answers[0].status, want, "{case}: {answers:?}");
        // Had the refusal come late, the body would follow now; it must reach nobody.
        let _ = stream.write_all(b"hello").await;
        let _ = stream.shutdown().await;
        assert_eq!(gw.upstream.count(), before, "{case}: forwarded");
    }
    let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
    let head = format!(
        "POST {START_VM} HTTP/1.1\r\n{}Content-Length: 5\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        auth_of("joe@pve!full")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answers = first_answer(&mut stream).await;
    assert_eq!(answers[0].status, 100, "allowed: {answers:?}");
    stream.write_all(b"hello").await.unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    let seen = gw.upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (seen_path(&seen), &seen.body[..]),
        (START_VM.to_owned(), &b"hello"[..])
    );
    gw.shutdown().await;
}
