//! `priv/token.shadow`: API token secrets, stored only as salted SHA-256 hashes.
//!
//! One line per token, sorted by token id:
//! `<full-token-id> sha256$<salt: 32 lowercase hex>$<64 lowercase hex of SHA-256(salt || secret)>`.
//! Secrets are random v4 UUIDs (122 bits), so one salted hash is enough; verification compares in
//! constant time. Nothing here ever logs or returns a secret.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::user_cfg::Warning;
use crate::identity::Tokenid;

/// All token secret hashes, by full token id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenShadow {
    /// Keyed by the token id text so `verify` can look up a `&str` without parsing.
    hashes: BTreeMap<String, SecretHash>,
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
            let (Some(id), Some(hash), None) = (fields.next(), fields.next(), fields.next()) else {
                warn("malformed line (expected `<tokenid> sha256$<salt>$<hash>`)".to_owned());
                continue;
            };
            let Ok(id) = id.parse::<Tokenid>() else {
                warn("invalid token id".to_owned());
                continue;
            };
            let Some(hash) = SecretHash::parse(hash) else {
                warn(format!("invalid secret hash for token `{id}`"));
                continue;
            };
            if shadow.hashes.insert(id.as_str().to_owned(), hash).is_some() {
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
        for (id, hash) in &self.hashes {
            out.push_str(id);
            out.push(' ');
            hash.write_to(&mut out);
            out.push('\n');
        }
        out
    }

    /// A fresh secret: a random v4 UUID in lowercase.
    pub fn generate_secret() -> String {
        uuid::Uuid::new_v4().hyphenated().to_string()
    }

    /// Store the hash of `secret` for `id` under a fresh random salt (replacing any old one).
    pub fn set_secret(&mut self, id: &Tokenid, secret: &str) {
        let salt: [u8; SALT_LEN] = rand::random();
        let digest = digest(&salt, secret);
        self.hashes
            .insert(id.as_str().to_owned(), SecretHash { salt, digest });
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

    /// Whether `secret` is the secret of token `id`: SHA-256(salt || secret) compared with the
    /// stored digest in constant time; false for an unknown token.
    pub fn verify(&self, id: &str, secret: &str) -> bool {
        match self.hashes.get(id) {
            Some(hash) => digest(&hash.salt, secret).ct_eq(&hash.digest).into(),
            None => false,
        }
    }
}

// === impl SecretHash ===

impl SecretHash {
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
}
