//! [`TicketAuthority`]: the one handle the login handler and the proxy hold. It issues
//! tickets and CSRF tokens, authenticates tickets through the cache, and keeps its key ring
//! in step with other instances that share the state directory:
//!
//! - Issuing (a login, rare and already costly) re-reads `priv/authkey.ring` first, then
//!   rotates it under the state lock if the current key is a day old. An instance therefore
//!   never signs with a key another instance has already rotated out.
//! - Authenticating never touches files, except when a ticket in its time window fails every
//!   known key: then the ring file is re-read, at most once per `refresh_interval` seconds,
//!   and the ticket is tried again. That is how an instance that has not reloaded yet accepts
//!   tickets signed with the key another instance just rotated in; forged tickets cost at most
//!   one small file read per interval.
//! - [`TicketAuthority::refresh`] is for the reload door (SIGHUP, file watcher).
//!
//! The ring in use has one writer, `TicketAuthority::adopt`: the three triggers above (issuing,
//! which may first rotate the file; a verification miss; the reload door) hand it the ring they
//! read or made, and it swaps a ring in only if it is newer than the one in use, so their order
//! cannot roll the keys back. Every swap bumps a generation number; cache entries of an older generation miss.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::TicketError;
use super::cache::TicketCache;
use super::csrf::{self, CsrfSecret};
use super::format::{self, TfaPending, VerifiedTicket};
use super::keyring::KeyRing;
use super::short_lived::{self, Binding, ShortLivedKind};
use crate::config::StateDir;
use crate::config::auth_settings::TicketConfig;
use crate::identity::Userid;
use arc_swap::ArcSwap;

/// What a successful login hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The ticket (`PVE:...`).
    pub ticket: String,
    /// The CSRF prevention token for the same user.
    pub csrf_token: String,
    /// The time stamp of both.
    pub issued_at: i64,
}

/// Keys, CSRF secret and verified-ticket cache of one gateway instance.
#[derive(Debug)]
pub struct TicketAuthority {
    state: StateDir,
    config: TicketConfig,
    /// The key ring in use, with its generation number.
    ring: ArcSwap<Versioned>,
    csrf: CsrfSecret,
    cache: TicketCache,
    /// When an unknown signature last caused a re-read of the key file.
    last_miss_refresh: AtomicI64,
}

#[derive(Debug)]
struct Versioned {
    generation: u64,
    ring: KeyRing,
}

// === impl TicketAuthority ===

impl TicketAuthority {
    /// Load (or create) the key ring and the CSRF secret of `state`.
    pub fn open(
        state: &StateDir,
        now: i64,
        config: TicketConfig,
    ) -> Result<TicketAuthority, TicketError> {
        let ring = KeyRing::load_or_create_with(state, now, config.algorithm)?;
        let csrf = CsrfSecret::load_or_create(state)?;
        Ok(TicketAuthority {
            state: state.clone(),
            config,
            ring: ArcSwap::from_pointee(Versioned {
                generation: 0,
                ring,
            }),
            csrf,
            cache: TicketCache::new(config.cache),
            last_miss_refresh: AtomicI64::new(i64::MIN),
        })
    }

    /// Issue a full ticket and a CSRF token for `userid` (who has just proved a password and
    /// every required second factor, or presented a valid ticket for renewal).
    pub fn issue(&self, userid: &Userid, now: i64) -> Result<Issued, TicketError> {
        let ring = self.signing_ring(now)?;
        Ok(Issued {
            ticket: format::create(&ring.ring, userid, now)?,
            csrf_token: csrf::create_csrf(&self.csrf, userid, now)?,
            issued_at: now,
        })
    }

    /// Issue a TFA-pending half ticket holding `challenge` (JSON), bound to `userid`, and a
    /// CSRF token (Proxmox's `NeedTFA` answer carries one).
    pub fn issue_tfa_pending(
        &self,
        userid: &Userid,
        challenge: &str,
        now: i64,
    ) -> Result<Issued, TicketError> {
        let ring = self.signing_ring(now)?;
        Ok(Issued {
            ticket: format::create_tfa_pending(&ring.ring, userid, challenge, now)?,
            csrf_token: csrf::create_csrf(&self.csrf, userid, now)?,
            issued_at: now,
        })
    }

    /// Authenticate a request's ticket: a full ticket whose signature and age are valid. The
    /// caller must still check the user against the snapshot (exists, enabled, unexpired, not
    /// logged out: [`crate::auth::logout::LogoutList::is_revoked`]) on every request.
    pub fn authenticate(&self, ticket: &str, now: i64) -> Result<VerifiedTicket, TicketError> {
        let current = self.ring.load();
        if let Some(hit) = self.cache.lookup(ticket, current.generation, now) {
            return Ok(hit);
        }
        let result = match format::verify(&current.ring, ticket, now) {
            Err(TicketError::BadSignature) if self.refresh_after_miss(now) => {
                let current = self.ring.load();
                let result = format::verify(&current.ring, ticket, now);
                if let Ok(verified) = &result {
                    self.cache.insert(ticket, verified, current.generation, now);
                }
                return result;
            }
            result => result,
        };
        if let Ok(verified) = &result {
            self.cache.insert(ticket, verified, current.generation, now);
        }
        result
    }

    /// Verify the `tfa-challenge` ticket of the second login step for `userid`; returns the
    /// challenge stored by the first step. Never cached.
    pub fn verify_tfa_pending(
        &self,
        ticket: &str,
        userid: &Userid,
        now: i64,
    ) -> Result<TfaPending, TicketError> {
        let current = self.ring.load();
        match format::verify_tfa_pending(&current.ring, ticket, userid, now) {
            Err(TicketError::BadSignature) if self.refresh_after_miss(now) => {
                format::verify_tfa_pending(&self.ring.load().ring, ticket, userid, now)
            }
            result => result,
        }
    }

    /// Issue a short-lived console ticket (`PVEVNC` / `PVETUNNEL`) bound to `binding`.
    pub fn issue_short_lived(
        &self,
        kind: ShortLivedKind,
        binding: Binding<'_>,
        now: i64,
    ) -> Result<String, TicketError> {
        let ring = self.signing_ring(now)?;
        short_lived::create_short_lived(&ring.ring, kind, binding, now)
    }

    /// Verify a short-lived console ticket for `binding` (never cached: it lives 40 s).
    pub fn verify_short_lived(
        &self,
        kind: ShortLivedKind,
        ticket: &str,
        binding: Binding<'_>,
        now: i64,
    ) -> Result<(), TicketError> {
        let current = self.ring.load();
        match short_lived::verify_short_lived(&current.ring, kind, ticket, binding, now) {
            Err(TicketError::BadSignature) if self.refresh_after_miss(now) => {
                short_lived::verify_short_lived(&self.ring.load().ring, kind, ticket, binding, now)
            }
            result => result,
        }
    }

    /// A CSRF prevention token for `userid`.
    pub fn create_csrf(&self, userid: &Userid, now: i64) -> Result<String, TicketError> {
        csrf::create_csrf(&self.csrf, userid, now)
    }

    /// Whether `token` is a valid CSRF prevention token of `userid` (constant-time compare).
    pub fn verify_csrf(&self, token: &str, userid: &Userid, now: i64) -> bool {
        csrf::verify_csrf(&self.csrf, token, userid, now)
    }

    /// Re-read the key file and adopt it if it differs from the ring in use (never an older
    /// ring over a newer one). Returns whether the ring changed. A missing file changes
    /// nothing; a damaged one is an error and changes nothing.
    pub fn refresh(&self) -> Result<bool, TicketError> {
        match KeyRing::read(&self.state)? {
            Some(ring) => Ok(self.adopt(ring)),
            None => Ok(false),
        }
    }

    /// The key ring in use.
    pub fn key_ring(&self) -> KeyRing {
        self.ring.load().ring.clone()
    }

    /// The verified-ticket cache (for metrics and tests).
    pub fn cache(&self) -> &TicketCache {
        &self.cache
    }

    /// The ring to sign with at `now`: the file's (another instance may have rotated),
    /// rotated first if due.
    fn signing_ring(&self, now: i64) -> Result<Arc<Versioned>, TicketError> {
        self.refresh()?;
        let current = self.ring.load_full();
        if let Some(rotated) =
            current
                .ring
                .rotate_if_due(&self.state, now, self.config.algorithm)?
        {
            self.adopt(rotated);
        }
        Ok(self.ring.load_full())
    }

    /// The one writer of the ring in use: swap `ring` in unless it is the ring in use or older
    /// than it.
    fn adopt(&self, ring: KeyRing) -> bool {
        let mut changed = false;
        self.ring.rcu(|current| {
            changed =
                ring != current.ring && ring.current_created() >= current.ring.current_created();
            if changed {
                Arc::new(Versioned {
                    generation: current.generation + 1,
                    ring: ring.clone(),
                })
            } else {
                Arc::clone(current)
            }
        });
        changed
    }

    /// After a ticket failed every known key: re-read the key file if the last such re-read
    /// is at least `refresh_interval` seconds old. Returns whether the ring changed.
    fn refresh_after_miss(&self, now: i64) -> bool {
        let last = self.last_miss_refresh.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.config.refresh_interval
            || self
                .last_miss_refresh
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        match self.refresh() {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the ticket keys; keeping the ones in use");
                false
            }
        }
    }
}
