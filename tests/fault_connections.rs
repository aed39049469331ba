//! 10,000 concurrent TLS connections held open against a gateway process (issue 11 item 3):
//! every one completes its handshake and a request, stays usable, and the gateway's resident
//! memory stays within a per-connection bound.
//!
//! The gateway runs as its own process (`aclgate serve`), so its memory is measured alone
//! (`VmRSS` in /proc) and each process has its own descriptor limit. Client sockets are spread
//! over source addresses 127.0.0.2–127.0.0.201, as many real clients would be.

mod notify_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use notify_support::{Notify, ready_tls_port};
use tokio::net::TcpSocket;

const CONNECTIONS: usize = 10_000;
/// Most resident memory the gateway may add per held connection (TLS buffers, HTTP/1 state,
/// task); measured about 40 KiB in a debug build (docs/faults.md).
const MAX_BYTES_PER_CONNECTION: u64 = 96 * 1024;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn tls_config(ca: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    // P-256 key exchange: ring's assembly for it is fast even in a debug build, where the
    // portable C of X25519 is compiled without optimisation (3x slower handshakes).
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![rustls::crypto::ring::kx_group::SECP256R1];
    let provider = Arc::new(provider);
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn open(addr: SocketAddr, source: Ipv4Addr, tls: Arc<rustls::ClientConfig>) -> Sender {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    assert_eq!(healthz(&mut send).await, 200);
    send
}

async fn healthz(send: &mut Sender) -> u16 {
    send.ready().await.unwrap();
    let req = http::Request::get("/healthz")
        .header("host", "gw")
        .body(Empty::new())
        .unwrap();
    send.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_within_memory_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let notify = Notify::bind(dir.path());
    let config = r#"
listen = "127.0.0.1:0"
policies = ["policy.toml"]
[state]
dir = "state"
[upstream]
url = "http://127.0.0.1:9"
[limits]
max_connections = 20000
header_read_timeout_ms = 300000
# Opening 10k TLS connections can take minutes on a loaded machine: the first ones must still
# be open (not closed as idle) when the test asks every 100th of them again.
keepalive_timeout_ms = 900000
"#;
    std::fs::write(dir.path().join("aclgate.toml"), config).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[[route]]\nmethod = \"GET\"\npath = \"/version\"\nuser = \"all\"\n",
    )
    .unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("serve")
            .arg("--config")
            .arg(dir.path().join("aclgate.toml"))
            .env("NOTIFY_SOCKET", notify.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port = ready_tls_port(&notify.message().expect("gateway did not start"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ca = std::fs::read(dir.path().join("certs/aclgate.crt")).unwrap();
    let tls = tls_config(&ca);
    let pid = server.0.id();
    // A few connections first, so one-time allocations are in the baseline.
    let mut warm = Vec::new();
    for i in 0..50 {
        warm.push(
            open(
                addr,
                Ipv4Addr::new(127, 0, 0, 2 + (i % 200) as u8),
                tls.clone(),
            )
            .await,
        );
    }
    let baseline = rss_bytes(pid);

    let t0 = Instant::now();
    let mut held = Vec::with_capacity(CONNECTIONS);
    let mut batch = Vec::new();
    for i in 0..CONNECTIONS {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 200) as u8);
        batch.push(tokio::spawn(open(addr, source, tls.clone())));
        if batch.len() == 100 {
            for b in batch.drain(..) {
                held.push(b.await.unwrap());
            }
        }
    }
    for b in batch.drain(..) {
        held.push(b.await.unwrap());
    }
    let opened = t0.elapsed();
    let rss = rss_bytes(pid);
    let per = rss.saturating_sub(baseline) / CONNECTIONS as u64;
    eprintln!(
        "{CONNECTIONS} connections in {opened:?}: gateway RSS {} MiB -> {} MiB, {} KiB per connection",
        baseline >> 20,
        rss >> 20,
        per >> 10
    );
    assert!(
        per <= MAX_BYTES_PER_CONNECTION,
        "{per} bytes per connection (bound {MAX_BYTES_PER_CONNECTION})"
    );
    // Every 100th held connection still answers, and a new one is still served.
    for send in held.iter_mut().step_by(100) {
        assert_eq!(healthz(send).await, 200);
    }
    let mut fresh = open(addr, Ipv4Addr::new(127, 0, 0, 250), tls.clone()).await;
    assert_eq!(healthz(&mut fresh).await, 200);
}
