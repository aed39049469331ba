//! Pending OpenID logins (Proxmox `proxmox-openid` `auth_state`): between `auth-url` and
//! `login` the gateway keeps, per realm, the CSRF token, nonce and PKCE verifier of each login
//! it started. The browser carries only the public state `{"csrf_token":…,"realm":…}`; the
//! private half stays here and is taken out (used once) by `login`.
//!
//! The file is `priv/.openid-auth-state-<realm>` (0600, JSON list, written under the state
//! lock), shared by every instance on the state directory. Its name starts with a dot so that
//! the file watcher does not reload the snapshot on every login start. Entries older than ten
//! minutes are dropped; at most [`MAX_PENDING`] are kept per realm, the oldest dropped first
//! (Proxmox refuses new logins instead, which lets anyone lock a realm for ten minutes).

use std::path::PathBuf;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::state_dir::read_optional;
use crate::config::{StateDir, StateError};

/// A pending login expires after this many seconds (Proxmox: 10 minutes).
pub const AUTH_STATE_LIFETIME: i64 = 600;
/// At most this many pending logins per realm.
pub const MAX_PENDING: usize = 100;

/// The private half of a pending login.
#[derive(Clone, Serialize, Deserialize)]
pub struct PrivateAuthState {
    /// The `state` value's secret part (also sent to the provider, inside the public state).
    pub csrf_token: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (its S256 hash went to the provider).
    pub pkce_verifier: String,
    /// When the login started (seconds since the epoch).
    pub ctime: i64,
}

/// The public half, as the `state` parameter carries it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublicAuthState {
    /// Identifies the private half.
    pub csrf_token: String,
    /// The realm the login is for.
    pub realm: String,
}

/// Why a pending login cannot be stored or found.
#[derive(Debug, thiserror::Error)]
pub enum AuthStateError {
    /// The `state` parameter is not a public auth state.
    #[error("malformed openid state")]
    Malformed,
    /// No pending login has that token (never issued, used already, or expired).
    #[error("no openid auth state found (possible timeout)")]
    NotFound,
    /// Reading or writing the state file failed.
    #[error(transparent)]
    State(#[from] StateError),
}

// === impl PrivateAuthState ===

impl PrivateAuthState {
    /// Fresh random CSRF token, nonce and PKCE verifier (32 random bytes each, base64url).
    pub fn new(now: i64) -> PrivateAuthState {
        PrivateAuthState {
            csrf_token: random_text(),
            nonce: random_text(),
            pkce_verifier: random_text(),
            ctime: now,
        }
    }

    /// The `state` parameter for the provider: `{"csrf_token":…,"realm":…}`.
    pub fn public_state(&self, realm: &str) -> String {
        serde_json::json!({ "csrf_token": self.csrf_token, "realm": realm }).to_string()
    }
}

impl std::fmt::Debug for PrivateAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateAuthState")
            .field("ctime", &self.ctime)
            .finish_non_exhaustive()
    }
}

/// Remember `entry` as a pending login of `realm`.
pub fn store(
    state: &StateDir,
    realm: &str,
    entry: PrivateAuthState,
    now: i64,
) -> Result<(), AuthStateError> {
    let _lock = state.lock()?;
    let mut pending = load(state, realm, now)?;
    pending.push(entry);
    if pending.len() > MAX_PENDING {
        pending.sort_by_key(|e| e.ctime);
        let excess = pending.len() - MAX_PENDING;
        pending.drain(..excess);
    }
    save(state, realm, &pending)
}

/// Parse the public `state`, and take its pending login out of the store: a second call
/// with the same state finds nothing. Returns the realm and the private half.
pub fn take(
    state: &StateDir,
    public: &str,
    now: i64,
) -> Result<(String, PrivateAuthState), AuthStateError> {
    let public: PublicAuthState =
        serde_json::from_str(public).map_err(|_| AuthStateError::Malformed)?;
    if public.realm.parse::<crate::identity::Realm>().is_err() {
        return Err(AuthStateError::Malformed);
    }
    let _lock = state.lock()?;
    let mut pending = load(state, &public.realm, now)?;
    let wanted = public.csrf_token.as_bytes();
    let found = pending
        .iter()
        .position(|e| bool::from(e.csrf_token.as_bytes().ct_eq(wanted)));
    let Some(index) = found else {
        return Err(AuthStateError::NotFound);
    };
    let entry = pending.swap_remove(index);
    save(state, &public.realm, &pending)?;
    Ok((public.realm, entry))
}

/// `priv/.openid-auth-state-<realm>`.
pub fn path(state: &StateDir, realm: &str) -> PathBuf {
    state.priv_dir().join(format!(".openid-auth-state-{realm}"))
}

/// The unexpired entries (a damaged file counts as empty: pending logins are disposable).
fn load(state: &StateDir, realm: &str, now: i64) -> Result<Vec<PrivateAuthState>, StateError> {
    let text = read_optional(&path(state, realm))?.unwrap_or_default();
    let mut pending: Vec<PrivateAuthState> = serde_json::from_str(&text).unwrap_or_default();
    pending.retain(|e| e.ctime + AUTH_STATE_LIFETIME >= now && e.ctime <= now + 60);
    Ok(pending)
}

fn save(state: &StateDir, realm: &str, pending: &[PrivateAuthState]) -> Result<(), AuthStateError> {
    let text = serde_json::to_string(pending).map_err(|_| AuthStateError::Malformed)?;
    state.write_secret(&path(state, realm), text.as_bytes())?;
    Ok(())
}

/// 32 random bytes, base64url without padding (43 characters: a valid PKCE verifier).
fn random_text() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(state: &StateDir, realm: &str, ctime: i64) -> String {
        let entry = PrivateAuthState::new(ctime);
        let public = entry.public_state(realm);
        store(state, realm, entry, ctime).expect("stored");
        public
    }

    #[test]
    fn a_state_is_taken_once_and_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let now = 1_000_000;
        let public = stored(&state, "corp", now);
        let (realm, entry) = take(&state, &public, now + 5).expect("found");
        assert_eq!(realm, "corp");
        assert_eq!(entry.ctime, now);
        assert_eq!(entry.pkce_verifier.len(), 43);
        assert!(matches!(
            take(&state, &public, now + 5),
            Err(AuthStateError::NotFound)
        ));

        let public = stored(&state, "corp", now);
        let late = now + AUTH_STATE_LIFETIME + 1;
        assert!(matches!(
            take(&state, &public, late),
            Err(AuthStateError::NotFound)
        ));
    }

    #[test]
    fn forged_and_malformed_states_find_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let now = 1_000_000;
        let public = stored(&state, "corp", now);
        let other_realm = public.replace("\"corp\"", "\"other\"");
        let forged = r#"{"csrf_token":"guess","realm":"corp"}"#;
        for (text, malformed) in [
            (other_realm.as_str(), false),
            (forged, false),
            ("not json", true),
            (r#"{"csrf_token":"x","realm":"../x"}"#, true),
            (r#"{"realm":"corp"}"#, true),
        ] {
            match take(&state, text, now) {
                Err(AuthStateError::Malformed) => assert!(malformed, "{text}"),
                Err(AuthStateError::NotFound) => assert!(!malformed, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(
            take(&state, &public, now).is_ok(),
            "the real one is still there"
        );
    }

    #[test]
    fn at_most_max_pending_per_realm_oldest_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path());
        let now = 1_000_000;
        let first = stored(&state, "corp", now);
        let publics: Vec<String> = (1..=MAX_PENDING as i64)
            .map(|i| stored(&state, "corp", now + i))
            .collect();
        let end = now + MAX_PENDING as i64;
        assert!(matches!(
            take(&state, &first, end),
            Err(AuthStateError::NotFound)
        ));
        for public in [&publics[0], &publics[MAX_PENDING - 1]] {
            assert!(take(&state, public, end).is_ok());
        }
    }
}
