//! `domains.cfg`: the realms (spec §2.4), in Proxmox's section-config format.
//!
//! [`DomainsConfig::parse`] reads leniently like `PVE::Auth::Plugin::parse_config` (every skipped
//! section or property is a [`Warning`] with its line); [`DomainsConfig::write`] writes like
//! `PVE::SectionConfig::write_config` (sections in file order, `comment` first, then required
//! options, then the others, each sorted). `pam` and `pve` always exist and only one realm is the
//! default. The LDAP/AD bind password is never in this file: it lives in
//! `priv/realm/<realm>.pw` (see [`crate::config::StateDir::realm_password_path`]).

mod options;
mod parse;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

pub use super::user_cfg::Warning;
use crate::identity::Realm;

/// All realms, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainsConfig {
    /// Realms in the order they are written (file order; new realms at the end).
    realms: Vec<RealmConfig>,
}

/// One realm: its type and its (checked, normalised) options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmConfig {
    /// The realm id.
    pub realm: Realm,
    /// Where passwords are checked.
    pub kind: RealmType,
    /// Option values by key (booleans `0`/`1`, `comment` decoded).
    options: BTreeMap<String, String>,
}

/// The realm types aclgate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RealmType {
    /// Passwords in `priv/shadow.cfg`.
    Pve,
    /// The host's PAM stack.
    Pam,
    /// An LDAP directory (bind as the user).
    Ldap,
    /// Active Directory (bind as `name@domain`).
    Ad,
    /// OpenID Connect (no password logins).
    Openid,
}

/// Why a realm change or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainsError {
    /// The realm type does not take this option.
    #[error("unknown option '{key}' for realm type '{kind}'")]
    UnknownOption { key: String, kind: RealmType },
    /// The value does not fit the option.
    #[error("invalid value for '{key}': {reason}")]
    InvalidValue { key: String, reason: String },
    /// A required option is missing.
    #[error("missing value for required option '{0}'")]
    MissingOption(String),
    /// A required option cannot be removed.
    #[error("unable to delete required option '{0}'")]
    Required(String),
    /// The type word is not a realm type.
    #[error("unknown realm type '{0}'")]
    UnknownType(String),
}

// === impl DomainsConfig ===

impl DomainsConfig {
    /// Parse `domains.cfg` text leniently; `pam` and `pve` are always present afterwards.
    pub fn parse(text: &str) -> (DomainsConfig, Vec<Warning>) {
        parse::parse(text)
    }

    /// The canonical file text.
    pub fn write(&self) -> String {
        write::write(self)
    }

    /// The realm with this exact id.
    pub fn realm(&self, realm: &str) -> Option<&RealmConfig> {
        self.realms.iter().find(|r| r.realm.as_str() == realm)
    }

    /// The realm with this exact id, to change it.
    pub fn realm_mut(&mut self, realm: &str) -> Option<&mut RealmConfig> {
        self.realms.iter_mut().find(|r| r.realm.as_str() == realm)
    }

    /// All realms in file order.
    pub fn realms(&self) -> impl Iterator<Item = &RealmConfig> {
        self.realms.iter()
    }

    /// The realm marked `default 1`, if any.
    pub fn default_realm(&self) -> Option<&RealmConfig> {
        self.realms.iter().find(|r| r.is_default())
    }

    /// Add or replace a realm (a new one goes last, a replaced one keeps its place).
    pub fn insert(&mut self, config: RealmConfig) {
        match self.realm_mut(config.realm.as_str()) {
            Some(slot) => *slot = config,
            None => self.realms.push(config),
        }
    }

    /// Remove a realm; `true` if it existed.
    pub fn remove(&mut self, realm: &str) -> bool {
        let before = self.realms.len();
        self.realms.retain(|r| r.realm.as_str() != realm);
        before != self.realms.len()
    }

    /// Clear `default` on every realm but `keep` (as Proxmox does when one is made default).
    pub fn clear_other_defaults(&mut self, keep: &str) {
        for r in &mut self.realms {
            if r.realm.as_str() != keep {
                r.options.remove("default");
            }
        }
    }

    /// Re-add `pam` and `pve` if missing and force their types (Proxmox does this on every
    /// parse), with Proxmox's default comments.
    fn force_builtin(&mut self) {
        for (id, kind, comment) in [
            ("pam", RealmType::Pam, "Linux PAM standard authentication"),
            ("pve", RealmType::Pve, "Proxmox VE authentication server"),
        ] {
            if let Some(r) = self.realm_mut(id) {
                if r.kind != kind {
                    // Options of the old type may not apply: keep only those the forced type takes.
                    r.kind = kind;
                    r.options.retain(|k, _| options::spec(kind, k).is_some());
                }
            } else {
                // INVARIANT: "pam" and "pve" match the realm grammar.
                let realm = id.parse().expect("built-in realm id is valid");
                self.realms.push(RealmConfig::new(realm, kind));
            }
            if let Some(r) = self.realm_mut(id)
                && r.comment().is_none()
            {
                r.options.insert("comment".into(), comment.into());
            }
        }
    }
}

impl Default for DomainsConfig {
    /// Only the built-in `pam` and `pve` realms, as Proxmox reads a missing file.
    fn default() -> Self {
        let mut cfg = DomainsConfig { realms: Vec::new() };
        cfg.force_builtin();
        cfg
    }
}

// === impl RealmConfig ===

impl RealmConfig {
    /// A realm without options.
    pub fn new(realm: Realm, kind: RealmType) -> RealmConfig {
        RealmConfig {
            realm,
            kind,
            options: BTreeMap::new(),
        }
    }

    /// Set an option after checking it against the realm type (booleans are normalised).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), DomainsError> {
        let value = options::check_value(self.kind, key, value)?;
        self.options.insert(key.to_owned(), value);
        Ok(())
    }

    /// Remove an option; required options cannot be removed.
    pub fn unset(&mut self, key: &str) -> Result<(), DomainsError> {
        match options::spec(self.kind, key) {
            None => Err(DomainsError::UnknownOption {
                key: key.to_owned(),
                kind: self.kind,
            }),
            Some(s) if s.required => Err(DomainsError::Required(key.to_owned())),
            Some(_) => {
                self.options.remove(key);
                Ok(())
            }
        }
    }

    /// The first required option that is missing, as an error.
    pub fn check_required(&self) -> Result<(), DomainsError> {
        match options::all(self.kind).find(|s| s.required && !self.options.contains_key(s.key)) {
            Some(s) => Err(DomainsError::MissingOption(s.key.to_owned())),
            None => Ok(()),
        }
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// All set options, sorted by key.
    pub fn options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A boolean option (`None` when unset).
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.option(key).map(|v| v == "1")
    }

    /// The (decoded) comment.
    pub fn comment(&self) -> Option<&str> {
        self.option("comment").filter(|c| !c.is_empty())
    }

    /// Whether this is the default realm.
    pub fn is_default(&self) -> bool {
        self.flag("default") == Some(true)
    }

    /// Whether logins compare the userid case-sensitively (`case-sensitive`, default 1).
    pub fn case_sensitive(&self) -> bool {
        self.flag("case-sensitive") != Some(false)
    }
}

// === impl RealmType ===

impl RealmType {
    /// The type word of the file.
    pub fn as_str(self) -> &'static str {
        match self {
            RealmType::Pve => "pve",
            RealmType::Pam => "pam",
            RealmType::Ldap => "ldap",
            RealmType::Ad => "ad",
            RealmType::Openid => "openid",
        }
    }

    /// Whether option `key` is fixed at creation (a later change or removal is refused).
    pub fn is_fixed_option(self, key: &str) -> bool {
        options::is_fixed(self, key)
    }

    /// Whether the type has options for LDAP servers (`ldap`, `ad`).
    pub fn is_directory(self) -> bool {
        matches!(self, RealmType::Ldap | RealmType::Ad)
    }
}

impl fmt::Display for RealmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RealmType {
    type Err = DomainsError;
    fn from_str(s: &str) -> Result<Self, DomainsError> {
        Ok(match s {
            "pve" => RealmType::Pve,
            "pam" => RealmType::Pam,
            "ldap" => RealmType::Ldap,
            "ad" => RealmType::Ad,
            "openid" => RealmType::Openid,
            _ => return Err(DomainsError::UnknownType(s.to_owned())),
        })
    }
}
