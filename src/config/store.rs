//! Where the state lives (`[state] backend`, `[state.etcd]` in aclgate.toml): the state
//! directory (the default) or an etcd cluster (docs/etcd.md). Inert settings with defaults.

use std::path::PathBuf;

use serde::Deserialize;

/// `[state] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `user.cfg` and friends in `state.dir` (today's behaviour).
    #[default]
    Files,
    /// One object per key under `state.etcd.prefix`; `state.dir` is the gateway's local mirror.
    Etcd,
}

/// What a gateway does once it could not confirm for `max_staleness_ms` that it serves the
/// current state (etcd unreachable, or its watch stuck).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    /// Keep serving the last snapshot (logged loudly while it lasts).
    #[default]
    Serve,
    /// Refuse authenticated requests (503) until the state is confirmed again.
    FailClosed,
}

/// `[state.etcd]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdSettings {
    /// Client URLs of the members (`http://127.0.0.1:2379`, `https://…`; a bare `host:port`
    /// means `http://`). Tried in order; a failed one is skipped until the others fail too.
    pub endpoints: Vec<String>,
    /// Root of aclgate's keys (everything lives under `<prefix>/v1/`).
    pub prefix: String,
    /// PEM CA bundle that signs the members' certificates (`https://` endpoints).
    pub ca: Option<PathBuf>,
    /// PEM client certificate and key, for members that require client certificates.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// etcd user (role-based access); its password is the first line of `password_file`.
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Timeout of one request to a member, milliseconds.
    pub timeout_ms: u64,
    /// How often the gateway asks etcd whether it is current (a linearizable read), ms.
    pub probe_interval_ms: u64,
    /// How long the gateway may go without confirming that it is current, ms.
    pub max_staleness_ms: u64,
    /// What happens beyond `max_staleness_ms`.
    pub on_stale: OnStale,
}

impl Default for EtcdSettings {
    fn default() -> Self {
        EtcdSettings {
            endpoints: vec!["http://127.0.0.1:2379".to_owned()],
            prefix: "/aclgate".to_owned(),
            ca: None,
            cert: None,
            key: None,
            user: None,
            password_file: None,
            timeout_ms: 2000,
            probe_interval_ms: 1000,
            max_staleness_ms: 10_000,
            on_stale: OnStale::Serve,
        }
    }
}
