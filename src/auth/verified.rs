//! [`VerifiedTokens`]: a per-snapshot cache (held by the snapshot, used by
//! `gate::authenticate_request`) of API-token credentials that verified, so that a
//! token's next requests skip parsing the header and the salted SHA-256 of its secret.
//!
//! Why it is safe:
//! - It lives in the snapshot (`Snapshot::verified_tokens`) and starts empty in every new one: a
//!   revoked, removed or re-secreted token (or a disabled owner) is a new snapshot, so the
//!   cache never outlives the state that verified an entry.
//! - Expiry by time is checked on every hit (owner usable, token unexpired, against the
//!   snapshot's index), and an entry made while the token's previous secret was still in its
//!   overlap is good only until that overlap ends.
//! - No secret is stored: the key is a keyed SipHash-2-4 digest with a 128-bit output (the
//!   designers' 128-bit mode, with a random 128-bit key drawn per snapshot) of the whole
//!   `Authorization` value. Lookups compare digests only; without the key a timing difference
//!   says nothing about any secret.
//! - Only credentials that verified are inserted, at most one entry per token id (a new form
//!   of the same header replaces the old), and never more than [`MAX_ENTRIES`]: someone
//!   without a valid secret cannot add anything, and a token holder cannot grow it.
//! - An entry is used only where the header alone decides the credential: no `Cookie` header
//!   (a ticket cookie would win over the token) and exactly one `Authorization` header.

use std::sync::RwLock;

use http::HeaderMap;
use rustc_hash::FxHashMap;

use super::ticket::TicketAuthority;
use super::{AuthError, Credential, Directory};
use crate::identity::{Authid, Tokenid};

/// Most entries per snapshot, whatever the number of tokens.
pub const MAX_ENTRIES: usize = 1 << 16;

/// The verified token credentials of one snapshot.
pub struct VerifiedTokens {
    /// The SipHash-2-4-128 key, drawn at random when the snapshot is built.
    key: [u64; 2],
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Header digest → what it verified as.
    by_digest: FxHashMap<u128, Entry>,
    /// Token id → the digest of its entry (one per token).
    by_token: FxHashMap<Tokenid, u128>,
}

struct Entry {
    tokenid: Tokenid,
    /// The entry is good while `now` is below this (the previous secret's overlap end, or
    /// never ending).
    until: u64,
}

/// [`super::authenticate`] of the credential [`Credential::extract`] finds in `headers`, with
/// token credentials that verified before answered from `cache` (owner and token still
/// checked at `now`) and new ones that verify added to it.
pub fn authenticate_cached(
    cache: &VerifiedTokens,
    dir: Directory<'_>,
    tickets: Option<&TicketAuthority>,
    headers: &HeaderMap,
    now: u64,
) -> Result<Authid, AuthError> {
    let sole = sole_authorization(headers);
    if let Some(value) = sole
        && let Some(tokenid) = cache.lookup(dir, value, now)
    {
        return Ok(Authid::Token(tokenid));
    }
    let authid = super::authenticate(dir, tickets, Credential::extract(headers), now)?;
    if let (Some(value), Authid::Token(tokenid)) = (sole, &authid) {
        cache.insert(dir, value, tokenid, now);
    }
    Ok(authid)
}

/// The `Authorization` value of a request whose credential it alone decides.
fn sole_authorization(headers: &HeaderMap) -> Option<&[u8]> {
    if crate::header_scan::carries(headers, &http::header::COOKIE) {
        return None;
    }
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next()?;
    values.next().is_none().then(|| value.as_bytes())
}

// === impl VerifiedTokens ===

impl VerifiedTokens {
    /// An empty cache with a fresh random key.
    pub fn new() -> VerifiedTokens {
        VerifiedTokens {
            key: rand::random(),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The token that `authorization` verified as, if it did in this snapshot and the token
    /// and its owner are still usable at `now`.
    fn lookup(&self, dir: Directory<'_>, authorization: &[u8], now: u64) -> Option<Tokenid> {
        let digest = self.digest(authorization);
        let inner = self.inner.read().ok()?;
        let entry = inner.by_digest.get(&digest)?;
        if now >= entry.until {
            return None;
        }
        let token = dir.index.token(entry.tokenid.as_str())?;
        (token.owner.is_usable(now) && token.is_unexpired(now)).then(|| entry.tokenid.clone())
    }

    /// Remember that `authorization` verified as `tokenid` at `now`.
    fn insert(&self, dir: Directory<'_>, authorization: &[u8], tokenid: &Tokenid, now: u64) {
        let until = dir
            .tokens
            .previous_until(tokenid.as_str(), now)
            .unwrap_or(u64::MAX);
        let digest = self.digest(authorization);
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if let Some(old) = inner.by_token.get(tokenid).copied() {
            inner.by_digest.remove(&old);
        } else if inner.by_token.len() >= MAX_ENTRIES {
            return;
        }
        inner.by_token.insert(tokenid.clone(), digest);
        let tokenid = tokenid.clone();
        inner.by_digest.insert(digest, Entry { tokenid, until });
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |i| i.by_digest.len())
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One pass of SipHash-2-4-128 (two 64-bit SipHash-2-4 passes with different keys were
    /// about 800 instructions per request, 1.5% of an HTTP/2 request).
    fn digest(&self, value: &[u8]) -> u128 {
        use siphasher::sip128::{Hasher128, SipHasher24};
        use std::hash::Hasher;
        let [k0, k1] = self.key;
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(value);
        h.finish128().as_u128()
    }
}

impl Default for VerifiedTokens {
    fn default() -> VerifiedTokens {
        VerifiedTokens::new()
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or digests.
        f.debug_struct("VerifiedTokens")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http::header::{AUTHORIZATION, COOKIE, HeaderValue};

    use super::*;
    use crate::auth::logout::LogoutList;
    use crate::config::user_cfg::AuthIndex;
    use crate::config::{TokenShadow, UserConfig};

    fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// Hits answer as verification would, and only what verified is kept, once per token.
    #[test]
    fn cache_answers_as_verification_does() {
        let (cfg, _) = UserConfig::parse(
            "user:joe@pve:1:0:::::\ntoken:joe@pve!ok:0:1::\ntoken:joe@pve!old:300:1::\n",
        );
        let mut shadow = TokenShadow::default();
        for id in ["joe@pve!ok", "joe@pve!old"] {
            shadow.set_secret(&id.parse().unwrap(), "right");
        }
        let index = AuthIndex::build(&cfg);
        let logout = LogoutList::default();
        let dir = Directory {
            index: &index,
            tokens: &shadow,
            logout: &logout,
        };
        let cache = VerifiedTokens::new();
        let check = |h: &HeaderMap, now: u64, want: Result<&str, AuthError>, len: usize| {
            let got = authenticate_cached(&cache, dir, None, h, now);
            let got = got.as_ref().map(|a| a.as_str()).map_err(|e| *e);
            assert_eq!(got, want, "{h:?} at {now}");
            assert_eq!(cache.len(), len, "{h:?} at {now}: entries");
        };
        let ok = headers(&[(AUTHORIZATION, "PVEAPIToken=joe@pve!ok=right")]);
        let wrong = headers(&[(AUTHORIZATION, "PVEAPIToken=joe@pve!ok=wrong")]);
        check(&wrong, 200, Err(AuthError::BadSecret), 0);
        check(&ok, 200, Ok("joe@pve!ok"), 1);
        check(&ok, 200, Ok("joe@pve!ok"), 1);
        check(&wrong, 200, Err(AuthError::BadSecret), 1);
        // Another spelling of the same credential replaces the token's entry.
        let spaced = headers(&[(AUTHORIZATION, "PVEAPIToken joe@pve!ok=right")]);
        check(&spaced, 200, Ok("joe@pve!ok"), 1);
        check(&ok, 200, Ok("joe@pve!ok"), 1);
        // A cookie or a second Authorization header: the cache is not consulted.
        let ticket = headers(&[
            (COOKIE, "PVEAuthCookie=PVE:joe@pve:0::x"),
            (AUTHORIZATION, "PVEAPIToken=joe@pve!ok=right"),
        ]);
        check(&ticket, 200, Err(AuthError::NoTicketAuthority), 1);
        let twice = headers(&[
            (AUTHORIZATION, "PVEAPIToken=joe@pve!ok=right"),
            (AUTHORIZATION, "PVEAPIToken=joe@pve!ok=right"),
        ]);
        check(&twice, 200, Err(AuthError::Malformed), 1);
        // Expiry by time still bites on a cached credential.
        let old = headers(&[(AUTHORIZATION, "PVEAPIToken=joe@pve!old=right")]);
        check(&old, 200, Ok("joe@pve!old"), 2);
        check(&old, 301, Err(AuthError::TokenExpired), 2);
    }

    /// A credential cached while the token's previous secret still worked is good only until
    /// that overlap ends.
    #[test]
    fn entries_end_with_the_previous_secret_overlap() {
        let (cfg, _) = UserConfig::parse("user:joe@pve:1:0:::::\ntoken:joe@pve!ok:0:1::\n");
        let id: Tokenid = "joe@pve!ok".parse().unwrap();
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&id, "old");
        shadow.rotate(&id, "new", 500);
        let index = AuthIndex::build(&cfg);
        let logout = LogoutList::default();
        let dir = Directory {
            index: &index,
            tokens: &shadow,
            logout: &logout,
        };
        let cache = VerifiedTokens::new();
        let old = headers(&[(AUTHORIZATION, "PVEAPIToken=joe@pve!ok=old")]);
        let got = |now| authenticate_cached(&cache, dir, None, &old, now);
        assert!(got(100).is_ok(), "the previous secret works in its overlap");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            got(500),
            Err(AuthError::BadSecret),
            "and not after it, cached or not"
        );
    }
}
