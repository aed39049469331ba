//! Shared fixture for the gateway tests: a temp state dir, policy, self-signed certificate, a
//! real echo upstream on 127.0.0.1:0 that records what reached it, and the gateway started
//! in-process on 127.0.0.1:0 (mini-redis style).

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};

use aclgate::config::TokenShadow;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload::{self, ReloadHandle};
use aclgate::server::{self, Listeners};
use aclgate::snapshot::SnapshotReader;

/// Recording for the suite-wide secrets scan (only when `ACLGATE_SECRETS_DIR` is set).
// Several harnesses of one test binary may include it: one copy each, by design.
#[allow(clippy::duplicate_mod)]
#[path = "../secrets_support/mod.rs"]
pub mod recorder;

pub const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:joe@pve:1:0:::::
user:old@pve:1:1000:::::
user:off@pve:0:0:::::
token:joe@pve!monitoring:0:1::
token:joe@pve!full:0:0::
token:joe@pve!expired:1000:1::
token:old@pve!tk:0:0::
token:off@pve!tk:0:0::
acl:1:/vms:joe@pve:PVEVMAdmin:
acl:1:/vms:joe@pve!monitoring:PVEAuditor:
";

pub const POLICY: &str = r#"
prefix = "/api2/json"

[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/status/current"
check = ["perm", "/vms/{vmid}", ["VM.Audit"]]

[[route]]
method = "POST"
path = "/nodes/{node}/qemu/{vmid}/status/start"
check = ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]

[[route]]
method = "POST"
path = "/nodes/{node}/qemu"
check = ["perm", "/vms/{vmid}", ["VM.Allocate"]]
params = ["vmid"]

[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/any"
check = ["perm", "/vms/{vmid}", ["VM.PowerMgmt", "VM.Audit"], "any", 1]

[[route]]
method = "GET"
path = "/access/users/{userid}/self"
check = ["userid-param", "self"]

[[route]]
method = "POST"
path = "/access/users"
check = ["userid-group", ["User.Modify"], "groups_param", "create"]
params = ["userid", "groups"]

[[route]]
method = "PUT"
path = "/access/acl"
check = ["perm-modify", "{path}"]
params = ["path"]

[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/either"
check = ["or", ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]], ["perm", "/vms/{vmid}", ["VM.Audit"]]]

[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/both"
check = ["and", ["perm", "/vms/{vmid}", ["VM.Audit"]], ["perm", "/", ["Sys.Audit"]]]

[[route]]
method = "GET"
path = "/version"
user = "all"

[[route]]
method = "GET"
path = "/access/domains"
user = "world"

[[route]]
method = "GET"
path = "/ticket-only"
user = "all"
allowtoken = false

[[route]]
method = "GET"
path = "/root-only"

[[route]]
method = "GET"
path = "/hold"
user = "all"

[[route]]
method = "GET"
path = "/ws"
user = "all"
websocket = true
"#;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// The echo upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub arrivals: mpsc::UnboundedReceiver<Seen>,
    /// Released by the test to let `/api2/json/hold` answer.
    pub release: Arc<Notify>,
    /// Connections accepted so far.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, arrivals) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (seen2, release2, accepted2) = (seen.clone(), release.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                accepted2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (seen, tx, release) = (seen2.clone(), tx.clone(), release2.clone());
                tokio::spawn(async move {
                    let svc =
                        service_fn(move |req| echo(req, seen.clone(), tx.clone(), release.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Upstream {
            addr,
            seen,
            arrivals,
            release,
            accepted,
        }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn echo(
    mut req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tx: mpsc::UnboundedSender<Seen>,
    release: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().to_string();
    let headers = req.headers().clone();
    if req.headers().contains_key(http::header::UPGRADE) {
        let key = req.headers().get("sec-websocket-key").cloned().unwrap();
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let up = on.await.unwrap();
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                TokioIo::new(up),
                tokio_tungstenite::tungstenite::protocol::Role::Server,
                None,
            )
            .await;
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_text() || msg.is_binary() {
                    ws.send(msg).await.unwrap();
                }
            }
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let s = Seen {
            method,
            path,
            headers,
            body: Bytes::new(),
        };
        seen.lock().unwrap().push(s.clone());
        let _ = tx.send(s);
        return Ok(Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept)
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let s = Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
        body: body.clone(),
    };
    seen.lock().unwrap().push(s.clone());
    let _ = tx.send(s);
    if path.ends_with("/hold") {
        release.notified().await;
    }
    let out = serde_json::json!({
        "method": method,
        "path": path,
        "body": String::from_utf8_lossy(&body),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-upstream", "echo")
        .body(Full::new(Bytes::from(out.to_string())))
        .unwrap())
}

/// A running gateway with its files.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub reader: SnapshotReader,
    pub reload: ReloadHandle,
    pub upstream: Upstream,
    pub ca: reqwest::Certificate,
    pub ca_der: Vec<u8>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub secrets: Vec<(String, String)>,
}

/// Secrets the fixture stores (tests send them).
pub const TOKENS: [&str; 5] = [
    "joe@pve!monitoring",
    "joe@pve!full",
    "joe@pve!expired",
    "old@pve!tk",
    "off@pve!tk",
];

pub fn secret_of(id: &str) -> String {
    // Deterministic per token id, shaped like the real ones.
    let h = hex_of(id);
    format!("{}-0000-4000-8000-000000000000", &h[..8])
}

fn hex_of(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

pub fn shadow_text(ids: &[&str]) -> String {
    let mut shadow = TokenShadow::default();
    for id in ids {
        shadow.set_secret(&id.parse().unwrap(), &secret_of(id));
    }
    shadow.write()
}

/// Write `text` to `path` the way the CLI does: temp file in the same dir + rename.
pub fn write_atomic(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

impl Gateway {
    pub async fn start() -> Gateway {
        Gateway::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut GatewayConfig)) -> Gateway {
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_atomic(&root.join("state/user.cfg"), USER_CFG);
        write_atomic(&root.join("state/priv/token.shadow"), &shadow_text(&TOKENS));
        write_atomic(&root.join("policies/test.toml"), POLICY);
        let cert = root.join("certs/aclgate.crt");
        let key = root.join("certs/aclgate.key");
        aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
        record_fixture_secrets(&key);

        let mut cfg = GatewayConfig::default();
        cfg.state.dir = root.join("state");
        cfg.policies = vec![root.join("policies/test.toml")];
        cfg.tls.cert = cert.clone();
        cfg.tls.key = key;
        cfg.upstream.url = format!("http://{}", upstream.addr);
        cfg.auth.failure_delay_ms = 0;
        tweak(&mut cfg);

        let (reader, reload) = reload::start(Arc::new(cfg), Arc::new(Metrics::new())).unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, admin_addr) = (tls.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: Some(admin),
        };
        let r = reader.clone();
        let task = tokio::spawn(async move {
            server::run(listeners, r, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let pem = std::fs::read(&cert).unwrap();
        let ca_der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        Gateway {
            dir,
            addr,
            admin: admin_addr,
            reader,
            reload,
            upstream,
            ca: reqwest::Certificate::from_pem(&pem).unwrap(),
            ca_der,
            stop: Some(stop),
            task,
            secrets: Vec::new(),
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.addr.port(), path)
    }

    /// A reqwest client trusting the gateway's certificate.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.ca.clone())
            .build()
            .unwrap()
    }

    /// `Authorization` header value for a fixture token.
    pub fn token_header(id: &str) -> String {
        format!("PVEAPIToken={}={}", id, secret_of(id))
    }

    /// A rustls client config trusting the gateway's certificate.
    pub fn tls_client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A raw TLS stream to the gateway.
    pub async fn tls_stream(
        &self,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(self.tls_client_config(alpn));
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await.unwrap()
    }

    /// One HTTP/1.1 keep-alive connection (everything sent on it uses the same TCP connection).
    pub async fn h1_connection(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let stream = self.tls_stream(&[b"http/1.1"]).await;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        send
    }

    /// Reload now and return the new generation.
    pub async fn reload(&self) -> Result<u64, String> {
        self.reload.reload().await
    }

    pub async fn shutdown(mut self) {
        recorder::output(
            "gateway metrics at shutdown",
            &self.reader.runtime().metrics.encode(),
        );
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// For the secrets scan: the fixture's token secrets and the TLS key; the in-process gateway's
/// log lines from now on.
pub fn record_fixture_secrets(tls_key: &Path) {
    if !recorder::on() {
        return;
    }
    recorder::capture_logs();
    for id in TOKENS {
        recorder::secret(&format!("fixture secret of {id}"), &secret_of(id));
    }
    recorder::pem_secret("gateway TLS key", tls_key);
}
