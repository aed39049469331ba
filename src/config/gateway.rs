//! The gateway's own settings (`aclgate.toml`): listeners, TLS files, upstream, authentication
//! and limits. Inert data with documented defaults; unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::cidr::Cidr;

/// `aclgate.toml` could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Everything in `aclgate.toml`; every field has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// TLS listener (HTTP/1.1 and HTTP/2 via ALPN).
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener, for running behind a TLS-terminating load balancer.
    pub http_listen: Option<SocketAddr>,
    /// Optional admin listener serving `/metrics` (plain HTTP).
    pub admin_listen: Option<SocketAddr>,
    /// Tokio worker threads (1 measured best on 2-core machines).
    pub worker_threads: usize,
    /// Log line format.
    pub log_format: LogFormat,
    /// Policies, loaded in order: files, or built-in ones named `builtin:NAME`
    /// (`policy::builtin`). Default: [`DEFAULT_POLICIES`].
    pub policies: Vec<PathBuf>,
    /// The state directory.
    pub state: StateSettings,
    /// Server certificate and key.
    pub tls: TlsSettings,
    /// Where allowed requests go.
    pub upstream: UpstreamSettings,
    /// Named upstreams (`[[upstreams]]`, [`crate::config::upstreams`]).
    pub upstreams: Vec<crate::config::upstreams::NamedUpstream>,
    /// Authentication behaviour.
    pub auth: AuthSettings,
    /// Resource limits and timeouts.
    pub limits: Limits,
    /// Headers removed and path forms refused before a request is checked and forwarded.
    pub request: crate::config::request::RequestSettings,
    /// Login tickets: key algorithm, verified-ticket cache, key file re-reads.
    pub tickets: crate::config::auth_settings::TicketConfig,
    /// Failed-login throttling of `POST /access/ticket`.
    pub login_throttle: crate::config::auth_settings::ThrottleConfig,
    /// Load balancers whose `X-Forwarded-For` is believed (networks): for a request from one
    /// of them, the client address (for `allowed-ips`, login throttling) is the nearest
    /// forwarded address that is not itself listed. Empty: the TCP peer, always.
    #[serde(deserialize_with = "cidr_list")]
    pub trusted_proxies: Vec<Cidr>,
    /// PROXY protocol per listener and the runtime model (`[listeners]`).
    pub listeners: crate::config::listeners::ListenerSettings,
    /// The web interface (`[ui]`).
    pub ui: crate::ui::UiSettings,
}

/// `["10.0.0.0/8", "2001:db8::1"]` → networks, with the CIDR parser's message on error.
fn cidr_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let items = Vec::<String>::deserialize(d)?;
    items
        .iter()
        .map(|s| {
            s.parse::<Cidr>()
                .map_err(|e| serde::de::Error::custom(format!("trusted_proxies: {e}")))
        })
        .collect()
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// Directory holding `user.cfg` and `priv/token.shadow`.
    pub dir: PathBuf,
    /// Refuse a state whose `user.cfg` has `acl` lines the lenient reader skipped or partly
    /// dropped (a skipped `NoAccess` line widens access); the last good snapshot stays.
    pub strict: bool,
    /// Where the state lives: `files` (in `dir`) or `etcd` (`[state.etcd]`; docs/etcd.md).
    pub backend: crate::config::store::Backend,
    /// `[state.etcd]`: the cluster, used when `backend = "etcd"`.
    pub etcd: crate::config::store::EtcdSettings,
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Generate a self-signed pair at `cert`/`key` if neither exists.
    pub self_signed: bool,
}

/// `[upstream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Base URL (`http://` or `https://`), no path.
    pub url: String,
    /// PEM CA bundle trusted for an `https` upstream.
    pub ca: Option<PathBuf>,
    /// Pinned SHA-256 fingerprint of the upstream's certificate (hex, `:` allowed).
    pub fingerprint: Option<String>,
    /// TCP (+TLS) connect timeout in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time until the upstream's response headers, in milliseconds.
    pub timeout_ms: u64,
    /// Idle pooled connections kept per host.
    pub pool_max_idle: usize,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Every authentication failure is answered no earlier than this after the request
    /// started (Proxmox: 3 s).
    pub failure_delay_ms: u64,
    /// Header carrying the authenticated id to the upstream.
    pub identity_header: String,
    /// Remove the client's credentials before forwarding.
    pub strip_credentials: bool,
    /// PAM service for logins in the `pam` realm (Proxmox: `proxmox-ve-auth`).
    pub pam_service: String,
    /// Bound on each LDAP connection attempt and operation during a login.
    pub ldap_timeout_ms: u64,
    /// Bound on one realm sync as a whole (its task fails after it, writing nothing).
    pub sync_deadline_ms: u64,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent client connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Concurrent connections from one source address (0: no cap); further ones are closed at
    /// once. `trusted_proxies` are exempt.
    pub max_connections_per_source: usize,
    /// Time from accepting a connection to its first request head (TLS handshake included).
    pub first_request_timeout_ms: u64,
    /// Time a connection may sit idle (no request in flight) between requests, HTTP/1.1 and
    /// HTTP/2.
    pub keepalive_timeout_ms: u64,
    /// Largest request body buffered when a check needs body parameters (413 beyond).
    pub max_body_buffered: usize,
    /// Most request header lines (PVE: fewer than 64).
    pub max_header_lines: usize,
    /// Most request header bytes (PVE: less than 8 KiB).
    pub max_header_bytes: usize,
    /// Time for a client to send a request head; also the idle time allowed between keep-alive
    /// requests on HTTP/1.
    pub header_read_timeout_ms: u64,
    /// Dead-peer detection (TCP keep-alive, every connection): probes once a connection has
    /// carried nothing this long; closed when the peer has answered nothing for this + 20 s.
    pub idle_timeout_ms: u64,
    /// Time for a TLS handshake.
    pub tls_handshake_timeout_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
}

// === policy list entries ===

/// How a policy list names a policy built into the binary: `builtin:NAME`.
pub const BUILTIN_POLICY_PREFIX: &str = "builtin:";

/// The policies used when no `policies` setting is given.
pub const DEFAULT_POLICIES: [&str; 2] = ["builtin:pve", "builtin:access"];

/// The built-in name (after `builtin:`) if an entry of a policy list names a built-in policy;
/// every other entry is a file path (`./builtin:x` is the file of that name).
pub fn builtin_policy_name(entry: &Path) -> Option<&str> {
    entry.to_str()?.strip_prefix(BUILTIN_POLICY_PREFIX)
}

// === where aclgate.toml is found ===

/// The installed configuration file, the last place searched.
pub const SYSTEM_CONFIG: &str = "/etc/aclgate/aclgate.toml";

/// The configuration file to use: `explicit` (`--config` or `ACLGATE_CONFIG`) if given, else
/// `./aclgate.toml`, else [`SYSTEM_CONFIG`], whichever exists first; `None` means built-in
/// defaults. An explicit file is returned even if missing, so that loading it reports that.
pub fn find_config(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    [Path::new("aclgate.toml"), Path::new(SYSTEM_CONFIG)]
        .into_iter()
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
}

// === impl GatewayConfig ===

impl GatewayConfig {
    /// Read `path`; relative paths inside are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<GatewayConfig, GatewayConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| GatewayConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg = GatewayConfig::parse(&text).map_err(|message| GatewayConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            cfg.rebase(base);
        }
        Ok(cfg)
    }

    /// Parse TOML text (unknown keys are errors).
    pub fn parse(text: &str) -> Result<GatewayConfig, String> {
        let cfg: GatewayConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    /// Check values that serde cannot.
    pub fn validate(&self) -> Result<(), GatewayConfigError> {
        let invalid = |key, message: &str| {
            Err(GatewayConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if !(self.upstream.url.starts_with("http://") || self.upstream.url.starts_with("https://"))
        {
            return invalid("upstream.url", "must start with `http://` or `https://`");
        }
        if self.upstream.url.parse::<http::Uri>().is_err() {
            return invalid("upstream.url", "not a valid URL");
        }
        if http::HeaderName::from_bytes(self.auth.identity_header.as_bytes()).is_err() {
            return invalid("auth.identity_header", "not a valid header name");
        }
        if self.worker_threads == 0 {
            return invalid("worker_threads", "must be at least 1");
        }
        if self.listeners.proxy_protocol.any() && self.trusted_proxies.is_empty() {
            return invalid(
                "listeners.proxy_protocol",
                "needs `trusted_proxies`: a PROXY header is accepted only from them",
            );
        }
        if self.limits.max_header_bytes < 8192 {
            return invalid("limits.max_header_bytes", "must be at least 8192");
        }
        if let Err(message) = self.ui.check() {
            return invalid("ui.prefix", message);
        }
        crate::config::upstreams::validate(&self.upstreams)
    }

    /// Make relative paths relative to `base`.
    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.state.dir);
        for p in [
            &mut self.state.etcd.ca,
            &mut self.state.etcd.cert,
            &mut self.state.etcd.key,
        ]
        .into_iter()
        .chain([&mut self.state.etcd.password_file])
        .flatten()
        {
            fix(p);
        }
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        self.policies
            .iter_mut()
            .filter(|p| builtin_policy_name(p).is_none())
            .for_each(fix);
        if let Some(ca) = self.upstream.ca.as_mut() {
            fix(ca);
        }
        crate::config::upstreams::rebase(&mut self.upstreams, base);
    }

    /// Header-read timeout as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.header_read_timeout_ms)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8006)),
            http_listen: None,
            admin_listen: None,
            worker_threads: 1,
            log_format: LogFormat::Text,
            policies: DEFAULT_POLICIES.iter().map(PathBuf::from).collect(),
            state: StateSettings::default(),
            tls: TlsSettings::default(),
            upstream: UpstreamSettings::default(),
            upstreams: Vec::new(),
            auth: AuthSettings::default(),
            limits: Limits::default(),
            request: crate::config::request::RequestSettings::default(),
            tickets: crate::config::auth_settings::TicketConfig::default(),
            login_throttle: crate::config::auth_settings::ThrottleConfig::default(),
            trusted_proxies: Vec::new(),
            listeners: crate::config::listeners::ListenerSettings::default(),
            ui: crate::ui::UiSettings::default(),
        }
    }
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            dir: PathBuf::from("state"),
            strict: false,
            backend: crate::config::store::Backend::Files,
            etcd: crate::config::store::EtcdSettings::default(),
        }
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert: PathBuf::from("certs/aclgate.crt"),
            key: PathBuf::from("certs/aclgate.key"),
            self_signed: true,
        }
    }
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            url: "http://127.0.0.1:8080".to_owned(),
            ca: None,
            fingerprint: None,
            connect_timeout_ms: 5_000,
            timeout_ms: 60_000,
            pool_max_idle: 64,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            failure_delay_ms: 3_000,
            identity_header: "X-Aclgate-Authid".to_owned(),
            strip_credentials: true,
            pam_service: crate::config::auth_settings::DEFAULT_PAM_SERVICE.to_owned(),
            ldap_timeout_ms: 10_000,
            sync_deadline_ms: 600_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_source: 256,
            first_request_timeout_ms: 10_000,
            keepalive_timeout_ms: 60_000,
            max_body_buffered: 1 << 20,
            max_header_lines: 63,
            max_header_bytes: 8192,
            header_read_timeout_ms: 30_000,
            idle_timeout_ms: 120_000,
            tls_handshake_timeout_ms: 10_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = GatewayConfig::parse("").expect("defaults parse");
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8006");
        assert_eq!(cfg.auth.failure_delay_ms, 3000);
        assert_eq!(cfg.auth.identity_header, "X-Aclgate-Authid");
        assert!(cfg.auth.strip_credentials);
    }

    #[test]
    fn table() {
        fn check(text: &str, ok: bool) {
            assert_eq!(GatewayConfig::parse(text).is_ok(), ok, "input: {text:?}");
        }
        check("listen = \"0.0.0.0:443\"", true);
        check("unknown = 1", false);
        check("[auth]\nfailure_delay = 1", false);
        check("[upstream]\nurl = \"ftp://x\"", false);
        check("[upstream]\nurl = \"https://10.0.0.1:8006\"", true);
        check("worker_threads = 0", false);
        check("[auth]\nidentity_header = \"bad header\"", false);
        check("trusted_proxies = [\"10.0.0.0/8\", \"2001:db8::1\"]", true);
        check("trusted_proxies = [\"10.0.0.1/8\"]", false);
        check("trusted_proxies = [\"balancer\"]", false);
    }
}
