//! Named upstreams (`[[upstreams]]` in `aclgate.toml`): endpoints, balancing, health checks and
//! the service credential, plus reading that credential from its file or environment variable.
//! `[upstream]` (or `--upstream URL`) stays the one-endpoint upstream named `default`.

use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::gateway::{GatewayConfig, GatewayConfigError, UpstreamSettings};

/// The upstream of policy files that name none.
pub const DEFAULT_UPSTREAM: &str = "default";

/// One `[[upstreams]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedUpstream {
    /// What policy files call it (`upstream = "pve"`).
    pub name: String,
    /// Base URLs (`http://` or `https://`, no path), at least one.
    pub endpoints: Vec<String>,
    /// How a request's endpoint is picked.
    #[serde(default)]
    pub balance: Balance,
    /// PEM CA bundle trusted for `https` endpoints.
    pub ca: Option<PathBuf>,
    /// Pinned SHA-256 fingerprint of the endpoints' certificate (hex, `:` allowed).
    pub fingerprint: Option<String>,
    /// TCP (+TLS) connect timeout in milliseconds (default as `[upstream]`).
    pub connect_timeout_ms: Option<u64>,
    /// Time until an endpoint's response headers, in milliseconds (default as `[upstream]`).
    pub timeout_ms: Option<u64>,
    /// Active health checks; without them an endpoint is never marked down.
    pub health_check: Option<HealthCheck>,
    /// File holding the service credential's header value (mode 0600, owned by the gateway's
    /// user), re-read with every snapshot.
    pub authorization_file: Option<PathBuf>,
    /// Environment variable holding the service credential's header value.
    pub authorization_env: Option<String>,
    /// The header the service credential is sent in (default `Authorization`).
    pub authorization_header: Option<String>,
}

/// `balance = "..."`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each healthy endpoint in turn.
    #[default]
    RoundRobin,
    /// The healthy endpoint with the fewest requests in flight.
    LeastPending,
    /// The first healthy endpoint in the list (active/standby).
    FirstHealthy,
}

/// `health_check = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Path requested with GET; any answer below 500 is healthy.
    pub path: String,
    /// Time between checks of one endpoint.
    pub interval_ms: u64,
    /// A check without an answer within this fails.
    pub timeout_ms: u64,
    /// Consecutive failed checks that mark an endpoint down.
    pub unhealthy_after: u32,
    /// Consecutive passed checks that bring it back.
    pub healthy_after: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/".to_owned(),
            interval_ms: 2_000,
            timeout_ms: 1_000,
            unhealthy_after: 2,
            healthy_after: 2,
        }
    }
}

impl NamedUpstream {
    /// The `[upstream]`-shaped settings of one endpoint (URL, trust, timeouts).
    pub fn endpoint_settings(&self, url: &str, base: &UpstreamSettings) -> UpstreamSettings {
        UpstreamSettings {
            url: url.to_owned(),
            ca: self.ca.clone(),
            fingerprint: self.fingerprint.clone(),
            connect_timeout_ms: self.connect_timeout_ms.unwrap_or(base.connect_timeout_ms),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            pool_max_idle: base.pool_max_idle,
        }
    }

    /// `[upstream]` as the upstream named `default`.
    pub fn from_single(settings: &UpstreamSettings) -> NamedUpstream {
        NamedUpstream {
            name: DEFAULT_UPSTREAM.to_owned(),
            endpoints: vec![settings.url.clone()],
            balance: Balance::RoundRobin,
            ca: settings.ca.clone(),
            fingerprint: settings.fingerprint.clone(),
            connect_timeout_ms: None,
            timeout_ms: None,
            health_check: None,
            authorization_file: None,
            authorization_env: None,
            authorization_header: None,
        }
    }
}

/// Every upstream of `config`: the `[[upstreams]]` tables, plus `[upstream]` as `default`
/// unless a table takes that name.
pub fn all(config: &GatewayConfig) -> Vec<NamedUpstream> {
    let mut all = config.upstreams.clone();
    if !all.iter().any(|u| u.name == DEFAULT_UPSTREAM) {
        all.insert(0, NamedUpstream::from_single(&config.upstream));
    }
    all
}

/// Check `[[upstreams]]` beyond what serde can.
pub fn validate(upstreams: &[NamedUpstream]) -> Result<(), GatewayConfigError> {
    let invalid = |message: String| {
        Err(GatewayConfigError::Invalid {
            key: "upstreams",
            message,
        })
    };
    for (i, u) in upstreams.iter().enumerate() {
        let name = &u.name;
        let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if name.is_empty() || !name.chars().all(plain) {
            return invalid(format!("name `{name}`: letters, digits and `._-` only"));
        }
        if upstreams[..i].iter().any(|o| o.name == *name) {
            return invalid(format!("`{name}` is defined twice"));
        }
        if u.endpoints.is_empty() {
            return invalid(format!("`{name}` has no endpoints"));
        }
        for (j, url) in u.endpoints.iter().enumerate() {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.parse::<http::Uri>().is_ok();
            if !ok {
                return invalid(format!("`{name}`: endpoint `{url}` is not an http(s) URL"));
            }
            // One endpoint, one health state: a second entry would share the first's.
            if u.endpoints[..j].contains(url) {
                return invalid(format!("`{name}`: endpoint `{url}` is listed twice"));
            }
        }
        if u.authorization_file.is_some() && u.authorization_env.is_some() {
            return invalid(format!(
                "`{name}`: authorization_file or authorization_env, not both"
            ));
        }
        if let Some(h) = &u.authorization_header
            && HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return invalid(format!(
                "`{name}`: authorization_header is not a header name"
            ));
        }
        if let Some(h) = &u.health_check {
            if !h.path.starts_with('/') || h.path.parse::<http::uri::PathAndQuery>().is_err() {
                return invalid(format!("`{name}`: health_check.path must start with `/`"));
            }
            if h.interval_ms == 0 || h.timeout_ms == 0 {
                return invalid(format!("`{name}`: health_check times must be above 0"));
            }
            if h.unhealthy_after == 0 || h.healthy_after == 0 {
                return invalid(format!("`{name}`: health_check counts must be at least 1"));
            }
        }
    }
    Ok(())
}

/// Make relative file names relative to `base` (the config file's directory).
pub fn rebase(upstreams: &mut [NamedUpstream], base: &Path) {
    for u in upstreams {
        for p in [u.ca.as_mut(), u.authorization_file.as_mut()]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// The service credentials of `config`, once every route's upstream (given as (upstream,
/// route source)) is known to exist; the error names the route or the credential.
pub fn load_checked<'a>(
    config: &GatewayConfig,
    routes: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<ServiceCredentials, String> {
    let known =
        |name: &str| name == DEFAULT_UPSTREAM || config.upstreams.iter().any(|u| u.name == name);
    for (upstream, source) in routes {
        if !known(upstream) {
            return Err(format!("{source}: unknown upstream `{upstream}`"));
        }
    }
    ServiceCredentials::load(config).map_err(|e| e.to_string())
}

/// A service credential: the header an upstream gets instead of the client's credentials.
/// Its value is marked sensitive and never printed.
#[derive(Clone)]
pub struct ServiceCredential {
    /// The header (`Authorization` unless configured).
    pub header: HeaderName,
    /// The value, as read.
    pub value: HeaderValue,
}

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceCredential({}: <redacted>)", self.header)
    }
}

/// The service credentials of every upstream that has one, by upstream name.
#[derive(Debug, Clone, Default)]
pub struct ServiceCredentials(Vec<(String, ServiceCredential)>);

/// A service credential could not be read. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("upstream `{upstream}`: cannot read `{file}`: {message}")]
    Read {
        upstream: String,
        file: String,
        message: String,
    },
    #[error(
        "upstream `{upstream}`: `{file}` must be mode 0600 (or stricter) and owned by the gateway's user"
    )]
    Permissions { upstream: String, file: String },
    #[error("upstream `{upstream}`: environment variable `{var}` is not set")]
    Env { upstream: String, var: String },
    #[error("upstream `{upstream}`: the credential is empty or not a valid header value")]
    Value { upstream: String },
}

impl ServiceCredentials {
    /// Read every configured credential (files are checked for mode and owner).
    pub fn load(config: &GatewayConfig) -> Result<ServiceCredentials, CredentialError> {
        let mut out = Vec::new();
        for u in &config.upstreams {
            let upstream = u.name.clone();
            let text = if let Some(file) = &u.authorization_file {
                read_private(file).map_err(|e| e.with_upstream(&upstream))?
            } else if let Some(var) = &u.authorization_env {
                std::env::var(var).map_err(|_| CredentialError::Env {
                    upstream: upstream.clone(),
                    var: var.clone(),
                })?
            } else {
                continue;
            };
            let mut value = HeaderValue::from_str(text.trim())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| CredentialError::Value {
                    upstream: upstream.clone(),
                })?;
            value.set_sensitive(true);
            let header = match &u.authorization_header {
                Some(h) => {
                    HeaderName::from_bytes(h.as_bytes()).map_err(|_| CredentialError::Value {
                        upstream: upstream.clone(),
                    })?
                }
                None => http::header::AUTHORIZATION,
            };
            out.push((upstream, ServiceCredential { header, value }));
        }
        Ok(ServiceCredentials(out))
    }

    /// The credential of the upstream named `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&ServiceCredential> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

impl CredentialError {
    fn with_upstream(self, name: &str) -> CredentialError {
        match self {
            CredentialError::Read { file, message, .. } => CredentialError::Read {
                upstream: name.to_owned(),
                file,
                message,
            },
            CredentialError::Permissions { file, .. } => CredentialError::Permissions {
                upstream: name.to_owned(),
                file,
            },
            other => other,
        }
    }
}

/// A secret file's text, refused unless only its owner — the gateway's user — can read it.
fn read_private(file: &Path) -> Result<String, CredentialError> {
    use std::os::unix::fs::MetadataExt;
    let shown = file.display().to_string();
    let read_err = |e: std::io::Error| CredentialError::Read {
        upstream: String::new(),
        file: shown.clone(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(file).map_err(read_err)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.mode() & 0o077 != 0 || meta.uid() != euid {
        return Err(CredentialError::Permissions {
            upstream: String::new(),
            file: shown,
        });
    }
    std::fs::read_to_string(file).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        fn check(text: &str, ok: bool) {
            assert_eq!(GatewayConfig::parse(text).is_ok(), ok, "input: {text:?}");
        }
        check(
            "[[upstreams]]\nname = \"pve\"\nendpoints = [\"https://10.0.0.1:8006\"]\n\
             balance = \"least_pending\"\nfingerprint = \"00\"\n\
             health_check = { path = \"/api2/json/version\", interval_ms = 2000 }",
            true,
        );
        check("[[upstreams]]\nname = \"a\"\nendpoints = []", false);
        check(
            "[[upstreams]]\nname = \"a b\"\nendpoints = [\"http://x\"]",
            false,
        );
        check(
            "[[upstreams]]\nname = \"a\"\nendpoints = [\"ftp://x\"]",
            false,
        );
        check(
            "[[upstreams]]\nname = \"a\"\nendpoints = [\"http://x\"]\nbalance = \"x\"",
            false,
        );
        check(
            "[[upstreams]]\nname = \"a\"\nendpoints = [\"http://x\"]\n\
             [[upstreams]]\nname = \"a\"\nendpoints = [\"http://y\"]",
            false,
        );
        check(
            "[[upstreams]]\nname = \"a\"\nendpoints = [\"http://x\"]\n\
             health_check = { unhealthy_after = 0 }",
            false,
        );
        check(
            "[[upstreams]]\nname = \"a\"\nendpoints = [\"http://x\", \"http://x\"]",
            false,
        );
    }

    #[test]
    fn credential_debug_hides_the_value() {
        let c = ServiceCredential {
            header: http::header::AUTHORIZATION,
            value: HeaderValue::from_static("PVEAPIToken=svc@pve!gw=secret"),
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
