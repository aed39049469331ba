//! Fixture for the login and client tests: one state directory (users with passwords, realms,
//! policies including `policies/access.toml`), one recording upstream, and any number of
//! gateways started in-process on that state (two gateways = two instances sharing state),
//! each with its [`ApiServices`] (ticket keys, throttle, built-in handlers).

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use aclgate::access_api::ApiServices;
use aclgate::auth::realm::crypt;
use aclgate::config::ShadowConfig;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload::{self, ReloadHandle};
use aclgate::server::{self, Listeners};
use aclgate::snapshot::SnapshotReader;

#[path = "../gateway_support/mod.rs"]
pub mod gw;

pub use gw::{Upstream, secret_of, write_atomic};

/// Passwords of the `pve` realm users.
pub const PVE_PASSWORDS: [(&str, &str); 4] = [
    ("joe", "joe-secret-1"),
    ("tina", "tina-secret-2"),
    ("off", "off-secret-3"),
    ("old", "old-secret-4"),
];
/// The PAM user and service made by scripts/test.sh.
pub const PAM_USER: &str = "aclgate-pamtest";
pub const PAM_PASSWORD: &str = "Pam-test-pw-7";
pub const PAM_SERVICE: &str = "aclgate-test";

/// Extra users on top of the gateway fixture's.
const EXTRA_USERS: &str = "\
user:tina@pve:1:0:::::
user:aclgate-pamtest@pam:1:0:::::
user:alice@ldap:1:0:::::
acl:1:/vms:tina@pve:PVEVMAdmin:
acl:1:/vms:aclgate-pamtest@pam:PVEAuditor:
acl:1:/vms:alice@ldap:PVEAuditor:
";

/// The state, policies and certificate shared by the gateways of one test.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub upstream: Upstream,
}

/// One running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub reader: SnapshotReader,
    pub reload: ReloadHandle,
    pub services: Arc<ApiServices>,
    pub ca: reqwest::Certificate,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fixture {
    /// State with users, tokens, pve passwords; `domains_extra` is appended to domains.cfg.
    pub async fn new(domains_extra: &str) -> Fixture {
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_atomic(
            &root.join("state/user.cfg"),
            &format!("{}{EXTRA_USERS}", gw::USER_CFG),
        );
        write_atomic(
            &root.join("state/priv/token.shadow"),
            &gw::shadow_text(&gw::TOKENS),
        );
        let mut shadow = ShadowConfig::default();
        for (name, pw) in PVE_PASSWORDS {
            shadow.set(name, crypt::hash_password(pw).unwrap());
        }
        write_atomic(&root.join("state/priv/shadow.cfg"), &shadow.write());
        for (name, pw) in PVE_PASSWORDS {
            gw::recorder::secret(&format!("password of {name}@pve"), pw);
        }
        gw::recorder::secret("PAM test password", PAM_PASSWORD);
        write_atomic(
            &root.join("state/domains.cfg"),
            &format!(
                "pve: pve\n\tcomment Proxmox VE authentication server\n\npam: pam\n\tcomment Linux PAM standard authentication\n\n{domains_extra}"
            ),
        );
        // The gateway fixture's routes without its forwarded `/access/...` ones (the shipped
        // access.toml answers those itself), plus access.toml.
        let test_policy: String = gw::POLICY
            .split("[[route]]")
            .filter(|block| !block.contains("path = \"/access"))
            .collect::<Vec<_>>()
            .join("[[route]]");
        write_atomic(&root.join("policies/test.toml"), &test_policy);
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml");
        write_atomic(
            &root.join("policies/access.toml"),
            &std::fs::read_to_string(shipped).unwrap(),
        );
        aclgate::server::tls::ensure_self_signed(
            &root.join("certs/c.crt"),
            &root.join("certs/c.key"),
        )
        .unwrap();
        gw::record_fixture_secrets(&root.join("certs/c.key"));
        Fixture { dir, upstream }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Replace a policy file (and reload the gateways yourself).
    pub fn write_policy(&self, name: &str, text: &str) {
        write_atomic(&self.dir.path().join("policies").join(name), text);
    }

    /// The settings a gateway of this fixture starts with (failure delay 0, test PAM service).
    pub fn config(&self) -> GatewayConfig {
        let root = self.dir.path();
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = root.join("state");
        cfg.policies = vec![
            root.join("policies/test.toml"),
            root.join("policies/access.toml"),
        ];
        cfg.tls.cert = root.join("certs/c.crt");
        cfg.tls.key = root.join("certs/c.key");
        cfg.upstream.url = format!("http://{}", self.upstream.addr);
        cfg.auth.failure_delay_ms = 0;
        cfg.auth.pam_service = PAM_SERVICE.to_owned();
        cfg
    }

    pub async fn start(&self) -> Running {
        self.start_with(|_| {}).await
    }

    pub async fn start_with(&self, tweak: impl FnOnce(&mut GatewayConfig)) -> Running {
        let mut cfg = self.config();
        tweak(&mut cfg);
        let cfg = Arc::new(cfg);
        let (reader, reload) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
        let services = Arc::new(ApiServices::open(&cfg, reload.clone(), None).unwrap());
        let ring = cfg.state.dir.join("priv/authkey.ring");
        gw::recorder::key_ring("ticket key", &ring);
        let weak = Arc::downgrade(&services);
        reload.on_reload(move || {
            if let Some(s) = weak.upgrade() {
                s.refresh();
            }
        });
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tls.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: None,
        };
        let (r, s) = (reader.clone(), services.clone());
        let task = tokio::spawn(async move {
            server::run_with_services(listeners, r, Some(s), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let pem = std::fs::read(&cfg.tls.cert).unwrap();
        Running {
            addr,
            reader,
            reload,
            services,
            ca: reqwest::Certificate::from_pem(&pem).unwrap(),
            stop: Some(stop),
            task,
        }
    }
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.addr.port(), path)
    }

    /// A client trusting the gateway's certificate (no cookie store: tests send cookies).
    pub fn client(&self) -> reqwest::Client {
        self.client_from(None)
    }

    /// A client whose connections come from `source` (e.g. 127.0.0.2).
    pub fn client_from(&self, source: Option<std::net::IpAddr>) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.ca.clone())
            .local_address(source)
            .build()
            .unwrap()
    }

    /// `POST /access/ticket` with form fields; returns (status, JSON body).
    pub async fn login(&self, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.login_from(&self.client(), fields).await
    }

    pub async fn login_from(
        &self,
        client: &reqwest::Client,
        fields: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let resp = client
            .post(self.url("/api2/json/access/ticket"))
            .form(fields)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        gw::recorder::response("POST /access/ticket", status, &text);
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Log in and return (ticket, CSRF token); panics unless it succeeds.
    pub async fn ticket(&self, username: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .login(&[("username", username), ("password", password)])
            .await;
        assert_eq!(status, 200, "login {username}: {body}");
        (
            body["data"]["ticket"].as_str().unwrap().to_owned(),
            body["data"]["CSRFPreventionToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    pub async fn shutdown(mut self) {
        let metrics = self.reader.runtime().metrics.encode();
        gw::recorder::output("gateway metrics at shutdown", &metrics);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// The cookie header value for a ticket (percent-encoded as the web UI writes it).
pub fn cookie(ticket: &str) -> String {
    let enc: String =
        percent_encoding::utf8_percent_encode(ticket, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    format!("PVEAuthCookie={enc}")
}

/// The `.venv` python made by scripts/test.sh.
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/test.sh to create the venv (pyotp, proxmoxer, prometheus-pve-exporter)",
        python.display()
    );
    python
}

/// The TOTP code pyotp computes for `secret` now.
pub fn pyotp_now(secret: &str) -> String {
    pyotp_at(secret, 0)
}

/// The TOTP code pyotp computes for `secret` at now + `offset` seconds (30 = the next step).
pub fn pyotp_at(secret: &str, offset: i64) -> String {
    let out = std::process::Command::new(python())
        .args([
            "-c",
            &format!(
                "import pyotp, time; print(pyotp.TOTP('{secret}').at(time.time() + {offset}))"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyotp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `tests/fixtures/clients/pve_upstream.py`: a Proxmox stand-in serving the JSON paths the
/// clients read; every request it gets is logged. Killed on drop.
pub struct PyUpstream {
    child: std::process::Child,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

impl PyUpstream {
    pub fn start() -> PyUpstream {
        PyUpstream::start_with_env(&[])
    }

    /// [`PyUpstream::start`] with environment variables (e.g. `PVE_REQUIRE_AUTHORIZATION`).
    pub fn start_with_env(vars: &[(&str, &str)]) -> PyUpstream {
        use std::io::BufRead;
        let log = tempfile::NamedTempFile::new().unwrap();
        let script = clients_fixture("pve_upstream.py");
        let mut child = std::process::Command::new(python())
            .arg(&script)
            .arg(log.path())
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("upstream said {line:?}"));
        PyUpstream { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, as logged.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log.path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for PyUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn clients_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clients")
        .join(name)
}
