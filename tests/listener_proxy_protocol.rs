//! The PROXY protocol on the TLS listener, with Debian's haproxy as the real sender
//! (`send-proxy` = v1, `send-proxy-v2`) in TCP mode in front of the gateway. Loopback
//! addresses stand for the machines: 127.0.0.2 is the trusted balancer, 127.0.0.5 an
//! untrusted one, 127.0.0.3 and 127.0.0.4 are clients. The client address from the header
//! feeds the token's `allowed-ips`, `X-Forwarded-For`, the per-source connection cap and the
//! access log; a connection without a header, or from an untrusted peer, is refused.

mod gateway_support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use aclgate::config::cidr::Cidr;
use gateway_support::Gateway;

const PATH: &str = "/api2/json/version";
const BALANCER: &str = "127.0.0.2";
const UNTRUSTED_BALANCER: &str = "127.0.0.5";
const CLIENT: &str = "127.0.0.3";
const OTHER_CLIENT: &str = "127.0.0.4";

/// haproxy in TCP mode: one frontend per way of reaching the gateway.
struct Haproxy {
    child: Child,
    /// `send-proxy` from the trusted balancer address.
    v1: u16,
    /// `send-proxy-v2` from the trusted balancer address.
    v2: u16,
    /// No header, from the trusted balancer address.
    bare: u16,
    /// `send-proxy-v2` from an untrusted address.
    untrusted: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Haproxy {
    /// haproxy on four free ports. A port picked here can be taken before haproxy binds it
    /// (haproxy then exits): started again on fresh ports, up to three times.
    async fn start(gw: SocketAddr) -> Haproxy {
        let mut attempt = 1;
        loop {
            match Haproxy::try_start(gw).await {
                Ok(h) => return h,
                Err(status) if attempt < 3 => {
                    eprintln!("haproxy exited at start ({status}); again on fresh ports");
                    attempt += 1;
                }
                Err(status) => panic!("haproxy exited at start ({status}), three times"),
            }
        }
    }

    async fn try_start(gw: SocketAddr) -> Result<Haproxy, std::process::ExitStatus> {
        let (v1, v2, bare, untrusted) = (free_port(), free_port(), free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = String::from(
            "global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\n",
        );
        for (name, port, source, send) in [
            ("v1", v1, BALANCER, "send-proxy"),
            ("v2", v2, BALANCER, "send-proxy-v2"),
            ("bare", bare, BALANCER, ""),
            ("untrusted", untrusted, UNTRUSTED_BALANCER, "send-proxy-v2"),
        ] {
            cfg += &format!(
                "frontend {name}\n  bind 127.0.0.1:{port}\n  default_backend gw_{name}\n\
                 backend gw_{name}\n  server gw {gw} {send} source {source}\n"
            );
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(cfg.as_bytes())
            .unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (Debian package `haproxy`, installed by scripts/test.sh)");
        let mut h = Haproxy {
            child,
            v1,
            v2,
            bare,
            untrusted,
            _dir: dir,
        };
        // Ready once every frontend accepts; an exit on the way is a failed start.
        let ready = async {
            for port in [v1, v2, bare, untrusted] {
                while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                    if let Some(status) = h.child.try_wait().unwrap() {
                        return Err(status);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("haproxy did not start")?;
        Ok(h)
    }
}

/// A gateway whose TLS listener expects the header from `BALANCER`; `joe@pve!full` may be
/// used from `CLIENT` only.
async fn gateway(tweak: impl FnOnce(&mut aclgate::config::gateway::GatewayConfig)) -> Gateway {
    capture_access_log();
    Gateway::start_with(|c| {
        c.listeners.proxy_protocol.listen = true;
        c.trusted_proxies = vec![format!("{BALANCER}/32").parse::<Cidr>().unwrap()];
        std::fs::write(
            c.state.dir.join("token-options.cfg"),
            format!("token: joe@pve!full\n\tallowed-ips {CLIENT}/32\n\n"),
        )
        .unwrap();
        tweak(c);
    })
    .await
}

/// An HTTP/1.1 connection over TLS to `127.0.0.1:port`, from `source`.
async fn connect(
    gw: &Gateway,
    port: u16,
    source: &str,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    let tcp = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(gw.tls_client_config(&[b"http/1.1"]));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "tls handshake timed out".to_owned())?
        .map_err(|e| format!("tls: {e}"))?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("http: {e}"))?;
    tokio::spawn(conn);
    Ok(send)
}

/// Status of a token-authenticated GET.
async fn get(conn: &mut SendRequest<Full<Bytes>>) -> Result<u16, String> {
    let req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.ready().await.map_err(|e| e.to_string())?;
    let resp = conn.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

/// The `X-Forwarded-For` of the upstream's latest request.
fn last_forwarded_for(gw: &Gateway) -> String {
    let seen = gw.upstream.seen.lock().unwrap();
    let last = seen.last().expect("the upstream got a request");
    last.headers
        .get("x-forwarded-for")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn v1_and_v2_from_a_trusted_proxy_carry_the_client_address() {
    let gw = gateway(|_| {}).await;
    let haproxy = Haproxy::start(gw.addr).await;
    for (version, port) in [("v1", haproxy.v1), ("v2", haproxy.v2)] {
        let mut conn = connect(&gw, port, CLIENT).await.unwrap();
        let status = get(&mut conn).await.unwrap();
        assert_eq!(status, 200, "{version}: allowed-ips saw {CLIENT}");
        assert_eq!(last_forwarded_for(&gw), CLIENT, "{version}");
        // A second request on the connection: same client.
        assert_eq!(get(&mut conn).await.unwrap(), 200, "{version}");

        // Another client through the same balancer is not the token's allowed address.
        let mut other = connect(&gw, port, OTHER_CLIENT).await.unwrap();
        assert_eq!(get(&mut other).await.unwrap(), 401, "{version}");
    }
    let log = access_lines();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("client=\"{CLIENT}\"")) && l.contains("status=200")),
        "no access line with the client address: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("client=\"{OTHER_CLIENT}\"")) && l.contains("status=401")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn without_a_header_or_from_an_untrusted_peer_is_refused() {
    let gw = gateway(|_| {}).await;
    let haproxy = Haproxy::start(gw.addr).await;
    // From the trusted balancer, but without the header.
    assert!(connect(&gw, haproxy.bare, CLIENT).await.is_err());
    // A header from a balancer not in trusted_proxies is never believed.
    assert!(connect(&gw, haproxy.untrusted, CLIENT).await.is_err());
    // A client that writes its own header straight to the gateway (untrusted 127.0.0.1).
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(format!("PROXY TCP4 {CLIENT} 127.0.0.1 40000 8006\r\n").as_bytes())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(gw.tls_client_config(&[b"http/1.1"]));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let hs = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp)).await;
    assert!(matches!(hs, Ok(Err(_))), "untrusted peer's header accepted");
    // The proxied path still works, so the refusals were not a broken gateway.
    let mut conn = connect(&gw, haproxy.v2, CLIENT).await.unwrap();
    assert_eq!(get(&mut conn).await.unwrap(), 200);
}

#[tokio::test]
async fn the_per_source_cap_counts_the_header_source() {
    let gw = gateway(|c| c.limits.max_connections_per_source = 1).await;
    let haproxy = Haproxy::start(gw.addr).await;
    let mut first = connect(&gw, haproxy.v2, CLIENT).await.unwrap();
    assert_eq!(get(&mut first).await.unwrap(), 200);
    // The same client again, over the cap: closed. The balancer's own address is not what
    // counts, so another client through it gets in.
    assert!(connect(&gw, haproxy.v1, CLIENT).await.is_err());
    let mut other = connect(&gw, haproxy.v1, OTHER_CLIENT).await.unwrap();
    assert_eq!(
        get(&mut other).await.unwrap(),
        401,
        "served (token not allowed there)"
    );
    // Once the first closes, the client may connect again.
    drop(first);
    let again = async {
        loop {
            if let Ok(mut c) = connect(&gw, haproxy.v2, CLIENT).await
                && let Ok(200) = get(&mut c).await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), again)
        .await
        .expect("slot not freed when the first connection closed");
}

#[test]
fn proxy_protocol_needs_trusted_proxies() {
    // Refused when the file is read (parse validates), naming the setting.
    let err = aclgate::config::gateway::GatewayConfig::parse(
        "[listeners.proxy_protocol]\nlisten = true\n",
    )
    .unwrap_err();
    assert!(err.contains("listeners.proxy_protocol"), "{err}");
    let good = aclgate::config::gateway::GatewayConfig::parse(
        "trusted_proxies = [\"10.0.0.0/8\"]\n[listeners.proxy_protocol]\nhttp_listen = true\n",
    )
    .unwrap();
    good.validate().unwrap();
    assert!(good.listeners.proxy_protocol.http_listen && !good.listeners.proxy_protocol.listen);
}

// --- the access log, as the tracing events the gateway emits in-process ---------------------

static LINES: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_access_log() {
    LINES.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("aclgate::access=info"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    });
}

fn access_lines() -> Vec<String> {
    let buf = LINES.get().unwrap().lock().unwrap();
    String::from_utf8_lossy(&buf)
        .lines()
        .filter(|l| l.contains("aclgate::access"))
        .map(str::to_owned)
        .collect()
}
