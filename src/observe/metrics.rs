//! Prometheus metrics, served as text on the admin listener's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `aclgate_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `allow`, `deny`, `unauthenticated`, `not_found`, `invalid`, `health`.
    pub decision: &'static str,
    /// HTTP status code sent.
    pub status: u16,
}

/// Labels of the per-endpoint upstream metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The upstream's name.
    pub upstream: String,
    /// The endpoint's base URL.
    pub endpoint: String,
}

/// Per-endpoint upstream metrics (handles resolved once per endpoint when the upstreams are built).
#[derive(Debug)]
pub struct EndpointMetrics {
    /// Requests sent to the endpoint (each try counts).
    pub requests: Family<EndpointLabels, Counter>,
    /// Tries that failed before a response head (connect, exchange, timeout).
    pub failures: Family<EndpointLabels, Counter>,
    /// 1 while the endpoint is up, 0 while it is marked down.
    pub healthy: Family<EndpointLabels, Gauge>,
    /// Time to the endpoint's response head, seconds.
    pub seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

fn endpoint_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-4, 2.0, 20))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HowLabel {
    how: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Every metric the gateway exports; cloned handles share the values.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by decision and status.
    pub requests: Family<RequestLabels, Counter>,
    /// `requests{decision="allow",status="200"}`, resolved once: the common case skips the
    /// family's lock and hash lookup.
    pub allowed_ok: Counter,
    /// Time from request head to decision (route, authenticate, eval), seconds.
    pub decision_seconds: Histogram,
    /// Time from forwarding to the upstream's response head, seconds.
    pub upstream_seconds: Histogram,
    /// Per upstream endpoint: requests, failures, health, latency.
    pub endpoints: EndpointMetrics,
    /// Successful reloads.
    pub reloads_ok: Counter,
    /// Failed reloads (old snapshot kept).
    pub reloads_failed: Counter,
    /// 1 while the last reload failed (the files on disk are not what is served), else 0.
    pub reload_failing: Gauge,
    /// Generation of the snapshot in use.
    pub generation: Gauge,
    /// Lines skipped by the lenient readers in the snapshot in use.
    pub config_warnings: Gauge,
    /// Tokens whose expiry is within 7 days (at the last reload).
    pub tokens_expiring: Gauge,
    /// The state store's view (etcd backend; written by the store's health module).
    pub store: StoreGauges,
}

/// `aclgate_store_*`: the etcd revision served, how long ago it was confirmed current, whether
/// etcd answers, and whether authenticated requests are refused for staleness.
#[derive(Debug, Default, Clone)]
pub struct StoreGauges {
    pub revision: Gauge,
    pub lag_ms: Gauge,
    pub connected: Gauge,
    pub refusing: Gauge,
    /// 1 while this gateway leads its fleet (src/store/leader.rs).
    pub leader: Gauge,
    /// Watch responses applied to the snapshot as changes / by a full load.
    pub applied_incremental: Counter,
    pub applied_full: Counter,
    /// Full loads after the start, by cause (`compacted`, `revision_back`).
    pub full_loads: Family<LoadLabels, Counter>,
}

/// Why a gateway loaded the whole state again.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    pub cause: &'static str,
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("aclgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by decision and status",
            requests.clone(),
        );
        let allowed_ok = requests
            .get_or_create(&RequestLabels {
                decision: "allow",
                status: 200,
            })
            .clone();
        let decision_seconds = Histogram::new(exponential_buckets(1e-6, 2.0, 20));
        registry.register(
            "decision_seconds",
            "Time to decide a request (route, authenticate, check)",
            decision_seconds.clone(),
        );
        let upstream_seconds = Histogram::new(exponential_buckets(1e-4, 2.0, 20));
        registry.register(
            "upstream_seconds",
            "Time until the upstream's response head",
            upstream_seconds.clone(),
        );
        let endpoints = EndpointMetrics {
            requests: Family::default(),
            failures: Family::default(),
            healthy: Family::default(),
            seconds: Family::new_with_constructor(endpoint_histogram as fn() -> Histogram),
        };
        let e = &endpoints;
        registry.register(
            "upstream_endpoint_requests",
            "Requests per upstream endpoint",
            e.requests.clone(),
        );
        registry.register(
            "upstream_endpoint_failures",
            "Failed tries per upstream endpoint",
            e.failures.clone(),
        );
        registry.register(
            "upstream_endpoint_healthy",
            "1 if the upstream endpoint is up",
            e.healthy.clone(),
        );
        registry.register(
            "upstream_endpoint_seconds",
            "Time to the endpoint's response head",
            e.seconds.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register("reloads", "Snapshot reloads by result", reloads.clone());
        let reloads_ok = reloads.get_or_create(&ResultLabel { result: "ok" }).clone();
        let reloads_failed = reloads
            .get_or_create(&ResultLabel { result: "failed" })
            .clone();
        let reload_failing = Gauge::default();
        registry.register(
            "reload_failing",
            "1 while the last reload failed and an older snapshot is served",
            reload_failing.clone(),
        );
        let generation = Gauge::default();
        registry.register(
            "snapshot_generation",
            "Generation of the snapshot in use",
            generation.clone(),
        );
        let config_warnings = Gauge::default();
        registry.register(
            "config_warnings",
            "Lines skipped when reading the state files",
            config_warnings.clone(),
        );
        let tokens_expiring = Gauge::default();
        registry.register(
            "tokens_expiring_soon",
            "API tokens expiring within 7 days",
            tokens_expiring.clone(),
        );
        let store = StoreGauges::default();
        for (name, help, gauge) in [
            (
                "store_revision",
                "etcd revision of the state served (0: files backend)",
                &store.revision,
            ),
            (
                "store_lag_milliseconds",
                "Time since the state served was last confirmed current",
                &store.lag_ms,
            ),
            (
                "store_connected",
                "1 while the state store answers",
                &store.connected,
            ),
            (
                "store_refusing",
                "1 while authenticated requests are refused (state too stale, fail_closed)",
                &store.refusing,
            ),
            (
                "store_leader",
                "1 while this gateway is its fleet's leader (etcd backend)",
                &store.leader,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "store_full_loads",
            "Full loads of the state from etcd after the start, by cause",
            store.full_loads.clone(),
        );
        let applied = Family::<HowLabel, Counter>::default();
        registry.register(
            "store_changes_applied",
            "etcd watch responses applied to the snapshot, by how",
            applied.clone(),
        );
        // One statement each: the family's guard lives until the end of the statement.
        let applied_incremental = applied
            .get_or_create(&HowLabel { how: "incremental" })
            .clone();
        let applied_full = applied.get_or_create(&HowLabel { how: "full" }).clone();
        let store = StoreGauges {
            applied_incremental,
            applied_full,
            ..store
        };
        Metrics {
            registry,
            store,
            requests,
            allowed_ok,
            decision_seconds,
            upstream_seconds,
            endpoints,
            reloads_ok,
            reloads_failed,
            reload_failing,
            generation,
            config_warnings,
            tokens_expiring,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
