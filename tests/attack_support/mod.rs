//! Shared by the attack tests (tests/attack_*.rs, issue 11): raw HTTP/1.1 bytes to the real
//! gateway over TLS, the answers parsed back, and what the recording upstream of
//! `gateway_support` saw checked against what the gateway may forward. Test files using it also
//! declare `mod gateway_support;`.
//!
//! Every exchange ends with a benign request carrying `Connection: close` (the sentinel): the
//! gateway answers requests of one connection in order, so when its answer has arrived, every
//! earlier request on the connection was either forwarded (and recorded: the upstream records
//! before it answers) or refused. Nothing has to be waited for by time.

#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::gateway_support::{Gateway, Seen};

/// The request every exchange ends with.
pub const SENTINEL_PATH: &str = "/api2/json/version";

/// A route joe@pve!full may call and joe@pve!monitoring may not (VM.PowerMgmt on /vms/100).
pub const START_VM: &str = "/api2/json/nodes/n1/qemu/100/status/start";
/// A route that needs VM.Audit on /vms/100 (both tokens have it).
pub const VM_STATUS: &str = "/api2/json/nodes/n1/qemu/100/status/current";
/// A route only root may call.
pub const ROOT_ONLY: &str = "/api2/json/root-only";

/// Headers of a valid request: `Host` and the `Authorization` of a fixture token.
pub fn auth_of(token: &str) -> String {
    format!(
        "Host: gw\r\nAuthorization: {}\r\n",
        Gateway::token_header(token)
    )
}

/// The sentinel request (joe@pve!full, `Connection: close`).
pub fn sentinel() -> String {
    format!(
        "GET {SENTINEL_PATH} HTTP/1.1\r\n{}Connection: close\r\n\r\n",
        auth_of("joe@pve!full")
    )
}

/// One answer of the gateway.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What one raw exchange produced.
#[derive(Debug)]
pub struct Exchange {
    /// The answers, in order (the sentinel's last, unless the gateway closed before it).
    pub answers: Vec<Answer>,
    /// What the upstream received during the exchange.
    pub seen: Vec<Seen>,
}

impl Exchange {
    pub fn statuses(&self) -> Vec<u16> {
        self.answers.iter().map(|a| a.status).collect()
    }

    /// The answers before the sentinel's (all of them if the sentinel got none).
    pub fn attack_answers(&self) -> &[Answer] {
        if self.sentinel_answered() {
            &self.answers[..self.answers.len() - 1]
        } else {
            &self.answers
        }
    }

    /// Whether the last answer is the sentinel's (200 from the echo upstream).
    pub fn sentinel_answered(&self) -> bool {
        self.answers.last().is_some_and(|a| {
            a.status == 200 && String::from_utf8_lossy(&a.body).contains(SENTINEL_PATH)
        })
    }

    /// What the upstream saw besides the sentinel.
    pub fn forwarded(&self) -> Vec<&Seen> {
        let sentinel = self.sentinel_answered();
        let n = self.seen.len() - usize::from(sentinel && !self.seen.is_empty());
        self.seen[..n].iter().collect()
    }
}

/// Send `bytes` followed by the sentinel on one TLS connection (ALPN http/1.1), read until the
/// gateway closes, and return the answers with what the upstream saw meanwhile.
pub async fn exchange(gw: &Gateway, bytes: &[u8]) -> Exchange {
    let mut all = bytes.to_vec();
    all.extend_from_slice(sentinel().as_bytes());
    exchange_exact(gw, &all).await
}

/// [`exchange`] without the sentinel: `bytes` must end the connection itself.
pub async fn exchange_exact(gw: &Gateway, bytes: &[u8]) -> Exchange {
    let before = gw.upstream.count();
    let mut stream = gw.tls_stream(&[b"http/1.1"]).await;
    // The gateway may refuse and close before reading everything: a failed write is an answer.
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    let mut got = Vec::new();
    // A bound, not a synchronisation: every exchange ends in a close well before it.
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 16384];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the gateway neither answered nor closed within 20 s; got {:?}",
        String::from_utf8_lossy(&got)
    );
    let seen = gw.upstream.seen.lock().unwrap()[before..].to_vec();
    let answers = parse_answers(&got);
    for a in &answers {
        let body = String::from_utf8_lossy(&a.body);
        // The suite-wide secrets scan reads the error bodies; and no answer may echo a secret.
        super::gateway_support::recorder::response("attack answer", a.status, &body);
        for id in super::gateway_support::TOKENS {
            let secret = super::gateway_support::secret_of(id);
            assert!(
                !body.contains(&secret),
                "an answer holds the secret of {id}: {body}"
            );
        }
    }
    Exchange { answers, seen }
}

/// Parse consecutive HTTP/1.1 answers (bodies framed by Content-Length or chunked; 1xx, 204
/// and 304 without a body). Stops at the first incomplete or malformed one.
pub fn parse_answers(mut bytes: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = resp.parse(bytes) else {
            return out;
        };
        let status = resp.code.unwrap_or(0);
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect();
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        bytes = &bytes[head_len..];
        let mut body = Vec::new();
        if (100..200).contains(&status) || status == 204 || status == 304 {
            // no body
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let Some(eol) = bytes.windows(2).position(|w| w == b"\r\n") else {
                    return out;
                };
                let size = std::str::from_utf8(&bytes[..eol])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
                let Some(size) = size else { return out };
                bytes = &bytes[eol + 2..];
                if size == 0 {
                    let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
                    bytes = &bytes[(end + 2).min(bytes.len())..];
                    break;
                }
                if bytes.len() < size + 2 {
                    return out;
                }
                body.extend_from_slice(&bytes[..size]);
                bytes = &bytes[size + 2..];
            }
        } else {
            let len = header("content-length").and_then(|v| v.trim().parse().ok());
            let len = len.unwrap_or(bytes.len()).min(bytes.len());
            body.extend_from_slice(&bytes[..len]);
            bytes = &bytes[len..];
        }
        out.push(Answer {
            status,
            headers,
            body,
        });
    }
}

/// Headers that must never reach the upstream from a client: credentials, method overrides,
/// URL rewrites, and spoofable forwarding and identity headers (the gateway sets its own).
pub const NEVER_FORWARDED: [&str; 8] = [
    "authorization",
    "csrfpreventiontoken",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "proxy-authorization",
];

/// Assert that a forwarded request carries no client credential or override header, exactly one
/// identity header with `authid` (any, if `None`), and the gateway's own `X-Forwarded-For`
/// (127.0.0.1).
pub fn assert_clean(case: &str, seen: &Seen, authid: Option<&str>) {
    for name in NEVER_FORWARDED {
        assert!(
            !seen.headers.contains_key(name),
            "{case}: {name} reached the upstream: {:?}",
            seen.headers
        );
    }
    for value in seen.headers.get_all("cookie") {
        let text = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !text.contains("PVEAuthCookie"),
            "{case}: ticket cookie forwarded: {text}"
        );
    }
    for (name, value) in &seen.headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !text.contains("PVEAPIToken") && !text.contains("PVE:"),
            "{case}: credential in {name}: {text}"
        );
    }
    let ids: Vec<_> = seen.headers.get_all("x-aclgate-authid").iter().collect();
    assert_eq!(ids.len(), 1, "{case}: identity headers {ids:?}");
    if let Some(authid) = authid {
        assert_eq!(ids[0], authid, "{case}: identity");
    }
    let xff: Vec<_> = seen.headers.get_all("x-forwarded-for").iter().collect();
    assert!(
        xff.iter().all(|v| *v == "127.0.0.1"),
        "{case}: X-Forwarded-For {xff:?}"
    );
}

/// The request target as the upstream received it, decoded once, without the query.
pub fn seen_path(seen: &Seen) -> String {
    let path = seen.path.split('?').next().unwrap_or_default();
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// What the gateway must do with one case of a table.
#[derive(Debug, Clone)]
pub enum Want {
    /// Answer 4xx (or 501) and forward nothing.
    Refused,
    /// Forward it once, as `(method, request target the upstream receives)`, and answer 200.
    Forwarded(&'static str, String),
    /// Either of the two.
    RefusedOrForwarded(&'static str, String),
}

/// Check one case of a table against what happened; a failure is returned so that a table
/// runs every case and shows every failure at once. Always: no 5xx but 501, and everything
/// forwarded is clean ([`assert_clean`] for `authid`).
pub fn verdict(case: &str, ex: &Exchange, want: &Want, authid: &str) -> Option<String> {
    let describe = || {
        let seen: Vec<_> = ex
            .forwarded()
            .iter()
            .map(|s| (s.method.clone(), s.path.clone()))
            .collect();
        format!(
            "{case}: want {want:?}; answers {:?}, forwarded {seen:?}",
            ex.statuses()
        )
    };
    if ex
        .answers
        .iter()
        .any(|a| a.status >= 500 && a.status != 501)
    {
        return Some(format!("server error: {}", describe()));
    }
    let forwarded = ex.forwarded();
    for seen in &ex.seen {
        // What a refused case forwarded is reported below, whoever it was forwarded as.
        let by_case = forwarded.iter().any(|f| std::ptr::eq(*f, seen));
        let id = match (by_case, matches!(want, Want::Refused)) {
            (false, _) => Some("joe@pve!full"),
            (true, false) => Some(authid),
            (true, true) => None,
        };
        assert_clean(case, seen, id);
    }
    let first = ex.attack_answers().first().map(|a| a.status);
    let refused =
        forwarded.is_empty() && first.is_some_and(|s| (400..500).contains(&s) || s == 501);
    let once = |method: &str, target: &str| {
        forwarded.len() == 1
            && forwarded[0].method == method
            && forwarded[0].path == target
            && first == Some(200)
    };
    let ok = match want {
        Want::Refused => refused,
        Want::Forwarded(m, t) => once(m, t),
        Want::RefusedOrForwarded(m, t) => refused || once(m, t),
    };
    (!ok).then(describe)
}

/// Run a table of `(case, raw request bytes, want)` on one gateway, each followed by the
/// sentinel; panic listing every failing case.
pub async fn run_table(gw: &Gateway, authid: &str, cases: Vec<(String, Vec<u8>, Want)>) {
    let mut failures = Vec::new();
    for (case, bytes, want) in &cases {
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

/// `METHOD TARGET HTTP/1.1` as joe@pve!full with `extra` headers (each ending in CRLF).
pub fn request(method: &str, target: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\n{}{extra}\r\n",
        auth_of("joe@pve!full")
    )
    .into_bytes()
}
