//! The ticket signing keys: a current key that signs and verifies, and the previous key that
//! only verifies, each with its creation time; the file `priv/authkey.ring` that holds them;
//! daily rotation; and Proxmox's rule of which tickets each key may vouch for
//! (`PVE::AccessControl::get_ticket_age_range`).
//!
//! File layout (0600, replaced atomically under the state lock):
//! ```text
//! # aclgate ticket signing keys
//! current ed25519 <created epoch> <base64 32-byte private seed>
//! previous ed25519 <created epoch> <base64 32-byte public key>
//! ```
//! `hmac-sha256` keys (opt-in) store the 32-byte secret in both lines: an HMAC key cannot be
//! reduced to a verify-only half.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CLOCK_SKEW, KEY_LIFETIME, TicketError};
use crate::config::StateDir;
pub use crate::config::auth_settings::Algorithm;
use crate::config::state_dir::read_optional;

/// Current and previous ticket keys. Immutable: rotation makes a new ring.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    /// Signs new tickets; verifies tickets stamped no earlier than its creation − skew.
    current: CurrentKey,
    /// The key `current` replaced; verifies tickets stamped before the rotation + skew.
    previous: Option<PreviousKey>,
}

#[derive(Clone, PartialEq, Eq)]
struct CurrentKey {
    created: i64,
    key: SignKey,
}

#[derive(Clone, PartialEq, Eq)]
struct PreviousKey {
    created: i64,
    key: VerifyKey,
}

#[derive(Clone, PartialEq, Eq)]
enum SignKey {
    Ed25519(SigningKey),
    Hmac(Zeroizing<[u8; 32]>),
}

#[derive(Clone, PartialEq, Eq)]
enum VerifyKey {
    Ed25519(VerifyingKey),
    Hmac(Zeroizing<[u8; 32]>),
}

// === impl KeyRing ===

impl KeyRing {
    /// `<state>/priv/authkey.ring`.
    pub fn path(state: &StateDir) -> PathBuf {
        state.priv_dir().join("authkey.ring")
    }

    /// Read the ring from the state directory, creating it, or rotating it if due, with an
    /// Ed25519 key. See [`KeyRing::load_or_create_with`].
    pub fn load_or_create(state: &StateDir, now: i64) -> Result<KeyRing, TicketError> {
        Self::load_or_create_with(state, now, Algorithm::Ed25519)
    }

    /// Read the ring; if it is missing or due for rotation, take the state lock, read it
    /// again (another instance may have just rotated it), and only if it is still missing or
    /// due write a new ring whose new key uses `algorithm`.
    pub fn load_or_create_with(
        state: &StateDir,
        now: i64,
        algorithm: Algorithm,
    ) -> Result<KeyRing, TicketError> {
        if let Some(ring) = Self::read(state)?
            && !ring.is_due(now)
        {
            return Ok(ring);
        }
        let _lock = state.lock()?;
        let ring = match Self::read(state)? {
            Some(ring) if !ring.is_due(now) => return Ok(ring),
            Some(ring) => ring.rotated(algorithm, now),
            None => Self::generate(algorithm, now),
        };
        state.write_secret(&Self::path(state), ring.write().as_bytes())?;
        Ok(ring)
    }

    /// If this ring is due for rotation, return the ring to use from now on: the one on disk
    /// if another instance already rotated, else a freshly rotated and written one. `None`
    /// if this ring is not due.
    pub fn rotate_if_due(
        &self,
        state: &StateDir,
        now: i64,
        algorithm: Algorithm,
    ) -> Result<Option<KeyRing>, TicketError> {
        if !self.is_due(now) {
            return Ok(None);
        }
        Self::load_or_create_with(state, now, algorithm).map(Some)
    }

    /// Read the ring file; `None` if it does not exist. Needs no lock (writers rename).
    pub fn read(state: &StateDir) -> Result<Option<KeyRing>, TicketError> {
        let path = Self::path(state);
        match read_optional(&path)? {
            Some(text) => Self::parse(&text, &path).map(Some),
            None => Ok(None),
        }
    }

    /// A new ring with one fresh key created at `now`.
    pub fn generate(algorithm: Algorithm, now: i64) -> KeyRing {
        KeyRing {
            current: CurrentKey {
                created: now,
                key: SignKey::generate(algorithm),
            },
            previous: None,
        }
    }

    /// This ring rotated at `now`: a fresh current key, and the current key kept as the
    /// verify-only previous key (the old previous key is dropped).
    pub fn rotated(&self, algorithm: Algorithm, now: i64) -> KeyRing {
        KeyRing {
            current: CurrentKey {
                created: now,
                key: SignKey::generate(algorithm),
            },
            previous: Some(PreviousKey {
                created: self.current.created,
                key: self.current.key.verify_key(),
            }),
        }
    }

    /// Whether the current key must be replaced before it signs again: it is a day old, or
    /// it was created more than the allowed skew in the future (a clock that was wrong).
    pub fn is_due(&self, now: i64) -> bool {
        now.saturating_sub(self.current.created) >= KEY_LIFETIME
            || self.current.created > now.saturating_add(CLOCK_SKEW)
    }

    /// When the current key was created (= when the previous one was rotated out).
    pub fn current_created(&self) -> i64 {
        self.current.created
    }

    /// When the previous key was created, if there is one.
    pub fn previous_created(&self) -> Option<i64> {
        self.previous.as_ref().map(|p| p.created)
    }

    /// The algorithm of the current key.
    pub fn algorithm(&self) -> Algorithm {
        match self.current.key {
            SignKey::Ed25519(_) => Algorithm::Ed25519,
            SignKey::Hmac(_) => Algorithm::HmacSha256,
        }
    }

    /// Sign `message` with the current key.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.current.key {
            SignKey::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            SignKey::Hmac(secret) => hmac(secret, message).finalize().into_bytes().to_vec(),
        }
    }

    /// Whether a key of this ring that may vouch for a ticket stamped `stamp` (Proxmox's
    /// windows, below) made `signature` over `message`. The general −skew < age < lifetime
    /// rule is the caller's.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8], stamp: i64, now: i64) -> bool {
        let current = &self.current;
        // A ticket cannot be older than the key that signed it (− skew); a key overdue for
        // rotation vouches only for tickets stamped before it became due.
        let current_may = stamp > current.created.saturating_sub(CLOCK_SKEW)
            && (now.saturating_sub(current.created) <= KEY_LIFETIME
                || stamp < current.created.saturating_add(KEY_LIFETIME));
        if current_may && current.key.verify_key().verify(message, signature) {
            return true;
        }
        let Some(previous) = &self.previous else {
            return false;
        };
        // The previous key vouches only for tickets stamped before the rotation (+ skew), and
        // (beyond Proxmox, which does not keep the creation time) not before its own creation.
        let previous_may = stamp < current.created.saturating_add(CLOCK_SKEW)
            && stamp > previous.created.saturating_sub(CLOCK_SKEW);
        previous_may && previous.key.verify(message, signature)
    }

    /// Parse the ring file's text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<KeyRing, TicketError> {
        let bad = |line: usize, message: &str| TicketError::KeyFile {
            path: path.to_owned(),
            line,
            message: message.to_owned(),
        };
        let (mut current, mut previous) = (None, None);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = raw.split_ascii_whitespace().collect();
            let [role, algorithm, created, material] = fields[..] else {
                return Err(bad(line, "expected `<role> <algorithm> <created> <key>`"));
            };
            let created: i64 = created
                .parse()
                .map_err(|_| bad(line, "creation time is not a number"))?;
            let material = Zeroizing::new(
                STANDARD
                    .decode(material)
                    .map_err(|_| bad(line, "key is not base64"))?,
            );
            let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
                material
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad(line, "key is not 32 bytes"))?,
            );
            match (role, algorithm) {
                ("current", _) if current.is_some() => return Err(bad(line, "second current key")),
                ("previous", _) if previous.is_some() => {
                    return Err(bad(line, "second previous key"));
                }
                ("current", "ed25519") => {
                    let key = SignKey::Ed25519(SigningKey::from_bytes(&bytes));
                    current = Some(CurrentKey { created, key });
                }
                ("current", "hmac-sha256") => {
                    current = Some(CurrentKey {
                        created,
                        key: SignKey::Hmac(bytes),
                    });
                }
                ("previous", "ed25519") => {
                    let key = VerifyingKey::from_bytes(&bytes)
                        .map_err(|_| bad(line, "not an ed25519 public key"))?;
                    previous = Some(PreviousKey {
                        created,
                        key: VerifyKey::Ed25519(key),
                    });
                }
                ("previous", "hmac-sha256") => {
                    previous = Some(PreviousKey {
                        created,
                        key: VerifyKey::Hmac(bytes),
                    });
                }
                ("current" | "previous", _) => return Err(bad(line, "unknown key algorithm")),
                _ => return Err(bad(line, "unknown key role")),
            }
        }
        let current = current.ok_or_else(|| bad(0, "no current key"))?;
        Ok(KeyRing { current, previous })
    }

    /// The ring file's text.
    pub fn write(&self) -> String {
        let mut out = String::from("# aclgate ticket signing keys (written by aclgate)\n");
        let current = &self.current;
        let (name, material) = match &current.key {
            SignKey::Ed25519(key) => ("ed25519", STANDARD.encode(key.to_bytes())),
            SignKey::Hmac(secret) => ("hmac-sha256", STANDARD.encode(secret.as_slice())),
        };
        out.push_str(&format!("current {name} {} {material}\n", current.created));
        if let Some(previous) = &self.previous {
            let (name, material) = match &previous.key {
                VerifyKey::Ed25519(key) => ("ed25519", STANDARD.encode(key.to_bytes())),
                VerifyKey::Hmac(secret) => ("hmac-sha256", STANDARD.encode(secret.as_slice())),
            };
            out.push_str(&format!(
                "previous {name} {} {material}\n",
                previous.created
            ));
        }
        out
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.debug_struct("KeyRing")
            .field("algorithm", &self.algorithm())
            .field("current_created", &self.current.created)
            .field("previous_created", &self.previous_created())
            .finish()
    }
}

// === impl SignKey ===

impl SignKey {
    fn generate(algorithm: Algorithm) -> SignKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(seed.as_mut());
        match algorithm {
            Algorithm::Ed25519 => SignKey::Ed25519(SigningKey::from_bytes(&seed)),
            Algorithm::HmacSha256 => SignKey::Hmac(seed),
        }
    }

    fn verify_key(&self) -> VerifyKey {
        match self {
            SignKey::Ed25519(key) => VerifyKey::Ed25519(key.verifying_key()),
            SignKey::Hmac(secret) => VerifyKey::Hmac(secret.clone()),
        }
    }
}

// === impl VerifyKey ===

impl VerifyKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyKey::Ed25519(key) => Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            // verify_slice compares in constant time.
            VerifyKey::Hmac(secret) => hmac(secret, message).verify_slice(signature).is_ok(),
        }
    }
}

fn hmac(secret: &[u8; 32], message: &[u8]) -> Hmac<Sha256> {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trips_for_both_algorithms() {
        for algorithm in [Algorithm::Ed25519, Algorithm::HmacSha256] {
            let ring = KeyRing::generate(algorithm, 1000).rotated(algorithm, 90_000);
            let back = KeyRing::parse(&ring.write(), Path::new("r")).unwrap();
            assert!(back == ring, "{algorithm:?}");
        }
    }

    #[test]
    fn damaged_files_are_refused_without_key_material_in_the_message() {
        let ring = KeyRing::generate(Algorithm::Ed25519, 1000);
        let text = ring.write();
        let seed = text.lines().nth(1).unwrap().split(' ').nth(3).unwrap();
        for bad in [
            String::new(),
            "current ed25519 1000\n".to_owned(),
            format!("current rsa 1000 {seed}\n"),
            format!("current ed25519 x {seed}\n"),
            format!("current ed25519 1 {seed}\ncurrent ed25519 2 {seed}\n"),
            format!("next ed25519 1 {seed}\n"),
            "current ed25519 1 AAAA\n".to_owned(),
        ] {
            let err = KeyRing::parse(&bad, Path::new("r"))
                .unwrap_err()
                .to_string();
            assert!(!err.contains(seed), "{bad:?} -> {err}");
        }
    }
}
