//! Realm sync (`POST /access/domains/{realm}/sync`, `pveum realm sync`): read the users and
//! groups of an `ldap`/`ad` realm's directory into user.cfg, as `PVE::API2::Domains` `sync`
//! does.
//!
//! [`sync_realm`]: resolve the options ([`options`]), search the directory with the realm's
//! service account before taking any lock ([`directory`] says what to ask,
//! [`crate::auth::realm::ldap_sync`] asks), then merge the answer into user.cfg in one locked
//! atomic write ([`merge`]), removing the secrets of tokens whose owners were removed. A dry
//! run reads the state without the lock and writes nothing.
//!
//! The sync itself runs to completion inside the call and returns a [`SyncReport`]: what
//! changed, the warnings and the log lines Proxmox would print; the API runs it as a worker task
//! (`access_api`), the CLI prints the log as pveum does.
//!
//! Two guards Proxmox lacks: a sync that would remove every user (or group) of the realm
//! because the directory answered none refuses unless `force` is given ([`check_vanishing`]),
//! and one realm syncs once at a time ([`lock_realm`]).

mod directory;
mod merge;
mod options;

use std::fs::{File, OpenOptions, TryLockError};
use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;

use crate::auth::realm::{RealmError, RealmSecrets, ldap_sync};
use crate::config::user_cfg::{AclEdit, UserConfigEdit};
use crate::config::{RealmType, StateDir, StateError, UserConfig};
use crate::identity::{Realm, Tokenid};
pub use merge::{Changes, Outcome};
pub use options::map_sync_defaults;
pub use options::{RemoveVanished, Scope, SyncOptions, SyncParams};

#[cfg(test)]
mod tests;

/// Why a sync did not run or did not finish. Nothing is written in any of these cases.
#[derive(Debug, Error)]
pub enum SyncError {
    /// A request parameter (or the realm's `sync-defaults-options`) is missing or invalid.
    #[error("{param}: {message}")]
    Param {
        param: &'static str,
        message: String,
    },
    /// Only `ldap` and `ad` realms have a directory.
    #[error("Cannot sync realm type '{0}'! Only LDAP/AD realms can be synced.")]
    NotDirectory(RealmType),
    /// The realm's sync settings cannot be used.
    #[error("realm configuration: {0}")]
    Config(String),
    /// Connecting, binding or searching failed.
    #[error("{0}")]
    Directory(RealmError),
    /// Reading or writing the state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Another sync of the realm is running.
    #[error("a sync of realm '{0}' is already running")]
    Busy(Realm),
    /// The directory answered no users (or groups) where the realm has some, and removing
    /// them was asked for without `force`.
    #[error(
        "the directory returned no {what} but realm '{realm}' has {count}: refusing to remove them (pass 'force' to sync anyway)"
    )]
    AllVanished {
        what: &'static str,
        realm: Realm,
        count: usize,
    },
}

/// The held sync lock of one realm; released when dropped.
#[derive(Debug)]
pub struct RealmLock {
    _file: File,
}

/// What a sync did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The realm synced.
    pub realm: Realm,
    /// The options it ran with.
    pub options: SyncOptions,
    /// Changes to users, groups and tokens, and Proxmox's log lines.
    pub outcome: Outcome,
    /// Directory entries and values that were skipped, and bad `sync_attributes` items.
    pub warnings: Vec<String>,
    /// Whether user.cfg changed (in a dry run: would change).
    pub changed: bool,
}

// === impl SyncError ===

impl SyncError {
    /// A bad parameter.
    pub fn param(param: &'static str, message: impl Into<String>) -> SyncError {
        SyncError::Param {
            param,
            message: message.into(),
        }
    }
}

/// Sync `realm` from its directory into the state, with `params` over the realm's
/// `sync-defaults-options`. Each directory operation is bounded by `timeout`.
pub async fn sync_realm(
    state: &StateDir,
    realm: &Realm,
    params: &SyncParams,
    timeout: Duration,
) -> Result<SyncReport, SyncError> {
    let options = check(state, realm, params)?;
    let (domains, _) = state.load_domains()?;
    let config = domains
        .realm(realm.as_str())
        .ok_or_else(|| SyncError::param("realm", format!("realm '{realm}' does not exist")))?;
    let plan = directory::plan(config, options.scope)?;
    let (secrets, _) = RealmSecrets::load(state, &domains)?;
    let mut queries = vec![plan.users.clone()];
    queries.extend(plan.groups.clone());
    let found = ldap_sync::search(
        config,
        secrets.bind_password(realm.as_str()),
        &queries,
        timeout,
    )
    .await
    .map_err(SyncError::Directory)?;
    let none = Vec::new();
    let synced = directory::interpret(
        &plan,
        realm,
        found.first().unwrap_or(&none),
        found.get(1).unwrap_or(&none),
    );
    let apply = |cfg: &mut UserConfigEdit| {
        let before = cfg.clone();
        let outcome = merge::merge(cfg, realm, &synced, &options);
        let changed = *cfg != before;
        (outcome, changed)
    };
    let (outcome, changed) = if options.dry_run {
        let (loaded, table) = state.load_split()?;
        let mut cfg = loaded.user_cfg.with_acl(AclEdit::new(table));
        check_vanishing(&cfg, realm, &synced, &options, params.force)?;
        apply(&mut cfg)
    } else {
        let mut refused = None;
        let result = state.modify(|cfg, tokens| {
            if let Err(e) = check_vanishing(cfg, realm, &synced, &options, params.force) {
                let message = e.to_string();
                refused = Some(e);
                return Err(StateError::Rejected(message));
            }
            let (outcome, changed) = apply(cfg);
            for id in &outcome.removed_tokens {
                tokens.remove(id);
            }
            Ok((outcome, changed))
        });
        match (result, refused) {
            (_, Some(e)) => return Err(e),
            (result, None) => result?,
        }
    };
    Ok(SyncReport {
        realm: realm.clone(),
        options,
        outcome,
        warnings: synced.warnings,
        changed,
    })
}

/// The checks Proxmox makes before it starts the worker: the realm exists, is ldap/ad, and
/// the options resolve. Returns the options the sync will run with.
pub fn check(
    state: &StateDir,
    realm: &Realm,
    params: &SyncParams,
) -> Result<SyncOptions, SyncError> {
    let (domains, _) = state.load_domains()?;
    let config = domains
        .realm(realm.as_str())
        .ok_or_else(|| SyncError::param("realm", "Realm does not exist."))?;
    if !config.kind.is_directory() {
        return Err(SyncError::NotDirectory(config.kind));
    }
    SyncOptions::resolve(params, config.option("sync-defaults-options"))
}

/// Take the sync lock of `realm` (a file lock, so the CLI and the gateway on this host exclude
/// each other too), or refuse at once if a sync of it is running. The lock file lives in the
/// temporary directory, named after the state directory, so that the state holds only state.
pub fn lock_realm(state: &StateDir, realm: &Realm) -> Result<RealmLock, SyncError> {
    use sha2::Digest;
    let root = std::fs::canonicalize(state.root()).unwrap_or_else(|_| state.root().to_owned());
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    let tag = hex::encode(&digest[..8]);
    let path = std::env::temp_dir().join(format!("aclgate-realm-sync-{tag}-{realm}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StateError::Write {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(RealmLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(SyncError::Busy(realm.clone())),
        Err(TryLockError::Error(source)) => {
            Err(SyncError::State(StateError::Write { path, source }))
        }
    }
}

/// Refuse to remove every user (or group) of `realm` because the directory answered none,
/// unless `force`: an empty answer is more often a broken filter or base DN than an empty
/// directory.
fn check_vanishing<A>(
    cfg: &UserConfig<A>,
    realm: &Realm,
    synced: &directory::Synced,
    options: &SyncOptions,
    force: bool,
) -> Result<(), SyncError> {
    let rv = options.remove_vanished;
    if force || !(rv.entry || rv.acl) {
        return Ok(());
    }
    let users = cfg
        .users
        .keys()
        .filter(|u| u.realm() == realm.as_str())
        .count();
    if options.scope.users() && synced.users.is_empty() && users > 0 {
        return Err(SyncError::AllVanished {
            what: "users",
            realm: realm.clone(),
            count: users,
        });
    }
    let suffix = format!("-{realm}");
    let groups = cfg
        .groups
        .keys()
        .filter(|g| g.as_str().ends_with(&suffix))
        .count();
    if options.scope.groups() && synced.groups.is_empty() && groups > 0 {
        return Err(SyncError::AllVanished {
            what: "groups",
            realm: realm.clone(),
            count: groups,
        });
    }
    Ok(())
}

// === impl SyncReport ===

impl SyncReport {
    /// The API answer: options, changes by kind, removed tokens, warnings and the log.
    pub fn to_json(&self) -> Value {
        let users = &self.outcome.users;
        let groups = &self.outcome.groups;
        json!({
            "realm": self.realm.as_str(),
            "scope": self.options.scope.as_str(),
            "remove-vanished": self.options.remove_vanished.to_string(),
            "enable-new": u8::from(self.options.enable_new),
            "dry-run": u8::from(self.options.dry_run),
            "changed": u8::from(self.changed),
            "users": changes_json(users, |u| u.as_str()),
            "groups": changes_json(groups, |g| g.as_str()),
            "tokens-removed": self
                .outcome
                .removed_tokens
                .iter()
                .map(Tokenid::as_str)
                .collect::<Vec<_>>(),
            "warnings": self.warnings,
            "log": self.log(),
        })
    }

    /// The task log Proxmox prints for this sync, line by line.
    pub fn log(&self) -> Vec<String> {
        let what = match self.options.scope {
            Scope::Users => "users",
            Scope::Groups => "groups",
            Scope::Both => "users and groups",
        };
        let dry = if self.options.dry_run {
            "(dry test run) "
        } else {
            ""
        };
        let mut lines = vec![
            format!("{dry}starting sync for realm {}", self.realm),
            format!("got data from server, updating {what}"),
        ];
        lines.extend(self.outcome.log.iter().cloned());
        lines.push(if self.options.dry_run {
            "NOTE: Dry test run, changes were NOT written to the configuration.".to_owned()
        } else {
            format!("successfully updated {what} configuration")
        });
        lines
    }
}

fn changes_json<T>(changes: &Changes<T>, name: impl Fn(&T) -> &str) -> Value {
    let list = |items: &[T]| -> Value { items.iter().map(|i| json!(name(i))).collect() };
    json!({
        "added": list(&changes.added),
        "updated": list(&changes.updated),
        "unchanged": list(&changes.unchanged),
        "removed": list(&changes.removed),
        "acl-removed": list(&changes.acl_removed),
    })
}
