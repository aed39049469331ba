//! Per-token request rate limits (`rate-limit`/`rate-burst` in `token-options.cfg`): one token
//! bucket per token id, kept as mutable runtime state next to the metrics in
//! the gateway's runtime state so that it survives snapshot swaps.
//!
//! Each bucket is one `AtomicU64` (GCRA, the "virtual scheduling" form of a token bucket): the
//! theoretical arrival time `tat` of the next request, in nanoseconds since the limiter was
//! created. A request at `now` is allowed when `tat - now <= interval * (burst - 1)`, and then
//! moves `tat` on by one `interval` (= 1 s / rate). A bucket whose `tat` lies in the past is
//! full, which is exactly the state of a bucket that does not exist: such buckets (those of
//! idle and of deleted tokens) are swept whenever the map has doubled since the last sweep, so
//! memory stays bounded by the tokens used within their last burst window.
//!
//! Only authenticated requests are counted: a wrong secret sent with someone's token id must
//! not use up that token's budget.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::token_options::RateLimit;

/// Every token's bucket.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time zero of the buckets' clocks.
    base: Instant,
    /// Token id → theoretical arrival time of its next request (ns since `base`).
    buckets: DashMap<Box<str>, AtomicU64>,
    /// Sweep full buckets when the map grows past this many entries.
    sweep_at: AtomicUsize,
}

/// A request over its token's limit; the client may retry after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// How long until the bucket has room for one request.
    pub retry_after: Duration,
}

// === impl RateLimiter ===

impl RateLimiter {
    /// An empty limiter whose clock starts now.
    pub fn new() -> RateLimiter {
        RateLimiter {
            base: Instant::now(),
            buckets: DashMap::new(),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
        }
    }

    /// Count one request of token `id` against `limit` now.
    pub fn check(&self, id: &str, limit: RateLimit) -> Result<(), Limited> {
        self.check_at(id, limit, self.base.elapsed())
    }

    /// Count one request of token `id` against `limit` at `now` (time since the limiter was
    /// created; tests inject it).
    pub fn check_at(&self, id: &str, limit: RateLimit, now: Duration) -> Result<(), Limited> {
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        if let Some(tat) = self.buckets.get(id) {
            return take(&tat, limit, now);
        }
        if self.buckets.len() >= self.sweep_at.load(Ordering::Relaxed) {
            self.sweep(now);
        }
        // Two first requests may race here; `entry` makes them share one bucket.
        let tat = self
            .buckets
            .entry(Box::from(id))
            .or_insert_with(|| AtomicU64::new(0))
            .downgrade();
        take(&tat, limit, now)
    }

    /// Number of buckets held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Drop every full bucket (forgetting it changes nothing) and set the next sweep point.
    fn sweep(&self, now: u64) {
        self.buckets
            .retain(|_, tat| tat.load(Ordering::Relaxed) > now);
        let next = (self.buckets.len() * 2).max(MIN_SWEEP);
        self.sweep_at.store(next, Ordering::Relaxed);
    }
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::new()
    }
}

/// GCRA on one bucket: allow and advance `tat`, or tell how long to wait.
fn take(tat: &AtomicU64, limit: RateLimit, now: u64) -> Result<(), Limited> {
    let interval = NANOS_PER_SEC / u64::from(limit.rate.max(1));
    let tolerance = interval.saturating_mul(u64::from(limit.burst().max(1) - 1));
    let mut seen = tat.load(Ordering::Relaxed);
    loop {
        let start = seen.max(now);
        let ahead = start - now;
        if ahead > tolerance {
            return Err(Limited {
                retry_after: Duration::from_nanos(ahead - tolerance),
            });
        }
        match tat.compare_exchange_weak(
            seen,
            start.saturating_add(interval),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok(()),
            Err(current) => seen = current,
        }
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Below this many buckets nothing is swept.
const MIN_SWEEP: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rate: u32, burst: Option<u32>) -> RateLimit {
        RateLimit { rate, burst }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Requests of one token at the given times (ms): allowed, or the retry-after in ms.
    fn check(rate: u32, burst: Option<u32>, times: &[u64], want: &[Result<(), u64>]) {
        let limiter = RateLimiter::new();
        let got: Vec<Result<(), u64>> = times
            .iter()
            .map(|&t| {
                limiter
                    .check_at("a@pve!tk", limit(rate, burst), ms(t))
                    .map_err(|l| l.retry_after.as_millis() as u64)
            })
            .collect();
        assert_eq!(got, want, "rate {rate} burst {burst:?} at {times:?}");
    }

    #[test]
    fn bucket_table() {
        // rate 1/s, burst 2: two at once, the third waits a second.
        check(1, Some(2), &[0, 0, 0], &[Ok(()), Ok(()), Err(1000)]);
        // ... and after 1 s there is room for exactly one more.
        check(
            1,
            Some(2),
            &[0, 0, 1000, 1000],
            &[Ok(()), Ok(()), Ok(()), Err(1000)],
        );
        // A refused request costs nothing: the retry time does not grow.
        check(
            1,
            Some(2),
            &[0, 0, 0, 0],
            &[Ok(()), Ok(()), Err(1000), Err(1000)],
        );
        check(1, Some(2), &[0, 0, 500], &[Ok(()), Ok(()), Err(500)]);
        // Burst defaults to the rate.
        check(2, None, &[0, 0, 0], &[Ok(()), Ok(()), Err(500)]);
        // Burst 1: strictly one per interval.
        check(
            10,
            Some(1),
            &[0, 50, 100, 150],
            &[Ok(()), Err(50), Ok(()), Err(50)],
        );
        // A long idle time refills only up to the burst.
        check(
            1,
            Some(2),
            &[0, 60_000, 60_000, 60_000],
            &[Ok(()), Ok(()), Ok(()), Err(1000)],
        );
        // Steady traffic at the rate is never refused.
        check(4, Some(1), &[0, 250, 500, 750, 1000], &[Ok(()); 5]);
    }

    #[test]
    fn tokens_have_their_own_buckets() {
        let limiter = RateLimiter::new();
        let one = limit(1, None);
        assert_eq!(limiter.check_at("a@pve!tk", one, ms(0)), Ok(()));
        assert!(limiter.check_at("a@pve!tk", one, ms(0)).is_err());
        assert_eq!(limiter.check_at("b@pve!tk", one, ms(0)), Ok(()));
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn full_buckets_are_swept_and_memory_stays_bounded() {
        let limiter = RateLimiter::new();
        let one = limit(1, None);
        // Many tokens used once, each bucket full again a second later.
        for i in 0..MIN_SWEEP {
            let _ = limiter.check_at(&format!("u@pve!t{i}"), one, ms(0));
        }
        assert_eq!(limiter.len(), MIN_SWEEP);
        // A new token two seconds later triggers a sweep of every full bucket.
        let _ = limiter.check_at("new@pve!tk", one, ms(2000));
        assert_eq!(limiter.len(), 1, "only the live bucket is left");
        // Buckets still draining are kept (the sweep while these are added drops only the
        // bucket of `new@pve!tk`, full again at 3 s).
        for i in 0..MIN_SWEEP {
            let _ = limiter.check_at(&format!("v@pve!t{i}"), one, ms(3000));
        }
        let _ = limiter.check_at("late@pve!tk", one, ms(3500));
        assert_eq!(limiter.len(), MIN_SWEEP + 1);
        assert!(
            limiter.check_at("v@pve!t0", one, ms(3500)).is_err(),
            "a draining bucket kept its state through the sweep"
        );
    }
}
