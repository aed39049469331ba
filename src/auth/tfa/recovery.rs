//! Recovery keys (spec §7.5): 10 one-time keys `xxxx-xxxx-xxxx-xxxx` (8 random bytes in
//! lowercase hex), stored only as hex HMAC-SHA256 of the key text under a per-set random secret
//! (proxmox-tfa's layout: `{"secret", "entries": [hash | null], "created"}`); a used key becomes
//! `null`, so the indices of the unused keys can be offered in the login challenge.

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A set of recovery keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// HMAC key (hex text; its bytes are the key, as in proxmox-tfa).
    secret: String,
    /// HMAC of each key; `None` once used.
    entries: Vec<Option<String>>,
    /// Creation time (epoch).
    pub created: i64,
}

// === impl Recovery ===

impl Recovery {
    /// A fresh set of 10 keys: the stored form and the keys to show once.
    pub fn generate(now: i64) -> (Recovery, Vec<String>) {
        let mut rng = rand::rng();
        let mut secret = [0u8; 8];
        rng.fill_bytes(&mut secret);
        let mut set = Recovery {
            secret: hex::encode(secret),
            entries: Vec::with_capacity(KEYS),
            created: now,
        };
        let mut keys = Vec::with_capacity(KEYS);
        for _ in 0..KEYS {
            let mut b = [0u8; 8];
            rng.fill_bytes(&mut b);
            let h = hex::encode(b);
            let key = format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16]);
            set.entries.push(Some(set.hash(&key)));
            keys.push(key);
        }
        (set, keys)
    }

    /// Indices of the unused keys.
    pub fn available(&self) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|_| i))
            .collect()
    }

    /// Use `key`: true (and the key is spent) if it is an unused key of this set.
    pub fn consume(&mut self, key: &str) -> bool {
        let hash = self.hash(key.trim());
        for entry in &mut self.entries {
            if entry
                .as_ref()
                .is_some_and(|h| bool::from(h.as_bytes().ct_eq(hash.as_bytes())))
            {
                *entry = None;
                return true;
            }
        }
        false
    }

    fn hash(&self, key: &str) -> String {
        // INVARIANT: HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key size");
        mac.update(key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for Recovery {
    // Never print the secret or hashes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("available", &self.available())
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

const KEYS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_works_once_and_format_is_proxmox() {
        let (mut set, keys) = Recovery::generate(1);
        assert_eq!(keys.len(), 10);
        for k in &keys {
            assert_eq!(k.len(), 19, "{k}");
            assert!(k.split('-').all(|p| {
                p.len() == 4
                    && p.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }));
        }
        assert!(set.consume(&keys[3]));
        assert!(!set.consume(&keys[3]));
        assert!(!set.consume("0000-0000-0000-0000"));
        assert_eq!(set.available(), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    }
}
