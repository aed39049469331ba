//! Shared helpers of the access-API TLS tests: a gateway with ApiServices over a temporary
//! state directory, a counting upstream, and a reqwest client that trusts its certificate.
//! Requests authenticate with a token header ([`Api::call`]) or, through [`Api::call_as`],
//! with a ticket cookie + CSRF token minted by the gateway's own ticket keys ([`Api::ticket`]).
//! Dropping an [`Api`] stops its gateway.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use aclgate::access_api::ApiServices;
use aclgate::auth::ticket::epoch_now;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload;
use aclgate::server::{self, Listeners};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::gateway_support::{Upstream, recorder, secret_of, shadow_text, write_atomic};

/// The `PVEAPIToken=` header value of a test token (secrets from `secret_of`).
pub fn token(id: &str) -> String {
    format!("PVEAPIToken={id}={}", secret_of(id))
}

const FORWARDED: &str = r#"
prefix = "/api2/json"
[[route]]
method = "GET"
path = "/version"
user = "all"
"#;

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Nothing.
    Anonymous,
    /// This `Authorization` header value (e.g. [`token`]).
    Header(String),
    /// A `PVEAuthCookie` cookie; the CSRF token is sent on everything but GET.
    Ticket {
        /// The ticket.
        ticket: String,
        /// Its CSRF prevention token.
        csrf: String,
    },
}

/// A running gateway with the access API.
pub struct Api {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    /// The upstream forwarded routes go to.
    pub upstream: Upstream,
    client: reqwest::Client,
    /// The gateway's services (ticket keys, ...).
    pub services: Arc<ApiServices>,
    /// The gateway's certificate (PEM file).
    pub cert: PathBuf,
    /// Dropped with the Api: the gateway shuts down.
    _stop: oneshot::Sender<()>,
}

impl Api {
    /// Start with `user_cfg`, the secrets of `tokens`, and `files` (path under the state
    /// directory, contents).
    pub async fn start(user_cfg: &str, tokens: &[&str], files: &[(&str, &str)]) -> Api {
        Api::start_with(user_cfg, tokens, files, |_| {}).await
    }

    /// [`Api::start`] with the gateway settings changed by `tweak` first.
    pub async fn start_with(
        user_cfg: &str,
        tokens: &[&str],
        files: &[(&str, &str)],
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Api {
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_atomic(&root.join("state/user.cfg"), user_cfg);
        write_atomic(&root.join("state/priv/token.shadow"), &shadow_text(tokens));
        for (path, text) in files {
            write_atomic(&root.join("state").join(path), text);
        }
        write_atomic(&root.join("policies/fwd.toml"), FORWARDED);
        let (cert, key) = (root.join("certs/c.crt"), root.join("certs/c.key"));
        aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
        super::gateway_support::record_fixture_secrets(&key);
        for id in tokens {
            recorder::secret(&format!("secret of {id}"), &secret_of(id));
        }
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = root.join("state");
        cfg.policies = vec![
            root.join("policies/fwd.toml"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml"),
        ];
        cfg.tls.cert = cert.clone();
        cfg.tls.key = key;
        cfg.upstream.url = format!("http://{}", upstream.addr);
        cfg.auth.failure_delay_ms = 0;
        tweak(&mut cfg);
        let cfg = Arc::new(cfg);
        let (reader, handle) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
        let api = Arc::new(ApiServices::open(&cfg, handle, None).unwrap());
        recorder::key_ring("ticket key", &cfg.state.dir.join("priv/authkey.ring"));
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tls.local_addr().unwrap();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let services = api.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            server::run_with_services(listeners, reader, Some(api), shutdown)
                .await
                .unwrap();
        });
        let pem = std::fs::read(&cert).unwrap();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Api {
            _dir: dir,
            addr,
            upstream,
            client,
            services,
            cert,
            _stop: stop,
        }
    }

    /// `host:port` of the gateway (what clients such as proxmoxer take).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// A full ticket and CSRF token for `userid`, signed by this gateway's keys.
    pub fn ticket(&self, userid: &str) -> Auth {
        let issued = self
            .services
            .tickets
            .issue(&userid.parse().unwrap(), epoch_now())
            .unwrap();
        recorder::secret(&format!("ticket of {userid}"), &issued.ticket);
        recorder::secret(&format!("CSRF token of {userid}"), &issued.csrf_token);
        Auth::Ticket {
            ticket: issued.ticket,
            csrf: issued.csrf_token,
        }
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self._dir.path().join("state")
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/api2/json{path}", self.addr.port())
    }

    /// One request; GET and DELETE send `form` as the query, others as a form body.
    pub async fn call(
        &self,
        auth: &str,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        self.call_as(&Auth::Header(auth.to_owned()), method, path, form)
            .await
    }

    /// [`Api::call`] with any kind of authentication.
    pub async fn call_as(
        &self,
        auth: &Auth,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self.client.request(method.clone(), self.url(path));
        req = match auth {
            Auth::Anonymous => req,
            Auth::Header(value) => req.header("Authorization", value),
            Auth::Ticket { ticket, csrf } => {
                let req = req.header("Cookie", format!("PVEAuthCookie={ticket}"));
                if method == reqwest::Method::GET {
                    req
                } else {
                    req.header("CSRFPreventionToken", csrf)
                }
            }
        };
        req = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        recorder::response(&format!("{method} {path}"), status, &text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
