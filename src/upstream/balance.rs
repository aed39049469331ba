//! Picking an endpoint: which endpoints are up, how many requests each has in flight, and the
//! `balance` rule (round robin, least pending, first healthy) over the ones a request has not
//! tried yet. Lock-free: a pick reads a few atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::config::upstreams::Balance;

/// At most this many endpoints per upstream (a request's tried set is one `u64`).
pub const MAX_ENDPOINTS: usize = 64;

/// The endpoints a request has tried.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tried(u64);

impl Tried {
    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// Record endpoint `i`.
    pub fn add(&mut self, i: usize) {
        self.0 |= 1 << i;
    }

    /// Whether nothing was tried yet.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One endpoint's live state.
#[derive(Debug)]
pub struct EndpointState {
    up: AtomicBool,
    pending: AtomicUsize,
    /// Consecutive failed health checks (or passive failures) while up.
    fails: AtomicU32,
    /// Consecutive passed health checks while down.
    passes: AtomicU32,
}

impl Default for EndpointState {
    fn default() -> Self {
        EndpointState {
            up: AtomicBool::new(true),
            pending: AtomicUsize::new(0),
            fails: AtomicU32::new(0),
            passes: AtomicU32::new(0),
        }
    }
}

/// A health transition to log and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Down,
    Up,
}

impl EndpointState {
    /// Whether the endpoint takes requests.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A health check passed; `Up` once `healthy_after` passed in a row while down.
    pub fn check_passed(&self, healthy_after: u32) -> Option<Transition> {
        self.fails.store(0, Ordering::Relaxed);
        if self.is_up() {
            return None;
        }
        let passes = self.passes.fetch_add(1, Ordering::Relaxed) + 1;
        (passes >= healthy_after && !self.up.swap(true, Ordering::Relaxed))
            .then_some(Transition::Up)
    }

    /// A health check failed; `Down` once `unhealthy_after` failed in a row while up.
    pub fn check_failed(&self, unhealthy_after: u32) -> Option<Transition> {
        self.passes.store(0, Ordering::Relaxed);
        let fails = self.fails.fetch_add(1, Ordering::Relaxed) + 1;
        (fails >= unhealthy_after).then(|| self.eject()).flatten()
    }

    /// Mark down now (a request found it refusing, resetting or silent).
    pub fn eject(&self) -> Option<Transition> {
        self.passes.store(0, Ordering::Relaxed);
        self.up
            .swap(false, Ordering::Relaxed)
            .then_some(Transition::Down)
    }

    /// Mark up now, counts cleared (its pool no longer has health checks, which alone could
    /// bring it back).
    pub fn revive(&self) -> Option<Transition> {
        self.fails.store(0, Ordering::Relaxed);
        self.passes.store(0, Ordering::Relaxed);
        (!self.up.swap(true, Ordering::Relaxed)).then_some(Transition::Up)
    }

    /// Count a request in flight until the guard is dropped.
    pub fn start(&self) -> PendingGuard<'_> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        PendingGuard(&self.pending)
    }
}

/// Decrements an endpoint's in-flight count when dropped.
pub struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The endpoints' states and the rule that picks among them.
#[derive(Debug)]
pub struct Balancer {
    rule: Balance,
    next: AtomicUsize,
    /// Shared with the endpoints: a reload that keeps an endpoint keeps its state.
    states: Vec<Arc<EndpointState>>,
}

impl Balancer {
    /// A balancer over `n` endpoints (at most [`MAX_ENDPOINTS`]), all up.
    pub fn new(rule: Balance, n: usize) -> Balancer {
        let states = (0..n).map(|_| Arc::default()).collect();
        Balancer::with_states(rule, states)
    }

    /// A balancer over endpoints with these states (at most [`MAX_ENDPOINTS`] are used).
    pub fn with_states(rule: Balance, mut states: Vec<Arc<EndpointState>>) -> Balancer {
        states.truncate(MAX_ENDPOINTS);
        Balancer {
            rule,
            next: AtomicUsize::new(0),
            states,
        }
    }

    /// Endpoint `i`'s state.
    pub fn state(&self, i: usize) -> &EndpointState {
        &self.states[i]
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether there are no endpoints.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// An up endpoint not in `tried`, by the rule; `prefer` (the endpoint a client
    /// connection's upstream connection goes to) wins while it is up and untried. `None`:
    /// every endpoint is down or tried.
    pub fn pick(&self, tried: Tried, prefer: Option<usize>) -> Option<usize> {
        let usable = |i: usize| !tried.has(i) && self.states[i].is_up();
        if let Some(p) = prefer.filter(|&p| p < self.states.len() && usable(p)) {
            return Some(p);
        }
        let n = self.states.len();
        if n == 1 {
            // A single endpoint (every `[upstream]`): no rule to apply, no shared counter to bump.
            return usable(0).then_some(0);
        }
        // A retry does not take a turn: had it, with one dead endpoint of two every request
        // would start at the dead one.
        let turn = || {
            if tried.is_empty() {
                self.next.fetch_add(1, Ordering::Relaxed)
            } else {
                self.next.load(Ordering::Relaxed)
            }
        };
        match self.rule {
            Balance::FirstHealthy => (0..n).find(|&i| usable(i)),
            Balance::RoundRobin => {
                let start = turn();
                (0..n).map(|k| (start + k) % n).find(|&i| usable(i))
            }
            Balance::LeastPending => {
                // Ties go round robin, so that an idle cluster still spreads the load.
                let start = turn();
                (0..n)
                    .map(|k| (start + k) % n)
                    .filter(|&i| usable(i))
                    .min_by_key(|&i| self.states[i].pending.load(Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_down_and_tried() {
        let b = Balancer::new(Balance::RoundRobin, 3);
        let picks: Vec<_> = (0..6).map(|_| b.pick(Tried::default(), None)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2].map(Some));
        b.state(1).eject();
        let picks: Vec<_> = (0..4).map(|_| b.pick(Tried::default(), None)).collect();
        assert!(picks.iter().all(|p| *p != Some(1)), "{picks:?}");
        let mut tried = Tried::default();
        tried.add(0);
        tried.add(2);
        assert_eq!(b.pick(tried, None), None);
        assert_eq!(b.pick(Tried::default(), Some(2)), Some(2));
    }

    #[test]
    fn a_retry_does_not_take_a_turn() {
        // Endpoint 0 refuses connections (no health checks mark it down): every other request
        // starts there and is retried on 1; the others go to 1 at once.
        let b = Balancer::new(Balance::RoundRobin, 2);
        let mut first_tries = Vec::new();
        for _ in 0..4 {
            let first = b.pick(Tried::default(), None).unwrap();
            first_tries.push(first);
            if first == 0 {
                let mut tried = Tried::default();
                tried.add(0);
                assert_eq!(b.pick(tried, None), Some(1));
            }
        }
        assert_eq!(first_tries, [0, 1, 0, 1]);
    }

    #[test]
    fn least_pending_and_first_healthy() {
        let b = Balancer::new(Balance::LeastPending, 2);
        let _busy = b.state(0).start();
        assert_eq!(b.pick(Tried::default(), None), Some(1));
        assert_eq!(b.pick(Tried::default(), None), Some(1));
        let f = Balancer::new(Balance::FirstHealthy, 3);
        assert_eq!(f.pick(Tried::default(), None), Some(0));
        f.state(0).eject();
        assert_eq!(f.pick(Tried::default(), None), Some(1));
    }

    #[test]
    fn health_thresholds() {
        let s = EndpointState::default();
        assert_eq!(s.check_failed(2), None);
        assert_eq!(s.check_failed(2), Some(Transition::Down));
        assert_eq!(s.check_failed(2), None);
        assert_eq!(s.check_passed(2), None);
        assert_eq!(s.check_passed(2), Some(Transition::Up));
        assert!(s.is_up());
    }
}
