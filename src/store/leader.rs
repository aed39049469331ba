//! The fleet's leader: of the gateways on one etcd prefix, the one whose lease holds
//! `meta/leader` does what must happen once per fleet — rotating the ticket key ring in etcd
//! and running the realm-sync jobs; the others skip them. The lease lives [`TTL_S`] seconds
//! without a keep-alive, so a leader that dies (or loses etcd) is replaced within about
//! `TTL_S + 1` seconds; a leader that stops normally gives its lease back at once.
//!
//! Leadership is advice, not a fence: a leader cut off from etcd believes it leads until its
//! last keep-alive is [`TTL_S`] old. What it does stays safe anyway — the key rotation and the
//! sync's writes are `Store::change`s under the writers' lock with the serial compare.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::etcd::{EtcdError, EtcdStore};
use crate::observe::Metrics;

/// Lease time to live, seconds: how long a dead leader blocks the fleet's jobs.
pub const TTL_S: u64 = 3;

/// How often a gateway campaigns or renews its lease.
const TICK: Duration = Duration::from_millis(1000);

/// The leader key (under `meta/`: not part of the state, not watched).
const KEY: &str = "meta/leader";

/// Whether this gateway leads its fleet; shared with the jobs that ask.
pub struct Leadership {
    leader: AtomicBool,
    metrics: Arc<Metrics>,
}

// === impl Leadership ===

impl Leadership {
    /// Whether this gateway leads now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn set(&self, leader: bool) {
        let was = self.leader.swap(leader, Ordering::SeqCst);
        self.metrics.store.leader.set(i64::from(leader));
        if was != leader {
            tracing::info!(leader, "fleet leadership changed");
        }
    }
}

/// Campaign for the leadership of the fleet on `store` from now on (a thread of its own, which
/// ends when the answered leadership is dropped); `id` names this gateway in the leader key.
pub fn campaign(
    store: Arc<EtcdStore>,
    id: String,
    metrics: Arc<Metrics>,
) -> std::io::Result<Arc<Leadership>> {
    let leadership = Arc::new(Leadership {
        leader: AtomicBool::new(false),
        metrics,
    });
    let weak = Arc::downgrade(&leadership);
    std::thread::Builder::new()
        .name("etcd-leader".to_owned())
        .spawn(move || {
            let mut campaign = Campaign {
                store,
                id,
                lease: None,
                confirmed: None,
            };
            // Ends when the gateway drops its leadership (the process ends first, normally).
            while let Some(leadership) = weak.upgrade() {
                let leads = campaign.tick();
                leadership.set(leads);
                drop(leadership);
                std::thread::sleep(TICK);
            }
            campaign.resign();
        })?;
    Ok(leadership)
}

struct Campaign {
    store: Arc<EtcdStore>,
    id: String,
    /// Our lease, while etcd says it lives.
    lease: Option<i64>,
    /// When etcd last confirmed that we lead.
    confirmed: Option<Instant>,
}

impl Campaign {
    /// One round: renew (or take) a lease, then take the key if it is free. Answers whether we
    /// lead.
    fn tick(&mut self) -> bool {
        match self.round() {
            Ok(true) => {
                self.confirmed = Some(Instant::now());
                true
            }
            Ok(false) => {
                self.confirmed = None;
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "leader campaign: etcd did not answer");
                // Cut off: we may still lead until the lease could have run out.
                self.confirmed
                    .is_some_and(|at| at.elapsed() < Duration::from_secs(TTL_S))
            }
        }
    }

    fn round(&mut self) -> Result<bool, EtcdError> {
        let lease = match self.lease {
            Some(lease) if self.keep_alive(lease)? => lease,
            _ => {
                let lease = self.grant()?;
                self.lease = Some(lease);
                lease
            }
        };
        let key = b64(&self.store.key(KEY));
        let answer: serde_json::Value = self.store.client().call(
            "/v3/kv/txn",
            &json!({
                "compare": [{ "key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                "success": [{ "request_put": { "key": key, "value": b64(&self.id), "lease": lease.to_string() } }],
                "failure": [{ "request_range": { "key": key } }],
            }),
        )?;
        if answer["succeeded"].as_bool() == Some(true) {
            return Ok(true);
        }
        let holder = &answer["responses"][0]["response_range"]["kvs"][0]["lease"];
        Ok(holder.as_str() == Some(lease.to_string().as_str()))
    }

    fn grant(&self) -> Result<i64, EtcdError> {
        let answer: serde_json::Value = self
            .store
            .client()
            .call("/v3/lease/grant", &json!({ "TTL": TTL_S.to_string() }))?;
        int(&answer["ID"]).ok_or_else(|| EtcdError::Server("lease grant: no ID".to_owned()))
    }

    /// Whether `lease` still lives (renewed now).
    fn keep_alive(&self, lease: i64) -> Result<bool, EtcdError> {
        let answer: serde_json::Value = self
            .store
            .client()
            .call("/v3/lease/keepalive", &json!({ "ID": lease.to_string() }))?;
        Ok(int(&answer["result"]["TTL"]).is_some_and(|ttl| ttl > 0))
    }

    /// Give the lease back (the key goes with it): another gateway leads at its next round.
    fn resign(&mut self) {
        if let Some(lease) = self.lease.take() {
            let _: Result<serde_json::Value, _> = self
                .store
                .client()
                .call("/v3/lease/revoke", &json!({ "ID": lease.to_string() }));
        }
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// etcd's JSON gateway writes 64-bit integers as strings.
fn int(value: &serde_json::Value) -> Option<i64> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_i64())
}
