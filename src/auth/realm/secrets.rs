//! The secrets realms need at login: `priv/shadow.cfg` and the LDAP/AD bind passwords in
//! `priv/realm/<realm>.pw` (first line, as Proxmox's `ldap_get_credentials` reads it).

use std::collections::BTreeMap;
use std::fmt;

use crate::config::state_dir::{read_lines, read_optional};
use crate::config::user_cfg::Warning;
use crate::config::{DomainsConfig, ShadowConfig, StateDir, StateError};

/// Password hashes and bind passwords, loaded together from the state directory.
#[derive(Clone, Default)]
pub struct RealmSecrets {
    /// `priv/shadow.cfg`.
    shadow: ShadowConfig,
    /// Bind password per directory realm that has one.
    bind_passwords: BTreeMap<String, String>,
}

// === impl RealmSecrets ===

impl RealmSecrets {
    /// Build from parts (tests, or callers that hold the files already).
    pub fn new(shadow: ShadowConfig, bind_passwords: BTreeMap<String, String>) -> RealmSecrets {
        RealmSecrets {
            shadow,
            bind_passwords,
        }
    }

    /// Read `priv/shadow.cfg` and the `priv/realm/<realm>.pw` of every ldap/ad realm of
    /// `domains`. Missing files are fine (no password); skipped shadow lines are warnings.
    pub fn load(
        state: &StateDir,
        domains: &DomainsConfig,
    ) -> Result<(RealmSecrets, Vec<Warning>), StateError> {
        let text = read_lines(&state.shadow_cfg_path())?.unwrap_or_default();
        let (shadow, warnings) = ShadowConfig::parse(&text);
        let mut bind_passwords = BTreeMap::new();
        for realm in domains.realms().filter(|r| r.kind.is_directory()) {
            let path = state.realm_password_path(&realm.realm);
            if let Some(text) = read_optional(&path)?
                && let Some(first) = text.lines().next()
            {
                bind_passwords.insert(realm.realm.to_string(), first.to_owned());
            }
        }
        Ok((RealmSecrets::new(shadow, bind_passwords), warnings))
    }

    /// The `pve` realm's hashes.
    pub fn shadow(&self) -> &ShadowConfig {
        &self.shadow
    }

    /// The bind password of a directory realm.
    pub fn bind_password(&self, realm: &str) -> Option<&str> {
        self.bind_passwords.get(realm).map(String::as_str)
    }
}

impl fmt::Debug for RealmSecrets {
    /// Which secrets exist, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealmSecrets")
            .field("shadow", &self.shadow)
            .field(
                "bind_passwords_for",
                &self.bind_passwords.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}
