//! HTTP/2 attacks (issue 11, item 3): pseudo-header tricks (`:path` without a leading slash,
//! absolute or `*`, duplicated, after a regular header, empty), upper-case header names,
//! connection-specific headers, `:authority` / `host` disagreement, CR / LF / NUL in values,
//! method case and CONNECT. The frames are written by hand (an HTTP/2 client library refuses to
//! send most of these), header blocks as HPACK literals; the answer is read back far enough to
//! tell a status, a stream reset or a connection error. Each case: refused (4xx, reset or
//! connection error) with nothing forwarded, or forwarded once with exactly the checked path.

mod attack_support;
mod gateway_support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use attack_support::{ROOT_ONLY, assert_clean};
use gateway_support::{Gateway, secret_of};

const VERSION: &str = "/api2/json/version";

/// An HPACK integer with an `n`-bit prefix whose other bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literal fields without indexing, names and values sent as given.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// How the gateway answered stream 1.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Status(u16),
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code.
    GoAway(u32),
    /// The connection closed first.
    Closed,
}

/// The HPACK Huffman codes of the digits (RFC 7541 Appendix B): enough to read a status.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let codes: [(u32, u32); 10] = [
        (0x0, 5),
        (0x1, 5),
        (0x2, 5),
        (0x19, 6),
        (0x1a, 6),
        (0x1b, 6),
        (0x1c, 6),
        (0x1d, 6),
        (0x1e, 6),
        (0x1f, 6),
    ];
    let bits: Vec<u32> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| u32::from((b >> i) & 1)))
        .collect();
    let (mut at, mut out) = (0, String::new());
    while out.len() < 3 {
        let (digit, width) = codes.iter().enumerate().find_map(|(d, (code, w))| {
            let w = *w as usize;
            let got = bits.get(at..at + w)?.iter().fold(0, |acc, b| acc << 1 | b);
            (got == *code).then_some((d, w))
        })?;
        out.push(char::from(b'0' + digit as u8));
        at += width;
    }
    Some(out)
}

/// The `:status` at the start of a response header block.
fn status_of(block: &[u8]) -> Option<u16> {
    let mut block = block;
    // Dynamic table size updates (001xxxxx) may come first.
    while block.first().is_some_and(|b| b & 0xe0 == 0x20) {
        block = &block[1..];
    }
    let first = *block.first()?;
    if first & 0x80 != 0 {
        // Indexed: the static table's statuses.
        return [200, 204, 206, 304, 400, 404, 500]
            .get(usize::from(first & 0x7f).checked_sub(8)?)
            .copied();
    }
    // A literal whose name is static entry 8 (`:status`), in any of the three literal kinds.
    if !matches!(first, 0x48 | 0x08 | 0x18) {
        return None;
    }
    let len = usize::from(block.get(1)? & 0x7f);
    let value = block.get(2..2 + len)?;
    let text = if block[1] & 0x80 != 0 {
        huffman_digits(value)?
    } else {
        String::from_utf8(value.to_vec()).ok()?
    };
    text.parse().ok()
}

/// Send one request as stream 1 on a fresh HTTP/2 connection; return how it was answered.
async fn h2_request(gw: &Gateway, fields: &[(&str, &str)]) -> Outcome {
    let mut stream = gw.tls_stream(&[b"h2"]).await;
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    // END_HEADERS | END_STREAM
    out.extend(frame(0x1, 0x5, 1, &header_block(fields)));
    stream.write_all(&out).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            while buf.len() >= 9 {
                let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
                if buf.len() < 9 + len {
                    break;
                }
                let (kind, flags) = (buf[3], buf[4]);
                let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
                let payload = buf[9..9 + len].to_vec();
                buf.drain(..9 + len);
                let code = || u32::from_be_bytes(payload[..4].try_into().unwrap());
                match (kind, id) {
                    (0x4, 0) if flags & 0x1 == 0 => {
                        let _ = stream.write_all(&frame(0x4, 0x1, 0, &[])).await;
                    }
                    (0x1, 1) => {
                        // Skip padding and priority fields when flagged.
                        let mut block = &payload[..];
                        if flags & 0x8 != 0 {
                            let pad = usize::from(block[0]);
                            block = &block[1..block.len() - pad];
                        }
                        if flags & 0x20 != 0 {
                            block = &block[5..];
                        }
                        return status_of(block).map_or(Outcome::Status(0), Outcome::Status);
                    }
                    (0x3, 1) => return Outcome::Reset(code()),
                    (0x7, _) => {
                        return Outcome::GoAway(u32::from_be_bytes(
                            payload[4..8].try_into().unwrap(),
                        ));
                    }
                    _ => {}
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Outcome::Closed,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.expect("an answer to stream 1 within 20 s")
}

/// Header fields of one request, in order.
type Fields = Vec<(&'static str, String)>;

fn base(path: &str) -> Fields {
    vec![
        (":method", "GET".to_owned()),
        (":scheme", "https".to_owned()),
        (":authority", "gw".to_owned()),
        (":path", path.to_owned()),
        (
            "authorization",
            format!("PVEAPIToken=joe@pve!full={}", secret_of("joe@pve!full")),
        ),
    ]
}

#[tokio::test]
async fn http2_pseudo_header_and_field_tricks() {
    let gw = Gateway::start().await;
    let token = base(VERSION)[4].1.clone();
    let with = |path: &str, extra: &[(&'static str, &str)]| {
        let mut f = base(path);
        f.extend(extra.iter().map(|(n, v)| (*n, (*v).to_owned())));
        f
    };
    let without = |name: &str, path: &str| {
        let mut f = base(path);
        f.retain(|(n, _)| *n != name);
        f
    };
    let mut cases: Vec<(&str, Fields, Option<&str>)> = vec![
        ("control", base(VERSION), Some(VERSION)),
        (
            "path without leading slash",
            base("api2/json/version"),
            None,
        ),
        ("asterisk path with GET", base("*"), None),
        (
            "absolute path",
            base(&format!("https://gw{ROOT_ONLY}")),
            None,
        ),
        ("empty path", base(""), None),
        (
            "encoded slash",
            base("/api2/json/nodes/n1/qemu/1%2F2/status/current"),
            None,
        ),
        (
            "dot segments",
            base(&format!("{ROOT_ONLY}/../version")),
            None,
        ),
        (
            "duplicate :path",
            with(VERSION, &[(":path", ROOT_ONLY)]),
            None,
        ),
        (
            "duplicate :method",
            with(VERSION, &[(":method", "DELETE")]),
            None,
        ),
        ("no :scheme", without(":scheme", VERSION), None),
        ("no :path", without(":path", VERSION), None),
        (
            "unknown pseudo-header",
            with(VERSION, &[(":protocol", "websocket")]),
            None,
        ),
        (
            "upper-case name",
            with(VERSION, &[("X-HTTP-Method-Override", "DELETE")]),
            None,
        ),
        (
            "connection",
            with(VERSION, &[("connection", "keep-alive")]),
            None,
        ),
        (
            "transfer-encoding",
            with(VERSION, &[("transfer-encoding", "chunked")]),
            None,
        ),
        (
            "keep-alive",
            with(VERSION, &[("keep-alive", "timeout=5")]),
            None,
        ),
        ("upgrade", with(VERSION, &[("upgrade", "websocket")]), None),
        (
            "proxy-connection",
            with(VERSION, &[("proxy-connection", "keep-alive")]),
            None,
        ),
        (
            "te other than trailers",
            with(VERSION, &[("te", "gzip")]),
            None,
        ),
        (
            "CR LF in a value",
            with(VERSION, &[("x-a", "a\r\nx-http-method-override: DELETE")]),
            None,
        ),
        ("NUL in a value", with(VERSION, &[("x-a", "a\0b")]), None),
        (
            "lower-case method",
            {
                let mut f = base(VERSION);
                f[0].1 = "get".to_owned();
                f
            },
            None,
        ),
        (
            "CONNECT",
            vec![
                (":method", "CONNECT".to_owned()),
                (":authority", gw.upstream.addr.to_string()),
                ("authorization", token.clone()),
            ],
            None,
        ),
        ("denied route (control)", base(ROOT_ONLY), None),
    ];
    // Pseudo-header after a regular one.
    let mut late = base(VERSION);
    let path = late.remove(3);
    late.push(path);
    cases.push(("pseudo-header after a regular one", late, None));
    // `host` disagreeing with `:authority`: refused, or forwarded with the gateway's own Host.
    let mut failures = Vec::new();
    for (case, fields, forwarded) in &cases {
        let before = gw.upstream.count();
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let outcome = h2_request(&gw, &pairs).await;
        let seen = gw.upstream.seen.lock().unwrap()[before..].to_vec();
        let ok = match forwarded {
            Some(path) => {
                outcome == Outcome::Status(200) && seen.len() == 1 && seen[0].path == *path
            }
            None => {
                let refused = match outcome {
                    Outcome::Status(s) => (400..500).contains(&s),
                    Outcome::Reset(_) | Outcome::GoAway(_) | Outcome::Closed => true,
                };
                refused && seen.is_empty()
            }
        };
        for s in &seen {
            assert_clean(case, s, Some("joe@pve!full"));
        }
        if !ok {
            let paths: Vec<_> = seen.iter().map(|s| (&s.method, &s.path)).collect();
            failures.push(format!("{case}: {outcome:?}, forwarded {paths:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    gw.shutdown().await;
}

/// RFC 9113 §8.3.1: a `host` naming another entity than `:authority` should make the request
/// malformed; whatever the gateway does, the upstream gets the gateway's own `Host`.
#[tokio::test]
async fn http2_host_and_authority_disagree() {
    let gw = Gateway::start().await;
    let mut fields = base(VERSION);
    fields.push(("host", "evil.example".to_owned()));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let before = gw.upstream.count();
    let outcome = h2_request(&gw, &pairs).await;
    let seen = gw.upstream.seen.lock().unwrap()[before..].to_vec();
    match outcome {
        Outcome::Status(200) => {
            assert_eq!(seen.len(), 1);
            let hosts: Vec<_> = seen[0].headers.get_all("host").iter().collect();
            assert_eq!(
                hosts,
                [gw.upstream.addr.to_string().as_str()],
                "{:?}",
                seen[0].headers
            );
            assert_clean("host", &seen[0], Some("joe@pve!full"));
        }
        other => assert!(seen.is_empty(), "{other:?} but forwarded {seen:?}"),
    }
    gw.shutdown().await;
}
