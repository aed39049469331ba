//! `[ui]` in `aclgate.toml`: whether the web interface is served, and under which path prefix.
//! Inert data: the gateway configuration holds it and checks it with [`UiSettings::check`].

use serde::Deserialize;

/// `[ui]`: where the web interface is served, or whether at all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Serve the web interface (false for pure API gateways).
    pub enabled: bool,
    /// Path the interface lives under: `/` or e.g. `/aclgate/` when the upstream owns `/`.
    pub prefix: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            enabled: true,
            prefix: "/".to_owned(),
        }
    }
}

impl UiSettings {
    /// Why the prefix is unusable, if it is: it must start and end with `/`, have no empty,
    /// `.` or `..` segments, and stay out of the API's `/api2/`.
    pub fn check(&self) -> Result<(), &'static str> {
        let prefix = &self.prefix;
        let segments_ok = prefix == "/"
            || prefix
                .trim_matches('/')
                .split('/')
                .all(|s| !matches!(s, "" | "." | ".."));
        if !prefix.starts_with('/')
            || !prefix.ends_with('/')
            || prefix.starts_with("/api2/")
            || !segments_ok
        {
            return Err(
                "must start and end with `/`, have no empty, `.` or `..` segments and \
                        not lie under `/api2/`",
            );
        }
        Ok(())
    }
}
