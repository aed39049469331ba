//! Property (issue 11, item 2): for random request paths, the path the upstream receives is the
//! path the gateway checked. Against the real gateway and a recording upstream, over TLS: each
//! generated path is sent with a token that may read every VM; an allowed request must reach the
//! upstream with a path that, decoded once, is exactly the normalised (checked) path, and a
//! refused one must not reach it at all.

mod gateway_support;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::runtime::Runtime;

use aclgate::proxy::normalise;
use gateway_support::{Gateway, Seen};

/// A path segment of the kind attacks use; each still names a VM route when normalised.
fn node() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "pve", "n1", "%71", "%41", "%2e", "%2E", "%25", "%2541", ";x=1", "..;", "~", "%7e",
            "-", "_", ".", "%20", "a%3bb",
        ]),
        1..4,
    )
    .prop_map(|v| v.concat())
}

fn raw_path() -> impl Strategy<Value = String> {
    (
        node(),
        100u32..103,
        prop::sample::select(vec!["", "/", "//"]),
    )
        .prop_map(|(n, vmid, tail)| {
            format!("/api2/json/nodes/{n}/qemu/{vmid}/status/current{tail}")
        })
}

struct Fixture {
    rt: Runtime,
    gw: Gateway,
    conn: Mutex<SendRequest<Full<Bytes>>>,
}

fn fixture() -> Arc<Fixture> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let gw = rt.block_on(Gateway::start());
    let conn = rt.block_on(gw.h1_connection());
    Arc::new(Fixture {
        rt,
        gw,
        conn: Mutex::new(conn),
    })
}

/// Send `raw`; the status and what reached the upstream for it, if anything.
fn send(f: &Fixture, raw: &str) -> (u16, Option<Seen>) {
    let before = f.gw.upstream.count();
    let req = http::Request::get(raw)
        .header(HOST, "127.0.0.1")
        .header(AUTHORIZATION, Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let mut conn = f.conn.lock().expect("connection");
    let status = f.rt.block_on(async {
        conn.ready().await.expect("connection ready");
        let resp = conn.send_request(req).await.expect("response");
        resp.status().as_u16()
    });
    let seen = f.gw.upstream.seen.lock().expect("seen");
    let reached = (seen.len() > before).then(|| seen[seen.len() - 1].clone());
    (status, reached)
}

fn run(check: impl Fn(&str, Result<String, ()>, u16, Option<Seen>) -> Result<(), TestCaseError>) {
    let f = fixture();
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&raw_path(), |raw| {
        if http::Uri::try_from(raw.as_str()).is_err() {
            return Ok(());
        }
        let checked = normalise(&raw).map_err(|_| ());
        let (status, seen) = send(&f, &raw);
        check(&raw, checked, status, seen)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A path the normaliser refuses never reaches the upstream; one it accepts does (the token
/// may read every VM).
#[test]
fn refused_paths_never_reach_the_upstream() {
    run(|raw, checked, status, seen| {
        match checked {
            Err(()) => {
                prop_assert!(seen.is_none(), "{raw} was refused but forwarded");
                prop_assert!((400..500).contains(&status), "{raw}: {status}");
            }
            Ok(_) => prop_assert!(
                seen.is_some(),
                "{raw} was allowed ({status}) but not forwarded"
            ),
        }
        Ok(())
    });
}

/// The upstream, decoding the path once as any server does, sees exactly the checked path:
/// no trailing slash the check did not see, nothing decoded differently.
#[test]
fn upstream_decodes_to_the_checked_path() {
    run(|raw, checked, _status, seen| {
        if let (Ok(checked), Some(seen)) = (checked, seen) {
            let got = percent_decode_str(&seen.path)
                .decode_utf8_lossy()
                .into_owned();
            prop_assert_eq!(&got, &checked, "{} forwarded as {}", raw, seen.path);
        }
        Ok(())
    });
}

/// The forwarded path is in canonical form: no percent-encoded unreserved character (which the
/// check saw decoded) and no `;` parameters after a `..`.
#[test]
fn forwarded_path_is_canonical() {
    run(|raw, checked, _status, seen| {
        if let (Ok(_), Some(seen)) = (checked, seen) {
            let lower = seen.path.to_ascii_lowercase();
            for i in 0..lower.len() {
                if let Some(hex) = lower
                    .get(i + 1..i + 3)
                    .filter(|_| lower.as_bytes()[i] == b'%')
                {
                    let byte = u8::from_str_radix(hex, 16).unwrap_or(0);
                    prop_assert!(
                        !(byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)),
                        "{} forwarded with an encoded unreserved character: {}",
                        raw,
                        seen.path
                    );
                }
            }
            prop_assert!(
                !seen.path.contains("..;"),
                "{} forwarded as {}",
                raw,
                seen.path
            );
        }
        Ok(())
    });
}
