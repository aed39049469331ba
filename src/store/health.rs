//! Bounded, visible staleness of a gateway on etcd: the revision it serves, when it last
//! confirmed that this is the current state, whether etcd answers, and what happens beyond
//! `max_staleness_ms` (keep serving, loudly, or refuse authenticated requests). The numbers are
//! published as `aclgate_store_*` gauges, which `/metrics`, `/healthz` and the request path
//! read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::config::store::{EtcdSettings, OnStale};
use crate::observe::Metrics;

/// Shared between the watch and the probe of one gateway.
pub struct Health {
    metrics: Arc<Metrics>,
    start: Instant,
    /// Revision applied to the mirror (the state served once the reload is done).
    applied: AtomicI64,
    /// A revision up to which nothing of ours changed (confirmed by a probe or a progress
    /// notification): a re-watch may start after it.
    confirmed_revision: AtomicI64,
    /// Milliseconds since `start` of the last confirmation.
    confirmed_at: AtomicI64,
    stale_logged: AtomicBool,
    max_staleness: Duration,
    on_stale: OnStale,
    /// The applied revision, for writers waiting until their change is served.
    applied_tx: tokio::sync::watch::Sender<i64>,
}

// === impl Health ===

impl Health {
    /// Fresh health at `revision`, confirmed now.
    pub fn new(metrics: Arc<Metrics>, settings: &EtcdSettings, revision: i64) -> Health {
        let health = Health {
            metrics,
            start: Instant::now(),
            applied: AtomicI64::new(revision),
            confirmed_revision: AtomicI64::new(revision),
            confirmed_at: AtomicI64::new(0),
            stale_logged: AtomicBool::new(false),
            max_staleness: Duration::from_millis(settings.max_staleness_ms),
            on_stale: settings.on_stale,
            applied_tx: tokio::sync::watch::Sender::new(revision),
        };
        health.metrics.store.revision.set(revision);
        health.metrics.store.connected.set(1);
        health
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The gateway's metrics, shared.
    pub fn metrics_arc(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The revision served.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Where a new watch starts: after everything applied or confirmed unchanged.
    pub fn resume_after(&self) -> i64 {
        self.applied()
            .max(self.confirmed_revision.load(Ordering::SeqCst))
    }

    /// The mirror now holds the state at `revision` (a load or applied changes).
    pub fn set_applied(&self, revision: i64) {
        self.applied.fetch_max(revision, Ordering::SeqCst);
        self.metrics.store.revision.set(self.applied());
        self.applied_tx.send_replace(self.applied());
    }

    /// Wait until the state served includes `revision` (at most `limit`); whether it does.
    pub async fn wait_applied(&self, revision: i64, limit: Duration) -> bool {
        let mut rx = self.applied_tx.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// After a fresh load at `revision` (which may be older than a confirmation's revision
    /// only if the store went back: then the load wins).
    pub fn reset(&self, revision: i64) {
        self.applied.store(revision, Ordering::SeqCst);
        self.confirmed_revision.store(revision, Ordering::SeqCst);
        self.metrics.store.revision.set(revision);
        self.applied_tx.send_replace(revision);
        self.confirm(revision);
    }

    /// Nothing of ours changed up to `revision`, as etcd said just now.
    pub fn confirm(&self, revision: i64) {
        self.confirmed_revision
            .fetch_max(revision, Ordering::SeqCst);
        self.confirmed_at
            .store(self.start.elapsed().as_millis() as i64, Ordering::SeqCst);
        self.metrics.store.connected.set(1);
        self.update();
    }

    /// etcd did not answer.
    pub fn disconnected(&self, why: &str) {
        if self.metrics.store.connected.get() == 1 {
            tracing::warn!(error = %why, "etcd unreachable; serving the last state");
        }
        self.metrics.store.connected.set(0);
        self.update();
    }

    /// Recompute the lag and the stale verdict (called at least every probe interval).
    pub fn update(&self) {
        let now = self.start.elapsed().as_millis() as i64;
        let lag = (now - self.confirmed_at.load(Ordering::SeqCst)).max(0);
        self.metrics.store.lag_ms.set(lag);
        let stale = lag as u128 > self.max_staleness.as_millis();
        let refusing = stale && self.on_stale == OnStale::FailClosed;
        self.metrics.store.refusing.set(i64::from(refusing));
        let was = self.stale_logged.swap(stale, Ordering::SeqCst);
        if stale && !was {
            if refusing {
                tracing::error!(
                    lag_ms = lag,
                    revision = self.applied(),
                    "state not confirmed current for longer than max_staleness: refusing authenticated requests (on_stale = fail_closed)"
                );
            } else {
                tracing::error!(
                    lag_ms = lag,
                    revision = self.applied(),
                    "state not confirmed current for longer than max_staleness: STILL SERVING the last state (on_stale = serve)"
                );
            }
        } else if !stale && was {
            tracing::info!(revision = self.applied(), "state confirmed current again");
        }
    }
}

/// The `/healthz` line of the store, or `None` on the files backend.
pub fn healthz_line(metrics: &Metrics) -> Option<String> {
    let s = &metrics.store;
    (s.revision.get() > 0).then(|| {
        format!(
            "store etcd revision={} lag_ms={} connected={} refusing={}\n",
            s.revision.get(),
            s.lag_ms.get(),
            s.connected.get(),
            s.refusing.get()
        )
    })
}
