//! Table tests of the pure sync pipeline: the searches a realm asks for ([`directory::plan`]),
//! how entries are read ([`directory::interpret`]) and how the result is merged into user.cfg
//! ([`merge::merge`]), checked against the user.cfg text Proxmox would write. Shared helpers
//! here; the tables in [`directory`](self::directory) and [`merge`](self::merge).

mod directory;
mod merge;

use super::directory::{Synced, SyncedUser};
use super::options::Scope;
use crate::auth::realm::ldap_sync::DirectoryEntry;
use crate::config::{DomainsConfig, RealmConfig};
use crate::identity::Realm;

/// Realm `corp` (ldap, base `ou=people,dc=example,dc=com`, `user_attr uid`) plus `extra`
/// option lines.
pub fn realm(extra: &str) -> RealmConfig {
    let text = format!(
        "ldap: corp\n\tserver1 127.0.0.1\n\tbase_dn ou=people,dc=example,dc=com\n\tuser_attr uid\n{extra}\n"
    );
    let (cfg, warnings) = DomainsConfig::parse(&text);
    assert!(warnings.is_empty(), "{text}: {warnings:?}");
    cfg.realm("corp").cloned().unwrap()
}

/// A directory entry with the given (attribute, value) pairs.
pub fn entry(dn: &str, attrs: &[(&str, &str)]) -> DirectoryEntry {
    let mut e = DirectoryEntry {
        dn: dn.to_owned(),
        ..DirectoryEntry::default()
    };
    for (k, v) in attrs {
        e.attrs
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push((*v).to_owned());
    }
    e
}

/// The realm id `corp`.
pub fn corp() -> Realm {
    "corp".parse().unwrap()
}

/// Read `users` and `groups` with the plan of a realm with `extra` options.
pub fn interpret(extra: &str, users: &[DirectoryEntry], groups: &[DirectoryEntry]) -> Synced {
    let plan = super::directory::plan(&realm(extra), Scope::Both).unwrap();
    super::directory::interpret(&plan, &corp(), users, groups)
}

/// The synced user `id` (it must be there).
pub fn user(synced: &Synced, id: &str) -> SyncedUser {
    synced
        .users
        .get(&id.parse().unwrap())
        .cloned()
        .unwrap_or_else(|| panic!("{id} not synced: {synced:?}"))
}
