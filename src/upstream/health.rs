//! Active health checks: every `interval_ms`, a GET of `health_check.path` to each endpoint of a
//! pool; an answer below 500 within `timeout_ms` passes. `unhealthy_after` failures in a row
//! mark an endpoint down, `healthy_after` passes in a row bring it back (also after a passive
//! ejection by a failed request).
//!
//! [`HealthChecks`] runs one task per pool of the current snapshot: a reload that keeps a pool
//! keeps its task, a changed pool gets a new task (its unchanged endpoints keep their state),
//! a pool that is gone stops being checked.

use std::sync::{Arc, Weak};
use std::time::Duration;

use http::{Method, Request, Uri};
use tokio::task::AbortHandle;

use super::Via;
use super::headers::Added;
use super::pool::{Pool, Upstreams};
use crate::config::upstreams::HealthCheck;

/// The running health checks; dropping it stops them.
#[derive(Debug, Default)]
pub struct HealthChecks {
    running: Vec<(Weak<Pool>, AbortHandle)>,
}

impl HealthChecks {
    /// Check exactly the pools of `upstreams` that have health checks: start a task for each
    /// pool not checked yet, stop the tasks of pools `upstreams` does not hold.
    pub fn follow(&mut self, upstreams: &Upstreams) {
        let current = |w: &Weak<Pool>| {
            upstreams
                .pools()
                .iter()
                .any(|p| std::ptr::eq(Arc::as_ptr(p), w.as_ptr()))
        };
        self.running.retain(|(pool, task)| {
            let keep = current(pool);
            if !keep {
                task.abort();
            }
            keep
        });
        for pool in upstreams.pools() {
            let Some(check) = &pool.health else { continue };
            let checked =
                (self.running.iter()).any(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(pool)));
            if !checked {
                let task = tokio::spawn(run(Arc::downgrade(pool), check.clone()));
                self.running
                    .push((Arc::downgrade(pool), task.abort_handle()));
            }
        }
    }
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        for (_, task) in &self.running {
            task.abort();
        }
    }
}

/// Check `pool`'s endpoints until the pool is dropped.
async fn run(pool: Weak<Pool>, check: HealthCheck) {
    let mut tick = tokio::time::interval(Duration::from_millis(check.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let Ok(path) = check.path.parse::<Uri>() else {
        return;
    };
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let checks = (0..pool.members.len()).map(|i| probe(&pool, i, &path, &check));
        futures_util::future::join_all(checks).await;
    }
}

/// One check of endpoint `i`.
async fn probe(pool: &Pool, i: usize, path: &Uri, check: &HealthCheck) {
    let member = &pool.members[i];
    let mut req = Request::new(crate::body::full(bytes::Bytes::new()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = path.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(check.timeout_ms);
    let sent = member
        .endpoint
        .send(Via::Pool, req, Added::default(), deadline);
    let passed = sent.await.is_ok_and(|resp| resp.status().as_u16() < 500);
    let state = pool.balancer.state(i);
    if passed {
        pool.record(i, state.check_passed(check.healthy_after), "");
    } else {
        pool.record(
            i,
            state.check_failed(check.unhealthy_after),
            "health check failed",
        );
    }
}
