//! Calling a built-in `/access` handler directly, as a given user, against a real state
//! directory, snapshot and reload task: for routes that need a user and refuse tokens.
//! Test files using it also declare `mod gateway_support;`.

use std::net::SocketAddr;
use std::sync::Arc;

use aclgate::access_api::{ApiContext, ApiError, ApiServices, handle};
use aclgate::auth::realm::crypt;
use aclgate::config::gateway::GatewayConfig;
use aclgate::identity::Authid;
use aclgate::observe::Metrics;
use aclgate::policy::{Handler, Params, PathParams};
use aclgate::reload;
use aclgate::snapshot::SnapshotReader;
use serde_json::Value;

use super::gateway_support::{recorder, write_atomic};

/// A state directory with the shipped access policy, its reload task and API services.
pub struct Harness {
    _dir: tempfile::TempDir,
    pub reader: SnapshotReader,
    pub services: ApiServices,
}

impl Harness {
    /// Start with `users` as user.cfg and `pve` realm passwords `(name, password)`.
    pub async fn start(users: &str, passwords: &[(&str, &str)]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        write_atomic(&state_dir.join("user.cfg"), users);
        let shadow: String = passwords
            .iter()
            .map(|(name, pw)| format!("{name}:{}:\n", crypt::hash_password(pw).unwrap()))
            .collect();
        write_atomic(&state_dir.join("priv/shadow.cfg"), &shadow);
        for (name, pw) in passwords {
            recorder::secret(&format!("password of {name}"), pw);
        }
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = state_dir;
        cfg.policies =
            vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml")];
        let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
        aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
        cfg.tls.cert = cert;
        cfg.tls.key = key;
        let cfg = Arc::new(cfg);
        let (reader, handle) = reload::start(cfg.clone(), Arc::new(Metrics::new())).unwrap();
        let services = ApiServices::open(&cfg, handle, None).unwrap();
        Harness {
            _dir: dir,
            reader,
            services,
        }
    }

    /// Call handler `name` as `caller` with `form` (path parameters included).
    pub async fn call(&self, name: &str, caller: &str, form: &str) -> Result<Value, ApiError> {
        let caller: Authid = caller.parse().unwrap();
        let mut params = Params::new(PathParams::new());
        params.add_body(None, form.as_bytes()).unwrap();
        let snapshot = self.reader.load();
        let ctx = ApiContext {
            snapshot: &snapshot,
            caller: Some(&caller),
            via_token: false,
            params: &params,
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            services: &self.services,
            host: None,
        };
        let handler = Handler::from_name(name).expect("handler exists");
        let result = handle(handler, &ctx).await;
        match &result {
            Ok(value) => recorder::credentials_in(&format!("handler {name}"), value),
            Err(e) => recorder::output(&format!("handler {name}: error"), &format!("{e}")),
        }
        result
    }
}
