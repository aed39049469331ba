//! `[listeners]` in `aclgate.toml`: how the client listeners take connections — which of them
//! expect a PROXY protocol header from a load balancer in front, and how the worker threads
//! share the listening sockets.

use serde::Deserialize;

/// `[listeners]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerSettings {
    /// `[listeners.proxy_protocol]`: listeners whose connections start with a PROXY protocol
    /// header (v1 or v2).
    pub proxy_protocol: ProxyProtocolSettings,
    /// With `worker_threads` above 1: one runtime per worker, or one shared runtime.
    pub runtime: RuntimeModel,
}

/// `[listeners.proxy_protocol]`. A listener set here takes connections only from
/// `trusted_proxies`, and only with a header: the client address is the header's source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocolSettings {
    /// The TLS listener (`listen`): the header comes before the TLS handshake.
    pub listen: bool,
    /// The plain-HTTP listener (`http_listen`).
    pub http_listen: bool,
}

impl ProxyProtocolSettings {
    /// Whether any listener expects the header.
    pub fn any(&self) -> bool {
        self.listen || self.http_listen
    }
}

/// `listeners.runtime`: how `worker_threads` above 1 are used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeModel {
    /// Each worker thread runs its own single-threaded runtime with its own `SO_REUSEPORT`
    /// socket per listener: the kernel spreads connections over them and a connection stays on
    /// its thread (no work stealing, no cross-thread wake-ups).
    #[default]
    PerCore,
    /// One multi-threaded (work-stealing) runtime with `worker_threads` workers.
    Shared,
}
