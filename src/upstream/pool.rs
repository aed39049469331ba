//! The named upstreams: each a [`Pool`] of endpoints with its balancer, health-check settings
//! and per-endpoint metrics; [`Upstreams`] finds one by name.
//!
//! The upstreams are part of the snapshot: every snapshot's are built from its settings, and
//! [`Upstreams::next`] carries over from the running ones what the new settings leave as it
//! was — an endpoint with the same URL, trust (CA file contents or fingerprint) and timeouts
//! keeps its client, its open connections and its health state; a pool with the same
//! endpoints, balance and health checks is the same `Arc` (so its health-check task goes on).

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use sha2::{Digest, Sha256};

use super::balance::{Balancer, EndpointState, MAX_ENDPOINTS, Transition};
use super::endpoint::Endpoint;
use super::{Chosen, SetupError};
use crate::config::gateway::{GatewayConfig, UpstreamSettings};
use crate::config::upstreams::{self, HealthCheck, NamedUpstream};
use crate::observe::{EndpointLabels, Metrics};

/// One endpoint of a pool with its health state and metric handles; shared by the pools of
/// successive snapshots while its settings stay the same.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) endpoint: Endpoint,
    /// `scheme://host:port`, for logs and metric labels (never a path, query or user info).
    pub(super) url: String,
    /// What it was built from: equal settings (and CA file contents) reuse it.
    key: String,
    /// Up or down, requests in flight (the balancer reads it).
    pub(super) state: Arc<EndpointState>,
    pub(super) requests: Counter,
    pub(super) failures: Counter,
    pub(super) healthy: Gauge,
    pub(super) seconds: Histogram,
}

/// A named upstream.
#[derive(Debug)]
pub struct Pool {
    pub(super) name: String,
    pub(super) members: Vec<Arc<Member>>,
    pub(super) balancer: Balancer,
    /// `None`: endpoints are never marked down (nothing would bring them back).
    pub(super) health: Option<HealthCheck>,
    /// Balance, health checks and the members' keys: equal plans reuse the pool.
    plan: String,
}

/// The metric families the endpoints' handles come from, and the all-tries histogram.
#[derive(Debug, Clone)]
struct Handles {
    requests: Family<EndpointLabels, Counter>,
    failures: Family<EndpointLabels, Counter>,
    healthy: Family<EndpointLabels, Gauge>,
    seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// `aclgate_upstream_seconds`: a request's time to the response head, all tries.
    total: Histogram,
}

// === impl Pool ===

impl Pool {
    /// Build the pool of `cfg`, reusing `previous`'s members (or the whole pool) where their
    /// settings are unchanged.
    fn build(
        cfg: &NamedUpstream,
        gw: &GatewayConfig,
        handles: &Handles,
        previous: Option<&Arc<Pool>>,
    ) -> Result<Arc<Pool>, SetupError> {
        if cfg.endpoints.len() > MAX_ENDPOINTS {
            return Err(SetupError::TooManyEndpoints(cfg.name.clone()));
        }
        let mut members = Vec::with_capacity(cfg.endpoints.len());
        for url in &cfg.endpoints {
            let settings = cfg.endpoint_settings(url, &gw.upstream);
            let key = member_key(&settings);
            let kept = previous
                .and_then(|p| p.members.iter().find(|m| m.key == key))
                .cloned();
            let member = match kept {
                Some(m) => m,
                None => Arc::new(Member::new(&cfg.name, &settings, key, handles)?),
            };
            members.push(member);
        }
        let keys: Vec<&str> = members.iter().map(|m| &*m.key).collect();
        let plan = format!("{:?} {:?} {keys:?}", cfg.balance, cfg.health_check);
        if let Some(p) = previous.filter(|p| p.plan == plan) {
            return Ok(Arc::clone(p));
        }
        let states = members.iter().map(|m| Arc::clone(&m.state)).collect();
        let pool = Pool {
            name: cfg.name.clone(),
            balancer: Balancer::with_states(cfg.balance, states),
            members,
            health: cfg.health_check.clone(),
            plan,
        };
        if pool.health.is_none() {
            // Health checks were turned off: nothing would bring a down endpoint back.
            for (i, m) in pool.members.iter().enumerate() {
                pool.record(i, m.state.revive(), "");
            }
        }
        Ok(Arc::new(pool))
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index of the endpoint with id `id`.
    pub(super) fn position(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.endpoint.id == id)
    }

    /// Time until the response head (the same for every endpoint of the pool).
    pub(super) fn timeout(&self) -> std::time::Duration {
        self.members
            .first()
            .map_or(std::time::Duration::ZERO, |m| m.endpoint.timeout)
    }

    /// Log and export a health transition of endpoint `i`.
    pub(super) fn record(&self, i: usize, transition: Option<Transition>, why: &str) {
        let Some(t) = transition else { return };
        let member = &self.members[i];
        match t {
            Transition::Down => {
                member.healthy.set(0);
                tracing::warn!(upstream = %self.name, endpoint = %member.url, why, "upstream endpoint down");
            }
            Transition::Up => {
                member.healthy.set(1);
                tracing::info!(upstream = %self.name, endpoint = %member.url, "upstream endpoint up");
            }
        }
    }

    /// A request's try failed in a way that says the endpoint is down: mark it down now, if
    /// health checks will bring it back.
    pub(super) fn eject(&self, i: usize, why: &str) {
        if self.health.is_some() {
            self.record(i, self.balancer.state(i).eject(), why);
        }
    }
}

// === impl Member ===

impl Member {
    fn new(
        upstream: &str,
        settings: &UpstreamSettings,
        key: String,
        handles: &Handles,
    ) -> Result<Member, SetupError> {
        let endpoint = Endpoint::new(settings)?;
        let url = endpoint.origin();
        let labels = EndpointLabels {
            upstream: upstream.to_owned(),
            endpoint: url.clone(),
        };
        let healthy = handles.healthy.get_or_create(&labels).clone();
        healthy.set(1);
        Ok(Member {
            endpoint,
            url,
            key,
            state: Arc::default(),
            requests: handles.requests.get_or_create(&labels).clone(),
            failures: handles.failures.get_or_create(&labels).clone(),
            healthy,
            seconds: handles.seconds.get_or_create(&labels).clone(),
        })
    }
}

/// An endpoint's settings and the contents of its CA file (a replaced CA file makes a new
/// client); the file's error text when it cannot be read (building the client then fails).
fn member_key(settings: &UpstreamSettings) -> String {
    let ca = settings.ca.as_ref().map(|file| match std::fs::read(file) {
        Ok(pem) => hex::encode(Sha256::digest(&pem)),
        Err(e) => e.to_string(),
    });
    format!("{settings:?} {ca:?}")
}

/// Every named upstream of one snapshot.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pools: Arc<[Arc<Pool>]>,
    handles: Handles,
}

// === impl Upstreams ===

impl Upstreams {
    /// Build the clients of every upstream in `config` (`[upstream]` is `default`), their
    /// metrics in `metrics`.
    pub fn new(config: &GatewayConfig, metrics: &Metrics) -> Result<Upstreams, SetupError> {
        let e = &metrics.endpoints;
        let handles = Handles {
            requests: e.requests.clone(),
            failures: e.failures.clone(),
            healthy: e.healthy.clone(),
            seconds: e.seconds.clone(),
            total: metrics.upstream_seconds.clone(),
        };
        Upstreams::build(config, handles, &[])
    }

    /// The upstreams of `config`, keeping from `self` every endpoint (client, connections,
    /// health state) and pool whose settings are unchanged. The metrics of endpoints that are
    /// gone are removed.
    pub fn next(&self, config: &GatewayConfig) -> Result<Upstreams, SetupError> {
        let next = Upstreams::build(config, self.handles.clone(), &self.pools)?;
        for (pool, member) in self.members() {
            let kept = next
                .members()
                .any(|(p, m)| p.name == pool.name && m.url == member.url);
            if !kept {
                let labels = EndpointLabels {
                    upstream: pool.name.clone(),
                    endpoint: member.url.clone(),
                };
                self.handles.requests.remove(&labels);
                self.handles.failures.remove(&labels);
                self.handles.healthy.remove(&labels);
                self.handles.seconds.remove(&labels);
            }
        }
        Ok(next)
    }

    fn build(
        config: &GatewayConfig,
        handles: Handles,
        previous: &[Arc<Pool>],
    ) -> Result<Upstreams, SetupError> {
        let pools = upstreams::all(config)
            .iter()
            .map(|u| {
                let before = previous.iter().find(|p| p.name == u.name);
                Pool::build(u, config, &handles, before)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams {
            pools: pools.into(),
            handles,
        })
    }

    /// The upstream named `name`.
    pub fn get(&self, name: &str) -> Option<&Pool> {
        self.find(name).map(|(_, p)| p)
    }

    /// The upstream named `name` and its position.
    pub(super) fn find(&self, name: &str) -> Option<(usize, &Pool)> {
        (self.pools.iter().enumerate())
            .find(|(_, p)| p.name == name)
            .map(|(i, p)| (i, &**p))
    }

    /// The upstream's name and the endpoint's `scheme://host:port` of a request forwarded
    /// with these upstreams.
    pub fn describe(&self, chosen: Chosen) -> Option<(&str, &str)> {
        let pool = self.pools.get(chosen.pool)?;
        let member = pool.members.get(chosen.member)?;
        Some((&pool.name, &member.url))
    }

    /// Every pool.
    pub(super) fn pools(&self) -> &[Arc<Pool>] {
        &self.pools
    }

    /// `aclgate_upstream_seconds`.
    pub(super) fn total_seconds(&self) -> &Histogram {
        &self.handles.total
    }

    fn members(&self) -> impl Iterator<Item = (&Pool, &Member)> {
        self.pools
            .iter()
            .flat_map(|p| p.members.iter().map(move |m| (&**p, &**m)))
    }
}
