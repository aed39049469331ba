//! The second-factor settings of `datacenter.cfg` (spec §7.6): the `webauthn:` and `u2f:`
//! lines, property strings like Proxmox's. Every other line is ignored here.
//!
//! ```text
//! webauthn: rp=pve.example.com,origin=https://pve.example.com:8006,id=pve.example.com
//! u2f: appid=https://pve.example.com:8006
//! ```

use crate::config::StateDir;
use crate::config::state_dir::{StateError, read_lines};

/// The TFA part of datacenter.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatacenterTfa {
    /// `webauthn:` settings.
    pub webauthn: Option<WebauthnConfig>,
    /// `u2f:` settings (U2F registration and login).
    pub u2f: Option<U2fConfig>,
}

/// `webauthn: rp=<name>,origin=<url>,id=<domain>[,allow-subdomains=<0|1>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// Relying party name shown by authenticators (defaults to `id`).
    pub rp: String,
    /// Expected origin; `None` = `https://<request host>` (see [`WebauthnConfig::for_host`]).
    pub origin: Option<String>,
    /// Relying party id (a domain); changing it invalidates registered keys.
    pub id: String,
    /// Accept origins on subdomains of `id` (default true).
    pub allow_subdomains: bool,
}

/// `u2f: appid=<url>[,origin=<url>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct U2fConfig {
    /// The U2F AppId.
    pub appid: String,
    /// The origin clients report (defaults to the AppId, as in Proxmox).
    pub origin: Option<String>,
}

// === impl DatacenterTfa ===

impl DatacenterTfa {
    /// Parse datacenter.cfg text; bad `webauthn:`/`u2f:` lines become warnings
    /// (`line N: message`) and are ignored (WebAuthn then stays unavailable: fail closed).
    pub fn parse(text: &str) -> (DatacenterTfa, Vec<String>) {
        let mut out = DatacenterTfa::default();
        let mut warnings = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "webauthn" => match parse_webauthn(value) {
                    Ok(c) => out.webauthn = Some(c),
                    Err(e) => warnings.push(format!("line {}: webauthn: {e}", n + 1)),
                },
                "u2f" => match parse_u2f(value) {
                    Ok(c) => out.u2f = Some(c),
                    Err(e) => warnings.push(format!("line {}: u2f: {e}", n + 1)),
                },
                _ => {}
            }
        }
        (out, warnings)
    }

    /// Read `<state>/datacenter.cfg` (missing = nothing configured); warnings are logged.
    pub fn load(state: &StateDir) -> Result<DatacenterTfa, StateError> {
        let text = read_lines(&state.root().join("datacenter.cfg"))?.unwrap_or_default();
        let (cfg, warnings) = DatacenterTfa::parse(&text);
        for w in warnings {
            tracing::warn!("datacenter.cfg {w}");
        }
        Ok(cfg)
    }
}

// === impl WebauthnConfig ===

impl WebauthnConfig {
    /// This configuration with the origin filled in from the request's `Host` (as Proxmox
    /// does when `origin` is not set).
    pub fn for_host(&self, host: &str) -> WebauthnConfig {
        let mut out = self.clone();
        if out.origin.is_none() {
            out.origin = Some(format!("https://{host}"));
        }
        out
    }
}

fn parse_webauthn(value: &str) -> Result<WebauthnConfig, String> {
    let (mut rp, mut origin, mut id, mut subdomains) = (None, None, None, true);
    for (k, v) in properties(value)? {
        match k {
            "rp" => rp = Some(v.to_owned()),
            "origin" => origin = Some(v.to_owned()),
            "id" => id = Some(v.to_owned()),
            "allow-subdomains" => {
                subdomains = match v {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(format!("invalid boolean `{v}`")),
                }
            }
            other => return Err(format!("unknown property `{other}`")),
        }
    }
    let id = id.ok_or("missing `id`")?;
    Ok(WebauthnConfig {
        rp: rp.unwrap_or_else(|| id.clone()),
        origin,
        id,
        allow_subdomains: subdomains,
    })
}

fn parse_u2f(value: &str) -> Result<U2fConfig, String> {
    let (mut appid, mut origin) = (None, None);
    for (k, v) in properties(value)? {
        match k {
            "appid" => appid = Some(v.to_owned()),
            "origin" => origin = Some(v.to_owned()),
            other => return Err(format!("unknown property `{other}`")),
        }
    }
    Ok(U2fConfig {
        appid: appid.ok_or("missing `appid`")?,
        origin,
    })
}

fn properties(value: &str) -> Result<Vec<(&str, &str)>, String> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("`{p}` is not key=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_webauthn_and_u2f_lines() {
        let text = "keyboard: de\nwebauthn: rp=PVE,origin=https://pve.test:8006,id=pve.test,allow-subdomains=0\nu2f: appid=https://pve.test\n";
        let (cfg, warnings) = DatacenterTfa::parse(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let wa = cfg.webauthn.unwrap();
        assert_eq!(
            (wa.rp.as_str(), wa.id.as_str(), wa.allow_subdomains),
            ("PVE", "pve.test", false)
        );
        assert_eq!(wa.origin.as_deref(), Some("https://pve.test:8006"));
        assert_eq!(cfg.u2f.unwrap().appid, "https://pve.test");
    }

    #[test]
    fn bad_lines_are_warnings() {
        for line in [
            "webauthn: rp=x",
            "webauthn: id=a,bogus=1",
            "webauthn: id=a,allow-subdomains=2",
            "u2f: origin=x",
        ] {
            let (cfg, warnings) = DatacenterTfa::parse(line);
            assert_eq!(warnings.len(), 1, "{line}");
            assert!(cfg.webauthn.is_none() && cfg.u2f.is_none(), "{line}");
        }
    }

    #[test]
    fn origin_defaults_to_request_host() {
        let (cfg, _) = DatacenterTfa::parse("webauthn: id=pve.test");
        let wa = cfg.webauthn.unwrap().for_host("pve.test:8006");
        assert_eq!(wa.origin.as_deref(), Some("https://pve.test:8006"));
        assert_eq!(wa.rp, "pve.test");
    }
}
