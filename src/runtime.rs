//! The gateway's runtime state: what is not configuration, changes while the gateway runs and
//! must outlive snapshot swaps — the metrics, the per-token rate-limit buckets and where access
//! lines go. One [`Runtime`] per gateway, beside the snapshot and never inside it, so that a
//! reload resets no counter and no bucket. (The ticket key ring, the verified-ticket cache and
//! the login throttle are runtime state of the same kind; they live in the built-in handlers'
//! services, `access_api::ApiServices`.)

use std::sync::Arc;

use crate::auth::rate_limit::RateLimiter;
use crate::observe::{AccessLog, Metrics};

/// Mutable runtime state, shared by every request of one gateway.
#[derive(Debug)]
pub struct Runtime {
    /// Counters and histograms served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The per-token rate-limit buckets (`token-options.cfg`'s `rate-limit`).
    pub rate_limits: RateLimiter,
    /// Where each request's access line goes.
    pub access_log: AccessLog,
}

// === impl Runtime ===

impl Runtime {
    /// Fresh state around `metrics`, access lines as tracing events.
    pub fn new(metrics: Arc<Metrics>) -> Runtime {
        Runtime {
            metrics,
            rate_limits: RateLimiter::new(),
            access_log: AccessLog::tracing(),
        }
    }

    /// The same, writing access lines to `log`.
    pub fn with_access_log(self, log: AccessLog) -> Runtime {
        Runtime {
            access_log: log,
            ..self
        }
    }
}

impl From<Arc<Metrics>> for Runtime {
    fn from(metrics: Arc<Metrics>) -> Runtime {
        Runtime::new(metrics)
    }
}
