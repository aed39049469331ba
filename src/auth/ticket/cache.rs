//! A bounded, expiring cache of verified tickets, so that a request with a ticket seen before
//! costs a hash lookup instead of a signature verification.
//!
//! - Keyed by the whole ticket text (never by a short hash of it: a collision would let one
//!   text pass as another). Only tickets that verified are inserted, so an attacker cannot
//!   choose the keys; unknown texts cost one lookup and then the normal verification.
//! - Each entry remembers when the ticket's 2-hour lifetime ends and the key ring generation
//!   it was verified under; a lookup after either changed misses (and drops the entry).
//! - What is cached is only "this text is a genuine ticket of USER stamped T". Whether USER
//!   exists, is enabled, unexpired and not logged out is checked against the snapshot on
//!   every request by the caller.
//! - Memory is bounded by `max_entries`: at the bound, expired entries are purged, and if
//!   that does not free an eighth of the room, arbitrary entries go too (they only cost one
//!   verification when seen again). Inserts racing an eviction may overshoot the bound by at
//!   most one entry per thread.

use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::TICKET_LIFETIME;
use super::format::VerifiedTicket;
use crate::config::auth_settings::CacheConfig;
use crate::identity::Userid;

/// Verified tickets by their text.
#[derive(Debug)]
pub struct TicketCache {
    map: DashMap<Box<str>, Entry, FxBuildHasher>,
    max_entries: usize,
    /// Held by the one thread that is evicting; others skip their insert meanwhile.
    evicting: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    userid: Userid,
    issued_at: i64,
    /// First second at which the ticket is too old.
    expires: i64,
    /// Key ring generation the ticket was verified under.
    generation: u64,
}

// === impl TicketCache ===

impl TicketCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> TicketCache {
        TicketCache {
            map: DashMap::with_hasher(FxBuildHasher),
            max_entries: config.max_entries,
            evicting: AtomicBool::new(false),
        }
    }

    /// The cached verification of `ticket`, if it was verified under key ring `generation`
    /// and has not expired at `now`.
    pub fn lookup(&self, ticket: &str, generation: u64, now: i64) -> Option<VerifiedTicket> {
        let entry = self.map.get(ticket)?;
        if entry.generation == generation && now < entry.expires {
            return Some(VerifiedTicket {
                userid: entry.userid.clone(),
                issued_at: entry.issued_at,
            });
        }
        // Stale (expired, or verified under keys since replaced): drop it.
        drop(entry);
        self.map.remove(ticket);
        None
    }

    /// Remember that `ticket` verified as `verified` under key ring `generation`.
    pub fn insert(&self, ticket: &str, verified: &VerifiedTicket, generation: u64, now: i64) {
        let expires = verified.issued_at.saturating_add(TICKET_LIFETIME);
        if self.max_entries == 0 || now >= expires {
            return;
        }
        if self.map.len() >= self.max_entries && !self.evict(now) {
            return;
        }
        self.map.insert(
            ticket.into(),
            Entry {
                userid: verified.userid.clone(),
                issued_at: verified.issued_at,
                expires,
                generation,
            },
        );
    }

    /// Number of cached tickets.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forget everything.
    pub fn clear(&self) {
        self.map.clear();
    }

    /// Make room; false if another thread is already at it (the caller then skips its
    /// insert, so the bound holds).
    fn evict(&self, now: i64) -> bool {
        if self.evicting.swap(true, Ordering::Acquire) {
            return false;
        }
        self.map.retain(|_, entry| now < entry.expires);
        // Leave an eighth of the room (at least one slot) free.
        let target = (self.max_entries - self.max_entries / 8).min(self.max_entries - 1);
        let excess = self.map.len().saturating_sub(target);
        if excess > 0 {
            let victims: Vec<Box<str>> = self
                .map
                .iter()
                .take(excess)
                .map(|e| e.key().clone())
                .collect();
            for key in victims {
                self.map.remove(&key);
            }
        }
        self.evicting.store(false, Ordering::Release);
        true
    }
}
