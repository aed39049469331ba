//! Shared helpers of the access-API TLS tests: a gateway with ApiServices over a temporary
//! state directory, a counting upstream, and a reqwest client that trusts its certificate.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use aclgate::access_api::ApiServices;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload;
use aclgate::server::{self, Listeners};
use serde_json::Value;
use tokio::net::TcpListener;

use super::gateway_support::{Upstream, secret_of, shadow_text, write_atomic};

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

/// A running gateway with the access API.
pub struct Api {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    /// The upstream forwarded routes go to.
    pub upstream: Upstream,
    client: reqwest::Client,
}

impl Api {
    /// Start with `user_cfg`, the secrets of `tokens`, and `files` (path under the state
    /// directory, contents).
    pub async fn start(user_cfg: &str, tokens: &[&str], files: &[(&str, &str)]) -> Api {
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
        let cfg = Arc::new(cfg);
        let (reader, handle) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
        let api = Arc::new(ApiServices::open(&cfg, handle).unwrap());
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tls.local_addr().unwrap();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: None,
        };
        tokio::spawn(async move {
            server::run_with_services(listeners, reader, Some(api), std::future::pending())
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
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .header("Authorization", auth);
        req = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
