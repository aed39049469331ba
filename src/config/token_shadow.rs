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
            current: SecretHash::new(secret),
            previous: None,
        };
        self.hashes.insert(id.as_str().to_owned(), entry);
    }

    /// Replace the secret of `id` by `secret`, keeping the current one working until
    /// `old_until` (seconds since the epoch, exclusive). Only one previous secret is kept: a
    /// second rotation within the window ends the first one's overlap at once. Without a
    /// current secret this is [`TokenShadow::set_secret`].
    pub fn rotate(&mut self, id: &Tokenid, secret: &str, old_until: u64) {
        let current = SecretHash::new(secret);
        let previous = self.hashes.remove(id.as_str()).map(|old| Previous {
            hash: old.current,
            until: old_until,
        });
        self.hashes
            .insert(id.as_str().to_owned(), Entry { current, previous });
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
    }

    /// Forget the secret of `id`.
    pub fn remove(&mut self, id: &Tokenid) {
        self.hashes.remove(id.as_str());
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
    /// with the stored digest in constant time; false for an unknown token. Two digests are
    /// always computed and compared (an unknown token or one without a previous secret is
    /// checked against a never-matching stand-in), and the results are combined without a
    /// branch, so neither the time taken nor the answer tells whether the token exists, is
    /// mid-rotation, or which secret matched.
    pub fn verify_at(&self, id: &str, secret: &str, now: u64) -> bool {
        let entry = self.hashes.get(id);
        let known = Choice::from(u8::from(entry.is_some()));
        let current = entry.map_or(&STAND_IN, |e| &e.current);
        let (previous, live) = match entry.and_then(|e| e.previous.as_ref()) {
            Some(p) => (&p.hash, now < p.until),
            None => (&STAND_IN, false),
        };
        let current = current.matches(secret);
        let previous = previous.matches(secret) & Choice::from(u8::from(live));
        (known & (current | previous)).into()
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
    /// The hash of `secret` under a fresh random salt.
    fn new(secret: &str) -> SecretHash {
        let salt: [u8; SALT_LEN] = rand::random();
        SecretHash {
            digest: digest(&salt, secret),
            salt,
        }
    }

    /// Whether `secret` hashes to this digest (constant-time comparison).
    fn matches(&self, secret: &str) -> Choice {
        digest(&self.salt, secret).ct_eq(&self.digest)
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

const SCHEME: &str = "sha256$";
const SALT_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(s: &str) -> Tokenid {
        s.parse().unwrap()
    }

    #[test]
    fn verify_right_wrong_and_unknown() {
        let mut shadow = TokenShadow::default();
        let secret = TokenShadow::generate_secret();
        shadow.set_secret(&tid("joe@pve!mon"), &secret);
        let check = |id: &str, secret: &str, want: bool| {
            assert_eq!(shadow.verify(id, secret), want, "verify({id}, {secret})");
        };
        check("joe@pve!mon", &secret, true);
        check("joe@pve!mon", &secret.to_uppercase(), false);
        check("joe@pve!mon", "", false);
        check("joe@pve!mon", &secret[..35], false);
        check("joe@pve!other", &secret, false);
        check("nonsense", &secret, false);
    }

    #[test]
    fn secrets_are_lowercase_uuids_and_distinct() {
        let a = TokenShadow::generate_secret();
        let b = TokenShadow::generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(
            a.bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f' | b'-')),
            "{a}"
        );
    }

    #[test]
    fn write_then_parse_round_trips_and_keeps_verifying() {
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&tid("b@pve!tk"), "secret-b");
        shadow.set_secret(&tid("a@pve!tk"), "secret-a");
        let text = shadow.write();
        assert!(!text.contains("secret-a") && !text.contains("secret-b"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("a@pve!tk sha256$"), "{text}");
        let fields: Vec<&str> = lines[0].split(['$', ' ']).collect();
        assert_eq!((fields[2].len(), fields[3].len()), (32, 64), "{text}");
        let (again, warnings) = TokenShadow::parse(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(again, shadow);
        assert!(again.verify("a@pve!tk", "secret-a"));
        assert!(!again.verify("a@pve!tk", "secret-b"));
    }

    #[test]
    fn same_secret_gets_different_salts() {
        let mut a = TokenShadow::default();
        let mut b = TokenShadow::default();
        a.set_secret(&tid("a@pve!tk"), "s");
        b.set_secret(&tid("a@pve!tk"), "s");
        assert_ne!(a.write(), b.write());
    }

    #[test]
    fn remove_and_contains() {
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&tid("a@pve!tk"), "s");
        assert!(shadow.contains(&tid("a@pve!tk")));
        shadow.remove(&tid("a@pve!tk"));
        assert!(!shadow.contains(&tid("a@pve!tk")));
        assert!(!shadow.verify("a@pve!tk", "s"));
        assert!(shadow.is_empty());
    }

    #[test]
    fn lenient_parse_skips_bad_lines_without_leaking_them() {
        let good = format!("sha256${}${}", "ab".repeat(16), "cd".repeat(32));
        let text = format!(
            "a@pve!tk {good}\n\
             \n\
             joe@pve!plain 1b7e2f6e-plaintext-secret\n\
             not-a-token {good}\n\
             b@pve!tk sha256$XX$YY\n\
             b@pve!tk {good} extra\n\
             c@pve!tk sha256${}${}\n\
             a@pve!tk {good}\n",
            "AB".repeat(16),
            "cd".repeat(32)
        );
        let (shadow, warnings) = TokenShadow::parse(&text);
        assert_eq!(shadow.len(), 1);
        let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8], "{warnings:?}");
        for w in &warnings {
            assert!(!w.message.contains("plaintext-secret"), "{w:?}");
        }
    }

    #[test]
    fn rotation_keeps_the_old_secret_until_the_overlap_ends() {
        let id = tid("a@pve!tk");
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&id, "old");
        shadow.rotate(&id, "new", 1000);
        // (secret, now, accepted)
        let cases = [
            ("new", 0, true),
            ("old", 0, true),
            ("old", 999, true),
            ("old", 1000, false),
            ("new", 1000, true),
            ("other", 0, false),
            ("", 0, false),
        ];
        for (secret, now, want) in cases {
            assert_eq!(
                shadow.verify_at("a@pve!tk", secret, now),
                want,
                "verify_at({secret}, now={now})"
            );
        }
        assert_eq!(shadow.previous_until("a@pve!tk", 999), Some(1000));
        assert_eq!(shadow.previous_until("a@pve!tk", 1000), None);
    }

    #[test]
    fn a_second_rotation_or_a_plain_set_ends_the_overlap() {
        let id = tid("a@pve!tk");
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&id, "one");
        shadow.rotate(&id, "two", 1000);
        shadow.rotate(&id, "three", 2000);
        assert!(
            !shadow.verify_at("a@pve!tk", "one", 0),
            "only one previous secret"
        );
        assert!(shadow.verify_at("a@pve!tk", "two", 0));
        assert!(shadow.verify_at("a@pve!tk", "three", 0));
        shadow.set_secret(&id, "four");
        assert!(
            !shadow.verify_at("a@pve!tk", "three", 0),
            "set_secret ends it at once"
        );
        assert_eq!(shadow.previous_until("a@pve!tk", 0), None);
        // Rotating a token without a secret just sets one.
        shadow.rotate(&tid("b@pve!tk"), "b", 1000);
        assert_eq!(shadow.previous_until("b@pve!tk", 0), None);
        assert!(shadow.verify_at("b@pve!tk", "b", 0));
    }

    #[test]
    fn previous_hash_round_trips_and_expired_ones_are_dropped() {
        let mut shadow = TokenShadow::default();
        shadow.set_secret(&tid("a@pve!tk"), "old-a");
        shadow.rotate(&tid("a@pve!tk"), "new-a", 5000);
        shadow.set_secret(&tid("b@pve!tk"), "old-b");
        shadow.rotate(&tid("b@pve!tk"), "new-b", 100);
        let text = shadow.write();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(" prev=sha256$") && lines[0].ends_with("@5000"),
            "{text}"
        );
        assert!(!text.contains("old-a") && !text.contains("new-a"), "{text}");
        let (again, warnings) = TokenShadow::parse(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(again, shadow);
        assert!(again.verify_at("a@pve!tk", "old-a", 4999));
        let mut pruned = again.clone();
        pruned.drop_expired(100);
        let text = pruned.write();
        assert_eq!(
            text.matches("prev=").count(),
            1,
            "b's overlap ended: {text}"
        );
        assert!(
            !pruned.verify_at("b@pve!tk", "old-b", 0),
            "dropped, even at an earlier now"
        );
        assert!(pruned.verify_at("a@pve!tk", "old-a", 100));
    }

    #[test]
    fn previous_field_parse_table() {
        let hash = format!("sha256${}${}", "ab".repeat(16), "cd".repeat(32));
        let check = |third: &str, ok: bool| {
            let text = format!("a@pve!tk {hash} {third}\n");
            let (shadow, warnings) = TokenShadow::parse(&text);
            assert_eq!(shadow.len() == 1, ok, "third field {third:?}: {warnings:?}");
            assert_eq!(
                warnings.is_empty(),
                ok,
                "third field {third:?}: {warnings:?}"
            );
        };
        check(&format!("prev={hash}@1700000000"), true);
        check(&format!("prev={hash}@0"), true);
        check(&format!("prev={hash}"), false);
        check(&format!("prev={hash}@"), false);
        check(&format!("prev={hash}@-1"), false);
        check(&format!("prev={hash}@+5"), false);
        check(&format!("prev={hash}@99999999999999999999999"), false);
        check(&format!("previous={hash}@5"), false);
        check("prev=sha256$xx$yy@5", false);
        check(&format!("{hash}@5"), false);
    }
}
