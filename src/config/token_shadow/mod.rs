//! `priv/token.shadow`: API token secrets, stored only as salted SHA-256 hashes.
//!
//! One line per token, sorted by token id:
//! `<full-token-id> sha256$<salt: 32 lowercase hex>$<64 lowercase hex of SHA-256(salt || secret)>`,
//! optionally followed by the secret it replaced and until when that one still works (a rotation
//! with an overlap window): ` prev=sha256$<salt>$<hash>@<expiry, seconds since the epoch>`.
//! Files without the third field (Proxmox-era and older aclgate files) read unchanged; an expired
//! previous hash is dropped the next time the file is written.
//!
//! Secrets are random v4 UUIDs (122 bits), so one salted hash is enough; verification compares in
//! constant time. Nothing here ever logs or returns a secret.
//!
//! A rotation hashes the new secret under the salt of the one it replaces (the token's salt stays,
//! a fresh one comes with [`TokenShadow::set_secret`]), so one digest of the presented secret is
//! compared against both. Files from before (a previous hash under a salt of its own) still verify:
//! while any such entry is stored, every verification computes a second digest, whichever token
//! it is for (see [`TokenShadow::verify_at`]).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::user_cfg::Warning;
use crate::identity::Tokenid;

/// All token secret hashes, by full token id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenShadow {
    /// Keyed by the token id text so `verify` can look up a `&str` without parsing.
    hashes: BTreeMap<String, Entry>,
    /// Whether some entry's previous hash has a salt of its own (an older file): then every
    /// verification computes two digests. Derived from `hashes` after every change.
    two_salts: bool,
}

/// The hashes of one token: its secret, and during a rotation the one it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    current: SecretHash,
    previous: Option<Previous>,
}

/// A replaced secret that keeps working until `until` (exclusive, seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Previous {
    hash: SecretHash,
    until: u64,
}

/// A salted SHA-256 hash of one secret.
#[derive(Clone, PartialEq, Eq)]
struct SecretHash {
    salt: [u8; SALT_LEN],
    digest: [u8; 32],
}

// === impl TokenShadow ===

impl TokenShadow {
    /// Read the file text leniently: bad lines are skipped with a warning (never the line text,
    /// which may hold a secret).
    pub fn parse(text: &str) -> (TokenShadow, Vec<Warning>) {
        let mut shadow = TokenShadow::default();
        let mut warnings = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let mut warn = |message: String| {
                warnings.push(Warning {
                    line: index + 1,
                    message,
                })
            };
            let mut fields = line.split_whitespace();
            let (Some(id), Some(hash), previous, None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                warn("malformed line (expected `<tokenid> sha256$<salt>$<hash>`)".to_owned());
                continue;
            };
            let Ok(id) = id.parse::<Tokenid>() else {
                warn("invalid token id".to_owned());
                continue;
            };
            let Some(current) = SecretHash::parse(hash) else {
                warn(format!("invalid secret hash for token `{id}`"));
                continue;
            };
            // A damaged line is skipped whole (fail closed: the token is refused until fixed).
            let previous = match previous.map(Previous::parse) {
                None => None,
                Some(Some(p)) => Some(p),
                Some(None) => {
                    warn(format!(
                        "invalid previous secret for token `{id}` (expected `prev=sha256$<salt>$<hash>@<expiry>`)"
                    ));
                    continue;
                }
            };
            let entry = Entry { current, previous };
            if shadow
                .hashes
                .insert(id.as_str().to_owned(), entry)
                .is_some()
            {
                warn(format!(
                    "duplicate entry for token `{id}`, the later one wins"
                ));
            }
        }
        shadow.recount();
        (shadow, warnings)
    }

    /// The canonical file text.
    pub fn write(&self) -> String {
        let mut out = String::with_capacity(self.hashes.len() * 160);
        for (id, entry) in &self.hashes {
            out.push_str(id);
            out.push(' ');
            entry.current.write_to(&mut out);
            if let Some(previous) = &entry.previous {
                out.push_str(" prev=");
                previous.hash.write_to(&mut out);
                out.push('@');
                out.push_str(&previous.until.to_string());
            }
            out.push('\n');
        }
        out
    }

    /// A fresh secret: a random v4 UUID in lowercase.
    pub fn generate_secret() -> String {
        uuid::Uuid::new_v4().hyphenated().to_string()
    }

    /// Store the hash of `secret` for `id` under a fresh random salt; any old secret (and a
    /// previous one still in its overlap) stops working.
    pub fn set_secret(&mut self, id: &Tokenid, secret: &str) {
        let entry = Entry {
            current: SecretHash::new(rand::random(), secret),
            previous: None,
        };
        self.hashes.insert(id.as_str().to_owned(), entry);
        self.recount();
    }

    /// Replace the secret of `id` by `secret`, keeping the current one working until
    /// `old_until` (seconds since the epoch, exclusive). Only one previous secret is kept: a
    /// second rotation within the window ends the first one's overlap at once. Without a
    /// current secret this is [`TokenShadow::set_secret`].
    ///
    /// The new secret is hashed under the salt of the one it replaces, so that verifying during
    /// the overlap costs one digest, as at any other time.
    pub fn rotate(&mut self, id: &Tokenid, secret: &str, old_until: u64) {
        let entry = match self.hashes.remove(id.as_str()) {
            Some(old) => Entry {
                current: SecretHash::new(old.current.salt, secret),
                previous: Some(Previous {
                    hash: old.current,
                    until: old_until,
                }),
            },
            None => Entry {
                current: SecretHash::new(rand::random(), secret),
                previous: None,
            },
        };
        self.hashes.insert(id.as_str().to_owned(), entry);
        self.recount();
    }

    /// Until when the replaced secret of `id` still works, if it does at `now`.
    pub fn previous_until(&self, id: &str, now: u64) -> Option<u64> {
        let previous = self.hashes.get(id)?.previous.as_ref()?;
        (now < previous.until).then_some(previous.until)
    }

    /// Forget every previous secret whose overlap has ended at `now`.
    pub fn drop_expired(&mut self, now: u64) {
        for entry in self.hashes.values_mut() {
            if entry.previous.as_ref().is_some_and(|p| now >= p.until) {
                entry.previous = None;
            }
        }
        self.recount();
    }

    /// Forget the secret of `id`.
    pub fn remove(&mut self, id: &Tokenid) {
        self.hashes.remove(id.as_str());
        self.recount();
    }

    /// Whether a secret is stored for `id`.
    pub fn contains(&self, id: &Tokenid) -> bool {
        self.hashes.contains_key(id.as_str())
    }

    /// Number of stored secrets.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no secret is stored.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// [`TokenShadow::verify_at`] the current time.
    pub fn verify(&self, id: &str, secret: &str) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verify_at(id, secret, now)
    }

    /// Whether `secret` is a secret of token `id` at `now`: SHA-256(salt || secret) compared
    /// with the stored digest in constant time; false for an unknown token. The digest is
    /// always compared twice, with the current and the previous hash (an unknown token or one
    /// without a previous secret is checked against a never-matching stand-in), and the results
    /// are combined without a branch, so neither the time taken nor the answer tells whether
    /// the token exists, is mid-rotation, or which secret matched.
    ///
    /// A rotation keeps the salt, so one digest serves both comparisons. Only while some entry
    /// from an older file holds a previous hash under a salt of its own is a second digest
    /// computed, and then for every token alike (the stand-in's salt where there is none).
    pub fn verify_at(&self, id: &str, secret: &str, now: u64) -> bool {
        let entry = self.hashes.get(id);
        let known = Choice::from(u8::from(entry.is_some()));
        let current = entry.map_or(&STAND_IN, |e| &e.current);
        let (previous, live) = match entry.and_then(|e| e.previous.as_ref()) {
            Some(p) => (&p.hash, now < p.until),
            None => (&STAND_IN, false),
        };
        let presented = digest(&current.salt, secret);
        let previous_digest = if self.two_salts {
            digest(&previous.salt, secret)
        } else {
            presented
        };
        let current = digest_eq(&presented, &current.digest);
        let previous = digest_eq(&previous_digest, &previous.digest) & Choice::from(u8::from(live));
        (known & (current | previous)).into()
    }

    /// Recompute `two_salts` after a change.
    fn recount(&mut self) {
        self.two_salts = self.hashes.values().any(Entry::has_two_salts);
    }
}

// === impl Entry ===

impl Entry {
    /// Whether the previous hash has a salt other than the current one's (older files).
    fn has_two_salts(&self) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|p| p.hash.salt != self.current.salt)
    }
}

/// Compared against where no real hash exists, so that every verification costs the same.
/// Its digest is all zeros: no secret's salted SHA-256 is, in practice, ever equal to it, and
/// `known` / `live` mask it out regardless.
static STAND_IN: SecretHash = SecretHash {
    salt: [0; SALT_LEN],
    digest: [0; 32],
};

// === impl Previous ===

impl Previous {
    /// Parse `prev=sha256$<salt hex>$<digest hex>@<expiry>`.
    fn parse(text: &str) -> Option<Previous> {
        let (hash, until) = text.strip_prefix("prev=")?.rsplit_once('@')?;
        if until.is_empty() || !until.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Previous {
            hash: SecretHash::parse(hash)?,
            until: until.parse().ok()?,
        })
    }
}

// === impl SecretHash ===

impl SecretHash {
    /// The hash of `secret` under `salt`.
    fn new(salt: [u8; SALT_LEN], secret: &str) -> SecretHash {
        SecretHash {
            digest: digest(&salt, secret),
            salt,
        }
    }

    /// Parse `sha256$<salt hex>$<digest hex>` (lowercase hex only).
    fn parse(text: &str) -> Option<SecretHash> {
        let rest = text.strip_prefix(SCHEME)?;
        let (salt, digest) = rest.split_once('$')?;
        let lower = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower(salt) || !lower(digest) {
            return None;
        }
        let mut out = SecretHash {
            salt: [0; SALT_LEN],
            digest: [0; 32],
        };
        hex::decode_to_slice(salt, &mut out.salt).ok()?;
        hex::decode_to_slice(digest, &mut out.digest).ok()?;
        Some(out)
    }

    fn write_to(&self, out: &mut String) {
        out.push_str(SCHEME);
        out.push_str(&hex::encode(self.salt));
        out.push('$');
        out.push_str(&hex::encode(self.digest));
    }
}

impl std::fmt::Debug for SecretHash {
    /// Never print hash material, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// Constant-time digest comparison, a 64-bit word at a time (subtle's per-element barrier is
/// then paid 4 times, not 32).
fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> Choice {
    words(a).ct_eq(&words(b))
}

fn words(digest: &[u8; 32]) -> [u64; 4] {
    let mut out = [0; 4];
    for (word, bytes) in out.iter_mut().zip(digest.chunks_exact(8)) {
        let mut chunk = [0; 8];
        chunk.copy_from_slice(bytes);
        *word = u64::from_ne_bytes(chunk);
    }
    out
}

const SCHEME: &str = "sha256$";
const SALT_LEN: usize = 16;

#[cfg(test)]
mod tests;
