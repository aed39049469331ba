//! Interim `priv/token.shadow` reader (interfaces.md §A); replaced by `config::token_shadow`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::user_cfg::Warning;

/// Salted secret hashes by full token id.
#[derive(Debug, Clone, Default)]
pub struct TokenShadow {
    entries: BTreeMap<String, ([u8; 16], [u8; 32])>,
}

impl TokenShadow {
    /// Parse the file; bad lines are skipped with a warning (never echoing the line).
    pub fn parse(text: &str) -> (TokenShadow, Vec<Warning>) {
        let mut out = TokenShadow::default();
        let mut warnings = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Some((id, salt, hash)) => {
                    out.entries.insert(id.to_owned(), (salt, hash));
                }
                None => warnings.push(Warning {
                    line: i + 1,
                    message: "malformed token.shadow line skipped".to_owned(),
                }),
            }
        }
        (out, warnings)
    }

    /// Add or replace a secret (tests only need this; fixed salt derived from the id is fine).
    pub fn set_secret_with_salt(&mut self, id: &str, salt: [u8; 16], secret: &str) {
        self.entries
            .insert(id.to_owned(), (salt, hash(&salt, secret)));
    }

    /// The file text.
    pub fn write(&self) -> String {
        let mut out = String::new();
        for (id, (salt, h)) in &self.entries {
            out.push_str(&format!(
                "{id} sha256${}${}\n",
                hex::encode(salt),
                hex::encode(h)
            ));
        }
        out
    }

    /// Whether a secret is stored for `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Constant-time comparison of SHA-256(salt || secret) with the stored hash; false if unknown.
    pub fn verify(&self, id: &str, secret: &str) -> bool {
        match self.entries.get(id) {
            Some((salt, stored)) => bool::from(hash(salt, secret).ct_eq(stored)),
            None => false,
        }
    }
}

fn parse_line(line: &str) -> Option<(&str, [u8; 16], [u8; 32])> {
    let (id, rest) = line.split_once(' ')?;
    let mut parts = rest.trim_end().split('$');
    if parts.next()? != "sha256" {
        return None;
    }
    let salt: [u8; 16] = hex::decode(parts.next()?).ok()?.try_into().ok()?;
    let hash: [u8; 32] = hex::decode(parts.next()?).ok()?.try_into().ok()?;
    parts.next().is_none().then_some((id, salt, hash))
}

fn hash(salt: &[u8; 16], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}
