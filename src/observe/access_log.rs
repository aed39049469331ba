//! One structured access-log line per request (target `aclgate::access`). Never a secret: the
//! credential itself is not part of the event, only the authenticated id.

use std::time::Duration;

/// What one request came to.
#[derive(Debug)]
pub struct AccessEvent<'a> {
    /// Authenticated id, `-` if none.
    pub authid: &'a str,
    pub method: &'a str,
    /// The request path as received (no query string: it may carry secrets).
    pub path: &'a str,
    /// The matched route's source (`file:line`), `-` if none.
    pub route: &'a str,
    /// `allow`, `deny`, `unauthenticated`, `not_found`, `invalid`.
    pub decision: &'a str,
    /// Why (Proxmox's message for a deny; an internal cause for an authentication failure).
    pub reason: &'a str,
    pub status: u16,
    pub latency: Duration,
}

impl AccessEvent<'_> {
    /// Emit the event.
    pub fn log(&self) {
        tracing::info!(
            target: super::ACCESS_TARGET,
            authid = self.authid,
            method = self.method,
            path = self.path,
            route = self.route,
            decision = self.decision,
            reason = self.reason,
            status = self.status,
            latency_us = self.latency.as_micros() as u64,
        );
    }
}
