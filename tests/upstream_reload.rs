//! `[[upstreams]]` changes take effect at a reload (the settings read again, as `serve` does
//! on SIGHUP or a file event): a new endpoint gets requests, a removed one gets none — also
//! not on a keep-alive connection that was bound to it — and its metrics go; an endpoint that
//! stays keeps its health state; balance and health-check settings change with the snapshot,
//! and so does the trust in an HTTPS endpoint: its pinned fingerprint, or its CA file (also
//! when the file is replaced in place).

mod gateway_support;
mod upstream_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aclgate::config::gateway::GatewayConfig;
use aclgate::config::reloadable::ConfigSource;
use aclgate::config::upstreams::{Balance, HealthCheck, NamedUpstream};
use aclgate::observe::Metrics;
use aclgate::reload;
use aclgate::server::{self, Listeners};
use tokio::net::TcpListener;

use gateway_support::{Gateway, POLICY, USER_CFG, shadow_text, write_atomic};
use upstream_support::{Node, await_health, cluster, metrics, policy};

const PVE_POLICY: &str = r#"
upstream = "pve"
prefix = "/pve"

[[route]]
method = "GET"
path = "/nodes/{node}"
user = "all"
"#;

/// A gateway whose reloads read the settings from `settings` (what the test puts there is
/// what a changed `aclgate.toml` would give).
struct Running {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    reload: reload::ReloadHandle,
    settings: Arc<Mutex<GatewayConfig>>,
    ca: reqwest::Certificate,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    async fn start(pve: NamedUpstream) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_atomic(&root.join("state/user.cfg"), USER_CFG);
        write_atomic(
            &root.join("state/priv/token.shadow"),
            &shadow_text(&["joe@pve!full"]),
        );
        write_atomic(&root.join("policies/test.toml"), POLICY);
        let cert = root.join("certs/aclgate.crt");
        let key = root.join("certs/aclgate.key");
        aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = root.join("state");
        cfg.policies = vec![policy(root, "pve.toml", PVE_POLICY)];
        cfg.tls.cert = cert.clone();
        cfg.tls.key = key;
        cfg.auth.failure_delay_ms = 0;
        cfg.upstreams = vec![pve];
        let settings = Arc::new(Mutex::new(cfg.clone()));
        let source: ConfigSource = {
            let settings = settings.clone();
            Arc::new(move || Ok(settings.lock().unwrap().clone()))
        };
        let (reader, reload) =
            reload::start_with_source(Arc::new(cfg), Arc::new(Metrics::new()), Some(source))
                .unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, admin_addr) = (tls.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: Some(admin),
        };
        tokio::spawn(async move {
            server::run(listeners, reader, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let pem = std::fs::read(&cert).unwrap();
        Running {
            _dir: dir,
            addr,
            admin: admin_addr,
            reload,
            settings,
            ca: reqwest::Certificate::from_pem(&pem).unwrap(),
            _stop: stop,
        }
    }

    /// Change the `pve` upstream's settings and reload.
    async fn reconfigure(&self, change: impl FnOnce(&mut NamedUpstream)) {
        change(&mut self.settings.lock().unwrap().upstreams[0]);
        self.reload.reload().await.expect("the reload succeeds");
    }

    /// HTTP/2 (`h1 = false`: each request balanced on its own) or HTTP/1.1 keep-alive (one
    /// connection, bound to one endpoint while it is up).
    fn client(&self, h1: bool) -> reqwest::Client {
        let b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.ca.clone())
            .pool_max_idle_per_host(1);
        if h1 { b.http1_only() } else { b }.build().unwrap()
    }

    /// The node that answered a GET.
    async fn get(&self, client: &reqwest::Client) -> String {
        let (status, node) = self.try_get(client).await;
        assert_eq!(status, 200);
        node
    }

    /// A GET's status and the node that answered (`-` if none did).
    async fn try_get(&self, client: &reqwest::Client) -> (u16, String) {
        let url = format!("https://127.0.0.1:{}/pve/nodes/n1", self.addr.port());
        let resp = client
            .get(url)
            .header("authorization", Gateway::token_header("joe@pve!full"))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default();
        (
            status,
            body["data"]["node"].as_str().unwrap_or("-").to_owned(),
        )
    }

    async fn answers(&self, client: &reqwest::Client, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.get(client).await);
        }
        out.sort();
        out
    }
}

#[tokio::test]
async fn endpoints_balance_and_health_checks_follow_a_reload() {
    let (a, mut b, c) = (Node::start("a"), Node::start("b"), Node::start("c"));
    let mut pve = cluster("pve", &[&a, &b], true);
    pve.balance = Balance::FirstHealthy;
    // Down after one failed check, back only after 1000 passes: `b` stays down while alive.
    let sticky = HealthCheck {
        path: "/health".to_owned(),
        interval_ms: 100,
        timeout_ms: 500,
        unhealthy_after: 1,
        healthy_after: 1000,
    };
    pve.health_check = Some(sticky.clone());
    let gw = Running::start(pve).await;
    let (h1, h2) = (gw.client(true), gw.client(false));
    assert_eq!(gw.answers(&h1, 2).await, ["a", "a"], "first_healthy");
    assert_eq!(gw.answers(&h2, 2).await, ["a", "a"]);

    // `b` is marked down, then runs again but stays down (healthy_after = 1000).
    b.kill();
    await_health(gw.admin, "pve", &b.url(), 0).await;
    b.restart();
    let (a_seen, b_seen) = (a.requests().len(), b.requests().len());

    // `a` goes, `c` comes, `b` stays (down); round robin.
    gw.reconfigure(|u| {
        u.endpoints = vec![b.url(), c.url()];
        u.balance = Balance::RoundRobin;
    })
    .await;
    assert_eq!(
        gw.answers(&h1, 3).await,
        ["c", "c", "c"],
        "h1 was bound to `a`"
    );
    assert_eq!(
        gw.answers(&h2, 3).await,
        ["c", "c", "c"],
        "`b` kept its down state"
    );
    assert_eq!(
        a.requests().len(),
        a_seen,
        "the removed endpoint got nothing"
    );
    assert_eq!(b.requests().len(), b_seen, "the down endpoint got nothing");
    let text = metrics(gw.admin).await;
    assert!(!text.contains(&a.url()), "`a`'s metrics are gone:\n{text}");
    assert!(
        text.contains(&format!(
            "aclgate_upstream_endpoint_healthy{{upstream=\"pve\",endpoint=\"{}\"}} 0",
            b.url()
        )),
        "{text}"
    );

    // New health-check settings: one pass brings `b` back, and it is balanced again.
    gw.reconfigure(|u| {
        u.health_check = Some(HealthCheck {
            healthy_after: 1,
            ..sticky
        })
    })
    .await;
    await_health(gw.admin, "pve", &b.url(), 1).await;
    assert_eq!(gw.answers(&h2, 4).await, ["b", "b", "c", "c"]);

    // Back to first_healthy over `c` and `b`: every request to `c`.
    gw.reconfigure(|u| {
        u.endpoints = vec![c.url(), b.url()];
        u.balance = Balance::FirstHealthy;
    })
    .await;
    assert_eq!(gw.answers(&h2, 3).await, ["c", "c", "c"]);
}

/// A certificate pair under `dir`: (certificate, key, SHA-256 fingerprint).
fn certificate(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf, String) {
    use sha2::Digest;
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    (cert, key, hex::encode(sha2::Sha256::digest(der.as_ref())))
}

#[tokio::test]
async fn the_trust_in_an_https_endpoint_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pin) = certificate(dir.path(), "s");
    let (other, _, other_pin) = certificate(dir.path(), "other");
    let node = Node::start_tls("s", &cert, &key);
    let mut pve = cluster("pve", &[&node], false);
    pve.fingerprint = Some(other_pin);
    let gw = Running::start(pve).await;
    let client = gw.client(false);
    assert_eq!(
        gw.try_get(&client).await.0,
        502,
        "pinned to another certificate"
    );

    gw.reconfigure(|u| u.fingerprint = Some(pin)).await;
    assert_eq!(gw.try_get(&client).await, (200, "s".to_owned()));

    // A CA file that holds another certificate, then the right one written over it.
    let ca = dir.path().join("ca.pem");
    std::fs::copy(&other, &ca).unwrap();
    gw.reconfigure(|u| {
        u.fingerprint = None;
        u.ca = Some(ca.clone());
    })
    .await;
    assert_eq!(gw.try_get(&client).await.0, 502, "the CA does not sign it");
    write_atomic(&ca, &std::fs::read_to_string(&cert).unwrap());
    gw.reconfigure(|_| {}).await;
    assert_eq!(gw.try_get(&client).await, (200, "s".to_owned()));
}
