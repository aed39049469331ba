//! Active health checks: every `interval_ms`, a GET of `health_check.path` to each endpoint of a
//! pool; an answer below 500 within `timeout_ms` passes. `unhealthy_after` failures in a row
//! mark an endpoint down, `healthy_after` passes in a row bring it back (also after a passive
//! ejection by a failed request).

use std::sync::Weak;
use std::time::Duration;

use http::{Method, Request, Uri};

use super::Via;
use super::headers::Added;
use super::pool::Pool;
use crate::config::upstreams::HealthCheck;

/// Check `pool`'s endpoints until the pool is dropped.
pub(super) async fn run(pool: Weak<Pool>, check: HealthCheck) {
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
    let mut req = Request::new(crate::error::full(bytes::Bytes::new()));
    *req.method_mut() = Method::GET;
    *req.uri_mut() = path.clone();
    let sent = member.endpoint.send(Via::Pool, req, Added::default());
    let passed = match tokio::time::timeout(Duration::from_millis(check.timeout_ms), sent).await {
        Ok(Ok(resp)) => resp.status().as_u16() < 500,
        Ok(Err(_)) | Err(_) => false,
    };
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
