//! Login throttling (beyond Proxmox, which only delays each failure): failed logins counted per
//! source and per (user, source) in fixed windows.
//!
//! - A source (an IPv4 address, an IPv6 /64 — one subscriber's network — with IPv4-mapped
//!   IPv6 addresses counted as IPv4) that fails `per_source` times in a window is refused for
//!   the rest of the window, for every user.
//! - A user that fails `per_user_source` times from one source is refused *from that source*
//!   for the rest of the window. Other sources are not affected, so an attacker cannot lock a
//!   user out for everyone.
//! - A user that fails `per_user_slowdown` times from all sources together is only slowed:
//!   every attempt for that user waits `slowdown_ms` more (the answer to a spread-out guessing
//!   attack that stays under the per-source bounds; it never refuses).
//! - A success clears that user's counter for that source only.
//! - Memory is bounded: each table holds at most `max_entries` keys. At the bound, entries
//!   whose window ended and entries below their limit are dropped (at most once a second);
//!   if the table is still full, new keys are not tracked until room frees up. Bucketing IPv6
//!   by /64 keeps one attacker's address spraying to one key per network.
//!
//! Usernames are compared case-insensitively here (a case variant must not reset the count).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;
use thiserror::Error;

pub use crate::config::auth_settings::ThrottleConfig;

/// The login was refused without checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("too many failed logins, retry in {} s", retry_after.as_secs().max(1))]
pub struct Throttled {
    /// When the refusing window ends.
    pub retry_after: Duration,
}

/// The login may proceed, after `delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Extra wait before answering (zero unless the user is under a spread-out attack).
    pub delay: Duration,
}

/// Failed-login counters of one gateway instance.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    window: Duration,
    sources: Table<SourceKey>,
    pairs: Table<(Box<str>, SourceKey)>,
    users: Table<Box<str>>,
}

/// A source address reduced to what is counted: IPv4 /32 or IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    /// An IPv4 address (also from an IPv4-mapped IPv6 address).
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6Net(u64),
}

#[derive(Debug)]
struct Table<K: std::hash::Hash + Eq> {
    map: DashMap<K, Counter, FxBuildHasher>,
    /// When the table was last purged; `try_lock` keeps purges to one thread at a time.
    last_purge: Mutex<Option<Instant>>,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    count: u32,
    start: Instant,
}

// === impl ThrottleConfig ===

// === impl Throttle ===

impl Throttle {
    /// Empty counters with `config`.
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            window: Duration::from_secs(config.window),
            sources: Table::new(),
            pairs: Table::new(),
            users: Table::new(),
        }
    }

    /// May `username` try to log in from `source` now? Call before checking the password.
    pub fn check(&self, source: IpAddr, username: &str, now: Instant) -> Result<(), Throttled> {
        self.admit(source, username, now).map(|_| ())
    }

    /// Like [`Throttle::check`], also telling how long to delay the attempt.
    pub fn admit(
        &self,
        source: IpAddr,
        username: &str,
        now: Instant,
    ) -> Result<Admission, Throttled> {
        let source = SourceKey::from(source);
        let user = user_key(username);
        let refused = [
            self.sources
                .blocking(&source, self.config.per_source, self.window, now),
            self.pairs.blocking(
                &(user.clone(), source),
                self.config.per_user_source,
                self.window,
                now,
            ),
        ];
        if let Some(retry_after) = refused.into_iter().flatten().max() {
            return Err(Throttled { retry_after });
        }
        let slowed = self
            .users
            .blocking(&user, self.config.per_user_slowdown, self.window, now)
            .is_some();
        Ok(Admission {
            delay: if slowed {
                Duration::from_millis(self.config.slowdown_ms)
            } else {
                Duration::ZERO
            },
        })
    }

    /// Count a failed login of `username` from `source`.
    pub fn record_failure(&self, source: IpAddr, username: &str, now: Instant) {
        let source = SourceKey::from(source);
        let user = user_key(username);
        let (max, window) = (self.config.max_entries, self.window);
        self.sources
            .bump(source, self.config.per_source, max, window, now);
        self.pairs.bump(
            (user.clone(), source),
            self.config.per_user_source,
            max,
            window,
            now,
        );
        self.users
            .bump(user, self.config.per_user_slowdown, max, window, now);
    }

    /// A successful login of `username` from `source`: forget that pair's failures. The
    /// source's and the user's totals stay (a success must not reset an attack's counts).
    pub fn record_success(&self, source: IpAddr, username: &str, _now: Instant) {
        self.pairs
            .map
            .remove(&(user_key(username), SourceKey::from(source)));
    }

    /// Keys held per table: (sources, user+source pairs, users).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.sources.map.len(),
            self.pairs.map.len(),
            self.users.map.len(),
        )
    }
}

// === impl SourceKey ===

impl From<IpAddr> for SourceKey {
    fn from(ip: IpAddr) -> SourceKey {
        match ip {
            IpAddr::V4(v4) => SourceKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => SourceKey::V4(u32::from(v4)),
                None => SourceKey::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

// === impl Table ===

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new() -> Table<K> {
        Table {
            map: DashMap::with_hasher(FxBuildHasher),
            last_purge: Mutex::new(None),
        }
    }

    /// If `key` has reached `limit` in its current window: the time until the window ends.
    fn blocking(&self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
        let counter = *self.map.get(key)?;
        let left = (counter.start + window).saturating_duration_since(now);
        (counter.count >= limit && !left.is_zero()).then_some(left)
    }

    fn bump(&self, key: K, limit: u32, max: usize, window: Duration, now: Instant) {
        if let Some(mut counter) = self.map.get_mut(&key) {
            if now.saturating_duration_since(counter.start) >= window {
                *counter = Counter {
                    count: 1,
                    start: now,
                };
            } else {
                counter.count = counter.count.saturating_add(1);
            }
            return;
        }
        if self.map.len() >= max {
            self.purge(limit, window, now);
            if self.map.len() >= max {
                // Full of live, limiting entries: do not track a new key (bounded memory
                // wins; the caller's per-failure delay still applies).
                return;
            }
        }
        self.map.insert(
            key,
            Counter {
                count: 1,
                start: now,
            },
        );
    }

    /// Drop entries whose window ended or that are below the limit; at most once a second.
    fn purge(&self, limit: u32, window: Duration, now: Instant) {
        let Ok(mut last) = self.last_purge.try_lock() else {
            return;
        };
        if last.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        *last = Some(now);
        self.map
            .retain(|_, c| c.count >= limit && now.saturating_duration_since(c.start) < window);
    }
}

/// Usernames are counted case-insensitively and at most 128 bytes long.
fn user_key(username: &str) -> Box<str> {
    let mut end = username.len().min(128);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_lowercase().into_boxed_str()
}
