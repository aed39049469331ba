//! Shared fixture of the browser tests: a gateway with the access API and the web interface on
//! a TLS listener and a plain-HTTP listener (the browser uses `http://localhost:PORT`, a
//! secure context for WebAuthn without a trusted certificate), `pve`-realm users with
//! passwords, a chromedriver, and helpers that log in and pick panels the way a user does.

#![allow(dead_code)]

pub mod webdriver;

/// Recording for the suite-wide secrets scan (only when `ACLGATE_SECRETS_DIR` is set).
// Several harnesses of one test binary may include it: one copy each, by design.
#[allow(clippy::duplicate_mod)]
#[path = "../secrets_support/mod.rs"]
pub mod recorder;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aclgate::access_api::ApiServices;
use aclgate::auth::realm::crypt;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload;
use aclgate::server::{self, Listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use webdriver::Session;

/// The domains every test uses: `pve` is the default realm, as on a fresh Proxmox VE.
const DOMAINS: &str = "\
pam: pam
\tcomment Linux PAM standard authentication

pve: pve
\tcomment Proxmox VE authentication server
\tdefault 1
";

/// WebDriver's key code for Enter.
pub const ENTER: &str = "\u{E007}";

/// A running gateway for a browser.
pub struct Gui {
    dir: tempfile::TempDir,
    /// Plain-HTTP listener (the browser's origin is `http://localhost:<port>`).
    pub http: SocketAddr,
    /// TLS listener (API clients).
    pub tls: SocketAddr,
    /// The gateway's certificate.
    pub cert: PathBuf,
    /// Dropped with the Gui: the gateway shuts down.
    _stop: oneshot::Sender<()>,
}

impl Gui {
    /// Start with `user_cfg` and `(user, password)` pairs for `pve`-realm users.
    pub async fn start(user_cfg: &str, passwords: &[(&str, &str)]) -> Gui {
        Gui::start_with(user_cfg, passwords, |_| {}).await
    }

    /// [`Gui::start`] with the settings changed by `tweak`.
    pub async fn start_with(
        user_cfg: &str,
        passwords: &[(&str, &str)],
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Gui {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("priv")).unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tls_addr, http_addr) = (tls.local_addr().unwrap(), http.local_addr().unwrap());
        let shadow: String = passwords
            .iter()
            .map(|(u, p)| format!("{u}:{}:\n", crypt::hash_password(p).unwrap()))
            .collect();
        let datacenter = format!(
            "webauthn: rp=aclgate,origin=http://localhost:{},id=localhost\n",
            http_addr.port()
        );
        for (name, text) in [
            ("user.cfg", user_cfg),
            ("domains.cfg", DOMAINS),
            ("priv/shadow.cfg", shadow.as_str()),
            ("datacenter.cfg", datacenter.as_str()),
        ] {
            std::fs::write(state.join(name), text).unwrap();
        }
        let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
        server::tls::ensure_self_signed(&cert, &key).unwrap();
        recorder::capture_logs();
        recorder::pem_secret("gateway TLS key", &key);
        for (user, password) in passwords {
            recorder::secret(&format!("password of {user}"), password);
        }
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = state;
        let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
        cfg.policies = vec![policies.join("pve.toml"), policies.join("access.toml")];
        cfg.tls.cert = cert.clone();
        cfg.tls.key = key;
        // Nothing listens upstream: these tests never forward.
        cfg.upstream.url = "http://127.0.0.1:9".to_owned();
        cfg.auth.failure_delay_ms = 0;
        tweak(&mut cfg);
        let cfg = Arc::new(cfg);
        let (reader, handle) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
        let api = Arc::new(ApiServices::open(&cfg, handle, None).unwrap());
        let listeners = Listeners {
            tls: Some(tls),
            http: Some(http),
            admin: None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            server::run_with_services(listeners, reader, Some(api), shutdown)
                .await
                .unwrap();
        });
        Gui {
            dir,
            http: http_addr,
            tls: tls_addr,
            cert,
            _stop: stop,
        }
    }

    /// The page's address under `path` (e.g. `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.http.port())
    }

    /// An HTTPS client that trusts the gateway's certificate.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.cert).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    /// `https://127.0.0.1:PORT/api2/json<path>`.
    pub fn api_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/api2/json{path}", self.tls.port())
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// Where the tests leave their screenshots.
pub fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots")
}

/// Fill the login window and submit it (the first step only).
pub async fn login_first_step(s: &Session<'_>, user: &str, realm: &str, password: &str) {
    s.fill("dialog input[name=username]", user).await;
    s.fill("dialog input[name=password]", password).await;
    s.exec(
        "const r = document.querySelector('dialog select[name=realm]'); r.value = arguments[0]; \
         r.dispatchEvent(new Event('change'));",
        serde_json::json!([realm]),
    )
    .await;
    let pw = s.find("dialog input[name=password]").await;
    s.type_into(&pw, ENTER).await;
}

/// Log in without a second factor and wait for the workspace.
pub async fn login(s: &Session<'_>, user: &str, realm: &str, password: &str) {
    login_first_step(s, user, realm, password).await;
    wait_workspace(s, &format!("{user}@{realm}")).await;
}

/// Wait until the workspace shows `userid` in the top bar.
pub async fn wait_workspace(s: &Session<'_>, userid: &str) {
    s.until(
        "the workspace",
        &format!(
            "!document.getElementById('app').hidden && \
             document.querySelector('.user-btn')?.textContent === '{userid}'"
        ),
    )
    .await;
}

/// Open a panel from the tree and wait until its grid has loaded.
pub async fn open_panel(s: &Session<'_>, id: &str) {
    s.click(&format!("#nav a[data-panel={id}]")).await;
    s.until(
        &format!("panel {id}"),
        &format!("document.querySelector('#nav a[data-panel={id}]').classList.contains('active')"),
    )
    .await;
}

/// Wait until the open panel's grid has a row whose text contains `text`; return its id.
pub async fn wait_row(s: &Session<'_>, text: &str) -> String {
    let cond = format!(
        "Array.from(document.querySelectorAll('#main tbody tr')).find(t => t.textContent.includes({}))?.dataset.id",
        serde_json::to_string(text).unwrap()
    );
    s.until(&format!("a row with `{text}`"), &cond)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Select the row with id `row_id` in the open panel.
pub async fn select_row(s: &Session<'_>, row_id: &str) {
    let css = format!(
        "#main tbody tr[data-id={}]",
        serde_json::to_string(row_id).unwrap()
    );
    s.click(&css).await;
}

/// Set a field of the open window (inputs, selects, checkboxes) by name.
pub async fn set_field(s: &Session<'_>, name: &str, value: serde_json::Value) {
    s.exec(
        "const [n, v] = arguments; const d = Array.from(document.querySelectorAll('dialog[open]')).pop(); \
         const e = d.querySelector(`[name='${n}']`); \
         if (e.type === 'checkbox') e.checked = !!v; \
         else if (e.multiple) { for (const o of e.options) o.selected = v.includes(o.value); } \
         else e.value = v; \
         e.dataset.touched = '1'; e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change'));",
        serde_json::json!([name, value]),
    )
    .await;
}

/// Type into a field of the open window (real key events, for text inputs).
pub async fn type_field(s: &Session<'_>, name: &str, text: &str) {
    s.fill(&format!("dialog[open] [name='{name}']"), text).await;
}

/// Press the open window's submit button and wait until that window has closed.
pub async fn submit(s: &Session<'_>) {
    s.until(
        "an enabled submit button",
        "!Array.from(document.querySelectorAll('dialog[open]')).pop().querySelector('.win-buttons .primary').disabled",
    )
    .await;
    s.exec(
        "const d = Array.from(document.querySelectorAll('dialog[open]')).pop(); \
         window.__submitted = d; d.querySelector('.win-buttons .primary').click()",
        serde_json::json!([]),
    )
    .await;
    let v = s
        .until(
            "the window to close",
            "!window.__submitted.isConnected || \
             (window.__submitted.querySelector('.win-error:not([hidden])')?.textContent ?? '')",
        )
        .await;
    assert_eq!(v, true, "the window reported an error: {v}");
}

/// The text of the open window's error area ('' when none), once the request has finished.
pub async fn window_error(s: &Session<'_>) -> String {
    s.until(
        "an error in the window",
        "Array.from(document.querySelectorAll('dialog[open]')).pop()?.querySelector('.win-error:not([hidden])')?.textContent",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Click a toolbar button by its action id (`user-add`, `acl-add`, ...).
pub async fn toolbar(s: &Session<'_>, action: &str) {
    s.click(&format!("#main .toolbar [data-action='{action}']"))
        .await;
}

/// Click a menu item of an open toolbar menu by its text.
pub async fn menu_item(s: &Session<'_>, text: &str) {
    s.exec(
        "Array.from(document.querySelectorAll('.menu:not([hidden]) .menu-item')).find(m => m.textContent === arguments[0]).click()",
        serde_json::json!([text]),
    )
    .await;
}

/// Whether the toolbar button `action` is enabled right now.
pub async fn enabled(s: &Session<'_>, action: &str) -> bool {
    s.exec(
        "return !document.querySelector(`#main .toolbar [data-action='${arguments[0]}']`).disabled",
        serde_json::json!([action]),
    )
    .await
        == true
}
