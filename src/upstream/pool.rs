//! The named upstreams: each a [`Pool`] of endpoints with its balancer, health-check settings
//! and per-endpoint metrics; [`Upstreams`] finds one by name.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::SetupError;
use super::balance::{Balancer, MAX_ENDPOINTS, Transition};
use super::endpoint::Endpoint;
use crate::config::gateway::GatewayConfig;
use crate::config::upstreams::{self, HealthCheck, NamedUpstream};
use crate::observe::{EndpointLabels, Metrics};

/// One endpoint of a pool with its metric handles.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) endpoint: Endpoint,
    /// The base URL, for logs.
    pub(super) url: String,
    pub(super) requests: Counter,
    pub(super) failures: Counter,
    pub(super) healthy: Gauge,
    pub(super) seconds: Histogram,
}

/// A named upstream.
#[derive(Debug)]
pub struct Pool {
    pub(super) name: String,
    pub(super) members: Vec<Member>,
    pub(super) balancer: Balancer,
    /// `None`: endpoints are never marked down (nothing would bring them back).
    pub(super) health: Option<HealthCheck>,
}

impl Pool {
    fn new(cfg: &NamedUpstream, gw: &GatewayConfig, metrics: &Metrics) -> Result<Pool, SetupError> {
        if cfg.endpoints.len() > MAX_ENDPOINTS {
            return Err(SetupError::TooManyEndpoints(cfg.name.clone()));
        }
        let mut members = Vec::with_capacity(cfg.endpoints.len());
        for url in &cfg.endpoints {
            let labels = EndpointLabels {
                upstream: cfg.name.clone(),
                endpoint: url.clone(),
            };
            let m = &metrics.endpoints;
            let healthy = m.healthy.get_or_create(&labels).clone();
            healthy.set(1);
            members.push(Member {
                endpoint: Endpoint::new(&cfg.endpoint_settings(url, &gw.upstream))?,
                url: url.clone(),
                requests: m.requests.get_or_create(&labels).clone(),
                failures: m.failures.get_or_create(&labels).clone(),
                healthy,
                seconds: m.seconds.get_or_create(&labels).clone(),
            });
        }
        Ok(Pool {
            name: cfg.name.clone(),
            balancer: Balancer::new(cfg.balance, members.len()),
            members,
            health: cfg.health_check.clone(),
        })
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

/// Every named upstream, built once at start.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pools: Arc<[Arc<Pool>]>,
}

impl Upstreams {
    /// Build the clients of every upstream in `config` (`[upstream]` is `default`).
    pub fn new(config: &GatewayConfig, metrics: &Metrics) -> Result<Upstreams, SetupError> {
        let pools = upstreams::all(config)
            .iter()
            .map(|u| Pool::new(u, config, metrics).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams {
            pools: pools.into(),
        })
    }

    /// The upstream named `name`.
    pub fn get(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name).map(|p| &**p)
    }

    /// Start the health checks of every upstream that has them; they end when the last
    /// clone of `self` is dropped.
    pub fn start_health_checks(&self) {
        for pool in self.pools.iter() {
            if let Some(check) = &pool.health {
                tokio::spawn(super::health::run(Arc::downgrade(pool), check.clone()));
            }
        }
    }
}
