//! How the gateway reads upstream responses on a client connection's own upstream connection:
//! every body framing of RFC 9112 (length, chunked with extensions and trailers, until close),
//! informational responses, malformed or ambiguous answers (502, never passed on), a body cut
//! short (the client sees an error, not a complete response), and connection reuse.
//!
//! The upstream is a real TCP server that answers with scripted bytes, chosen per request by
//! the `x-script` header, so that answers no well-behaved server library would produce can be
//! sent.

mod gateway_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use gateway_support::Gateway;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

#[tokio::test]
async fn chunked_body_is_decoded_and_the_connection_reused() {
    let (gw, upstream) = start().await;
    let mut conn = gw.h1_connection().await;
    let (status, body) = get(&mut conn, "chunked").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "hello world"));
    let (status, body) = get(&mut conn, "length").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(upstream.accepted(), 1, "the connection was not reused");
}

#[tokio::test]
async fn informational_responses_are_skipped() {
    let (gw, _upstream) = start().await;
    let mut conn = gw.h1_connection().await;
    let (status, body) = get(&mut conn, "early-hints").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn a_body_until_close_is_complete_and_the_next_request_gets_a_new_connection() {
    let (gw, upstream) = start().await;
    let mut conn = gw.h1_connection().await;
    let (status, body) = get(&mut conn, "until-close").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "streamed until close"));
    let (status, _) = get(&mut conn, "length").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_silently_is_replaced() {
    let (gw, upstream) = start().await;
    let mut conn = gw.h1_connection().await;
    let (status, _) = get(&mut conn, "length-then-close").await.unwrap();
    assert_eq!(status, 200);
    let (status, body) = get(&mut conn, "length").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn malformed_or_ambiguous_answers_are_502() {
    let (gw, _upstream) = start().await;
    for script in [
        "ambiguous",
        "garbage",
        "bad-chunk-size",
        "closed-before-answer",
    ] {
        let mut conn = gw.h1_connection().await;
        let got = get(&mut conn, script).await;
        let status = got.as_ref().map(|(s, _)| *s);
        // A bad chunk is found only once the head has gone out: the client must then see
        // the response fail, never a complete body.
        match script {
            "bad-chunk-size" => assert!(got.is_err(), "{script}: got {got:?}"),
            _ => assert_eq!(status.ok(), Some(502), "{script}: got {got:?}"),
        }
    }
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_for_the_client() {
    let (gw, _upstream) = start().await;
    let mut conn = gw.h1_connection().await;
    let got = get(&mut conn, "truncated").await;
    assert!(
        got.is_err(),
        "a truncated body arrived as complete: {got:?}"
    );
}

#[tokio::test]
async fn a_streamed_request_body_reaches_the_upstream_whole() {
    // The shared echo upstream records bodies.
    let gw = Gateway::start().await;
    let mut conn = gw.h1_connection().await;
    let body = "x".repeat(100_000);
    let req = http::Request::post("/api2/json/nodes/n1/qemu/100/status/start")
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    conn.ready().await.unwrap();
    let resp = conn.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = gw.upstream.seen.lock().unwrap().clone();
    let last = seen.last().expect("the request reached the upstream");
    assert_eq!(last.body.len(), body.len());
}

/// The gateway with the scripted upstream.
async fn start() -> (Gateway, Scripted) {
    let upstream = Scripted::start().await;
    let url = format!("http://{}", upstream.addr);
    let gw = Gateway::start_with(|c| c.upstream.url = url).await;
    (gw, upstream)
}

/// Status and body of a GET asking the upstream for `script`; `Err` if the response failed.
async fn get(
    conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    script: &str,
) -> Result<(u16, String), String> {
    let req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .header("x-script", script)
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.ready().await.map_err(|e| e.to_string())?;
    let resp = conn.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A TCP server answering each request with the bytes its `x-script` header names.
struct Scripted {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Scripted {
    async fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(tcp));
            }
        });
        Scripted { addr, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Answer requests (heads only: the scripts are for GETs) until a script closes.
async fn serve(mut tcp: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        buf.drain(..head_end);
        let script = head
            .lines()
            .find_map(|l| l.strip_prefix("x-script: "))
            .unwrap_or("length")
            .trim()
            .to_owned();
        let (answer, close): (&[u8], bool) = match script.as_str() {
            "chunked" => (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n",
                false,
            ),
            "early-hints" => (
                b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                false,
            ),
            "until-close" => (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed until close",
                true,
            ),
            "length-then-close" => (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
            "ambiguous" => (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n0\r\n\r\n",
                true,
            ),
            "garbage" => (b"NOT HTTP AT ALL\r\n\r\n", true),
            "bad-chunk-size" => (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
                true,
            ),
            "closed-before-answer" => (b"", true),
            "truncated" => (
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
                true,
            ),
            _ => (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        };
        if tcp.write_all(answer).await.is_err() {
            return;
        }
        if close {
            let _ = tcp.shutdown().await;
            return;
        }
    }
}
