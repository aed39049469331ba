//! Which `aclgate.toml` settings a reload applies, and which need a restart.
//!
//! A reload (SIGHUP, `POST` writes, the file watcher) re-reads `aclgate.toml` when the gateway
//! was started from one ([`ConfigSource`]) and takes from it every setting the request path
//! reads per request or that goes into the snapshot; the rest were used once at start
//! (listeners, threads, ticket keys, the login throttle, the handlers' services) and keep their running value until a restart, with a warning that names them.
//! A setting added later is restart-only until it is listed in [`GatewayConfig::reloaded`].

use std::sync::Arc;

use super::gateway::{GatewayConfig, GatewayConfigError};

/// Reads the gateway settings again (the file and the command-line overrides of `serve`).
pub type ConfigSource = Arc<dyn Fn() -> Result<GatewayConfig, GatewayConfigError> + Send + Sync>;

// === impl GatewayConfig (reload) ===

impl GatewayConfig {
    /// The settings after a reload that read `new`: `self` (the running settings) with every
    /// reloadable setting taken from `new`; and the sections whose restart-only settings
    /// differ in `new` (they wait for a restart).
    pub fn reloaded(&self, new: &GatewayConfig) -> (GatewayConfig, Vec<&'static str>) {
        let mut next = self.clone();
        // Built into each snapshot.
        next.policies = new.policies.clone();
        next.tls.cert = new.tls.cert.clone();
        next.tls.key = new.tls.key.clone();
        next.state.strict = new.state.strict;
        // Read by the request path on every request.
        next.auth.failure_delay_ms = new.auth.failure_delay_ms;
        next.auth.identity_header = new.auth.identity_header.clone();
        next.auth.strip_credentials = new.auth.strip_credentials;
        next.limits.max_body_buffered = new.limits.max_body_buffered;
        next.limits.max_header_lines = new.limits.max_header_lines;
        next.request = new.request.clone();
        next.trusted_proxies = new.trusted_proxies.clone();
        next.ui = new.ui.clone();
        // Built into each snapshot (`upstream::Upstreams::next`: unchanged endpoints keep
        // their clients, connections and health state).
        next.upstream = new.upstream.clone();
        next.upstreams = new.upstreams.clone();

        // What is left different is restart-only; compared by section.
        let same =
            |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
        let sections: [(&'static str, bool); 12] = [
            ("listen", same(&next.listen, &new.listen)),
            ("http_listen", same(&next.http_listen, &new.http_listen)),
            ("admin_listen", same(&next.admin_listen, &new.admin_listen)),
            (
                "worker_threads",
                same(&next.worker_threads, &new.worker_threads),
            ),
            ("log_format", same(&next.log_format, &new.log_format)),
            ("state", same(&next.state, &new.state)),
            ("tls", same(&next.tls, &new.tls)),
            ("auth", same(&next.auth, &new.auth)),
            ("limits", same(&next.limits, &new.limits)),
            ("tickets", same(&next.tickets, &new.tickets)),
            (
                "login_throttle",
                same(&next.login_throttle, &new.login_throttle),
            ),
            ("everything else", same(&next, new)),
        ];
        let mut waiting: Vec<&'static str> = sections
            .iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| *name)
            .collect();
        // "everything else" only when no named section explains the difference.
        if waiting.len() > 1 {
            waiting.retain(|n| *n != "everything else");
        }
        (next, waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloadable_settings_apply_and_the_rest_wait_for_a_restart() {
        let running = GatewayConfig::default();
        let mut new = running.clone();
        new.auth.failure_delay_ms = 7;
        new.auth.identity_header = "x-who".to_owned();
        new.limits.max_body_buffered = 99;
        new.state.strict = true;
        let (next, waiting) = running.reloaded(&new);
        assert_eq!(next.auth.failure_delay_ms, 7);
        assert_eq!(next.auth.identity_header, "x-who");
        assert_eq!(next.limits.max_body_buffered, 99);
        assert!(next.state.strict);
        assert!(waiting.is_empty(), "{waiting:?}");

        new.upstream.url = "http://127.0.0.1:2".to_owned();
        new.upstreams = crate::config::gateway::GatewayConfig::parse(
            "[[upstreams]]\nname = \"b\"\nendpoints = [\"http://127.0.0.1:3\"]",
        )
        .unwrap()
        .upstreams;
        let (next, waiting) = running.reloaded(&new);
        assert_eq!(next.upstream.url, "http://127.0.0.1:2", "reloadable");
        assert_eq!(next.upstreams[0].endpoints, ["http://127.0.0.1:3"]);
        assert!(waiting.is_empty(), "{waiting:?}");

        new.listen = "127.0.0.1:1".parse().unwrap();
        new.limits.max_connections = 3;
        let (next, waiting) = running.reloaded(&new);
        assert_eq!(next.listen, running.listen, "the listener stays");
        assert_eq!(next.limits.max_connections, running.limits.max_connections);
        assert_eq!(next.limits.max_body_buffered, 99);
        assert_eq!(waiting, ["listen", "limits"]);
    }
}
