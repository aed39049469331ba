//! `priv/shadow.cfg`: password hashes of the `pve` realm (spec §2.3, `PVE::Auth::PVE`).
//!
//! Lines `<name-without-realm>:<crypt-hash>:`; lines not matching `^\S+:\S+:$` (after trimming)
//! are skipped with a warning. Written sorted by name, one line each, file mode 0600. Hashing
//! and verifying live in `auth::realm::crypt`.

use std::collections::BTreeMap;
use std::fmt;

use super::user_cfg::Warning;

/// The `pve` realm's password hashes, by user name (the part before `@pve`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ShadowConfig {
    /// name → crypt(3) hash string.
    hashes: BTreeMap<String, String>,
}

// === impl ShadowConfig ===

impl ShadowConfig {
    /// Parse the file text; skipped lines are returned as warnings (without their content:
    /// they may hold hashes).
    pub fn parse(text: &str) -> (ShadowConfig, Vec<Warning>) {
        let mut cfg = ShadowConfig::default();
        let mut warnings = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c: char| c.is_ascii_whitespace());
            if line.is_empty() {
                continue;
            }
            match split_line(line) {
                Some((name, hash)) => {
                    cfg.hashes.insert(name.to_owned(), hash.to_owned());
                }
                None => warnings.push(Warning {
                    line: i + 1,
                    message: "pve shadow password: ignore invalid line".into(),
                }),
            }
        }
        (cfg, warnings)
    }

    /// The canonical file text (sorted by name).
    pub fn write(&self) -> String {
        let mut out = String::new();
        for (name, hash) in &self.hashes {
            out.push_str(name);
            out.push(':');
            out.push_str(hash);
            out.push_str(":\n");
        }
        out
    }

    /// The stored hash of `name` (the user name without `@pve`).
    pub fn hash(&self, name: &str) -> Option<&str> {
        self.hashes.get(name).map(String::as_str)
    }

    /// Store `hash` for `name`. Both must be free of whitespace and `:` in the name, which
    /// [`crate::identity::Userid`] names and crypt hashes are.
    pub fn set(&mut self, name: &str, hash: String) {
        self.hashes.insert(name.to_owned(), hash);
    }

    /// Forget `name`'s password; `true` if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        self.hashes.remove(name).is_some()
    }

    /// Number of stored hashes.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no hash is stored.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl fmt::Debug for ShadowConfig {
    /// Names only: hashes never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowConfig")
            .field("users", &self.hashes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `^\S+:\S+:$` split as Perl's `split /:/` does: the first two fields.
fn split_line(line: &str) -> Option<(&str, &str)> {
    if line.chars().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let body = line.strip_suffix(':')?;
    let mut fields = body.split(':');
    let name = fields.next().filter(|s| !s.is_empty())?;
    let hash = fields.next().filter(|s| !s.is_empty())?;
    Some((name, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_like_proxmox() {
        let text = "joe:$5$abcdefgh$xyz:\n  ann:$y$j9T$s$h:  \nbad line:x:\nnocolon\n\nx::\n";
        let (cfg, warnings) = ShadowConfig::parse(text);
        assert_eq!(cfg.hash("joe"), Some("$5$abcdefgh$xyz"));
        assert_eq!(cfg.hash("ann"), Some("$y$j9T$s$h"));
        assert_eq!(cfg.len(), 2);
        let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
        assert_eq!(cfg.write(), "ann:$y$j9T$s$h:\njoe:$5$abcdefgh$xyz:\n");
        assert!(
            !format!("{cfg:?}").contains('$'),
            "Debug must not show hashes"
        );
    }
}
