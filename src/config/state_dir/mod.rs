//! The state directory: where `user.cfg`, `domains.cfg` and the `priv/` secret files live, and
//! the one way to change them ([`StateDir::modify`]: lock, re-read, edit, write back atomically).
//!
//! Layout (default `./state`):
//! ```text
//! <root>/.lock              writers' exclusive lock
//! <root>/user.cfg           Proxmox format (0640)
//! <root>/domains.cfg        realms, Proxmox format (0640)
//! <root>/token-options.cfg  aclgate's per-token allowed-ips and rate limits (0640)
//! <root>/priv/              0700
//! <root>/priv/token.shadow  salted token secret hashes (0600)
//! <root>/priv/shadow.cfg    `pve` realm password hashes (0600)
//! <root>/priv/realm/<realm>.pw  LDAP/AD bind passwords (0600)
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::atomic::{self, Lock, PLAIN_MODE, SECRET_DIR_MODE, SECRET_MODE};
use super::domains_cfg::DomainsConfig;
use super::shadow_cfg::ShadowConfig;
use super::token_options::TokenOptions;
use super::token_shadow::TokenShadow;
use super::user_cfg::{AclTable, UserConfig, UserConfigEdit, Warning};
use crate::identity::Realm;

mod modify;
mod presence;
mod read;
mod redirect;
mod stamp;
mod strict;
mod sweep;

pub use presence::Presence;
pub use read::{check_whole, read_lines, read_optional};
pub use redirect::Redirect;
pub use stamp::{FileStamp, Notifier, Stamp, Written};
pub use strict::{acl_warnings, refuse_skipped_acl};

/// A state directory (which need not exist yet).
#[derive(Clone)]
pub struct StateDir {
    root: PathBuf,
    /// Told of every write, under the lock (the CLI's hand-over to running gateways).
    notifier: Option<Notifier>,
    /// Where changes go instead of these files (a gateway on etcd, whose directory is a mirror).
    redirect: Option<Arc<dyn Redirect>>,
}

/// Both files that [`StateDir::modify`] edits, as read, with their parse warnings.
#[derive(Debug, Clone)]
pub struct LoadedState {
    /// `user.cfg` (an empty config with `root@pam` if the file is missing).
    pub user_cfg: UserConfig,
    /// Lines of `user.cfg` that were skipped or partly dropped.
    pub user_cfg_warnings: Vec<Warning>,
    /// `priv/token.shadow` (empty if missing).
    pub tokens: TokenShadow,
    /// Lines of `priv/token.shadow` that were skipped.
    pub token_warnings: Vec<Warning>,
    /// The `user_cfg_warnings` that are on `acl` lines (what `state.strict` refuses).
    pub skipped_acl: Vec<Warning>,
}

/// What [`StateDir::modify_realms`] lets a change edit: user.cfg, domains.cfg, shadow.cfg and
/// the bind password files.
#[derive(Debug)]
pub struct RealmEdit {
    /// `user.cfg` as read under the lock (its entries compact, as [`StateDir::modify`] hands
    /// them over).
    pub users: UserConfigEdit,
    /// `domains.cfg` as read under the lock (`pam`/`pve` always present).
    pub domains: DomainsConfig,
    /// `priv/shadow.cfg` as read under the lock.
    pub shadow: ShadowConfig,
    /// Bind password changes to apply: `Some` writes `priv/realm/<realm>.pw`, `None` removes it.
    bind_passwords: BTreeMap<Realm, Option<String>>,
}

// === impl RealmEdit ===

impl RealmEdit {
    /// Store (or with `None`, remove) the bind password of a directory realm.
    pub fn set_bind_password(&mut self, realm: &Realm, password: Option<String>) {
        self.bind_passwords.insert(realm.clone(), password);
    }
}

/// Why a state operation failed.
#[derive(Debug, Error)]
pub enum StateError {
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// A file or directory could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// The writers' lock could not be taken.
    #[error("cannot lock `{}`: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    /// A line-oriented file does not end with a newline: it was cut short, and its last line
    /// may be partial. Nothing was read from it.
    #[error(
        "`{}`:{line}: file is torn (no newline at its end; cut short by a crash, a full disk or \
         a partial copy?); refusing it whole"
    , path.display())]
    Torn { path: PathBuf, line: usize },
    /// The state directory, or its `user.cfg`, disappeared since the last good load.
    #[error(
        "`{}` is missing (the state directory was removed or is being replaced); keeping the \
         last good state",
        path.display()
    )]
    Missing { path: PathBuf },
    /// A strictly read file has an error (nothing was written).
    #[error("`{}`:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The requested change is invalid; nothing was written.
    #[error("{0}")]
    Rejected(String),
}

// === impl StateDir ===

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDir")
            .field("root", &self.root)
            .field("notifier", &self.notifier)
            .field("redirected", &self.redirect.is_some())
            .finish()
    }
}

impl StateDir {
    /// The state directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir {
            root: root.into(),
            notifier: None,
            redirect: None,
        }
    }

    /// This state directory as a mirror: every change made through it (and its clones) is
    /// handed to `to`, which makes it elsewhere (src/store/gateway_writer.rs).
    pub fn with_redirect(mut self, to: Arc<dyn Redirect>) -> StateDir {
        self.redirect = Some(to);
        self
    }

    /// This state directory, telling `notifier` of every write made through it, while the
    /// lock is still held (so writes are told in the order they were made).
    pub fn with_notifier(mut self, notifier: Notifier) -> StateDir {
        self.notifier = Some(notifier);
        self
    }

    pub(crate) fn notify(&self, written: &Written) {
        if let Some(n) = &self.notifier {
            n.notify(written);
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/user.cfg`.
    pub fn user_cfg_path(&self) -> PathBuf {
        self.root.join("user.cfg")
    }

    /// `<root>/priv/token.shadow`.
    pub fn token_shadow_path(&self) -> PathBuf {
        self.priv_dir().join("token.shadow")
    }

    /// `<root>/token-options.cfg`.
    pub fn token_options_path(&self) -> PathBuf {
        self.root.join("token-options.cfg")
    }

    /// Read token-options.cfg (missing = empty) strictly; options of tokens that `user_cfg`
    /// does not have are left out with a warning.
    pub fn load_token_options<A>(
        &self,
        user_cfg: &UserConfig<A>,
    ) -> Result<(TokenOptions, Vec<Warning>), StateError> {
        let path = self.token_options_path();
        let text = read_lines(&path)?.unwrap_or_default();
        TokenOptions::parse(&text, |id| user_cfg.token(id).is_some()).map_err(|e| {
            StateError::Invalid {
                path,
                line: e.line,
                message: e.message,
            }
        })
    }

    /// `<root>/domains.cfg`.
    pub fn domains_cfg_path(&self) -> PathBuf {
        self.root.join("domains.cfg")
    }

    /// `<root>/priv/shadow.cfg`.
    pub fn shadow_cfg_path(&self) -> PathBuf {
        self.priv_dir().join("shadow.cfg")
    }

    /// `<root>/priv/realm/<realm>.pw`: an LDAP/AD realm's bind password (first line).
    pub fn realm_password_path(&self, realm: &Realm) -> PathBuf {
        self.priv_dir().join("realm").join(format!("{realm}.pw"))
    }

    /// Read domains.cfg (missing file = only `pam` and `pve`), with its warnings.
    pub fn load_domains(&self) -> Result<(DomainsConfig, Vec<Warning>), StateError> {
        let text = read_lines(&self.domains_cfg_path())?.unwrap_or_default();
        Ok(DomainsConfig::parse(&text))
    }

    /// Like [`StateDir::modify`], for the realm files: take the lock, re-read user.cfg,
    /// domains.cfg and shadow.cfg, run `f`, and on `Ok` write back what changed. Secrets go
    /// first (a hash or bind password without its user or realm authenticates nobody).
    pub fn modify_realms<T>(
        &self,
        f: impl FnOnce(&mut RealmEdit) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        if let Some(to) = &self.redirect {
            return redirect::run(to.as_ref(), |copy| copy.modify_realms(f));
        }
        let _lock = self.lock()?;
        let before = Stamp::of(self);
        let user_text = read_lines(&self.user_cfg_path())?.unwrap_or_default();
        let shadow_text = read_lines(&self.shadow_cfg_path())?.unwrap_or_default();
        let (users, _) = UserConfig::parse_edit(&user_text);
        let (domains, _) = self.load_domains()?;
        let (shadow, _) = ShadowConfig::parse(&shadow_text);
        let mut edit = RealmEdit {
            users: users.clone(),
            domains: domains.clone(),
            shadow: shadow.clone(),
            bind_passwords: BTreeMap::new(),
        };
        let out = f(&mut edit)?;
        if edit.shadow != shadow {
            self.write_secret(&self.shadow_cfg_path(), edit.shadow.write().as_bytes())?;
        }
        for (realm, password) in &edit.bind_passwords {
            let path = self.realm_password_path(realm);
            match password {
                Some(pw) => {
                    // priv/ first, so a new priv/ gets 0700 too.
                    for dir in [self.priv_dir(), self.priv_dir().join("realm")] {
                        atomic::create_dir(&dir, SECRET_DIR_MODE)
                            .map_err(|source| StateError::Write { path: dir, source })?;
                    }
                    atomic::write_file(&path, format!("{pw}\n").as_bytes(), SECRET_MODE).map_err(
                        |source| StateError::Write {
                            path: path.clone(),
                            source,
                        },
                    )?;
                }
                None => self.remove(&path)?,
            }
        }
        if edit.domains != domains {
            self.write_plain(&self.domains_cfg_path(), edit.domains.write().as_bytes())?;
        }
        if edit.users != users {
            self.write_plain(&self.user_cfg_path(), edit.users.write_edit().as_bytes())?;
            // Users (and so tokens) may be gone: their options go too.
            self.prune_token_options(&edit.users)?;
        }
        // Realms are more than a `Change` says: readers load the files again.
        self.notify(&Written {
            before,
            after: Stamp::of(self),
            changes: None,
        });
        Ok(out)
    }

    /// `<root>/priv`.
    pub fn priv_dir(&self) -> PathBuf {
        self.root.join("priv")
    }

    /// `<root>/.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// Read user.cfg (missing file = empty config with root@pam) and token.shadow (missing =
    /// empty). Needs no lock: writers replace files by rename.
    pub fn load(&self) -> Result<LoadedState, StateError> {
        let user_text = read_lines(&self.user_cfg_path())?.unwrap_or_default();
        let token_text = read_lines(&self.token_shadow_path())?.unwrap_or_default();
        let (user_cfg, user_cfg_warnings) = UserConfig::parse(&user_text);
        let (tokens, token_warnings) = TokenShadow::parse(&token_text);
        let skipped_acl = acl_warnings(&user_text, &user_cfg_warnings);
        Ok(LoadedState {
            user_cfg,
            user_cfg_warnings,
            tokens,
            token_warnings,
            skipped_acl,
        })
    }

    /// As [`StateDir::load`], with user.cfg's ACL entries in compact form: the answered
    /// `user_cfg.acl` is empty and the entries are in the [`AclTable`] (the gateway's load,
    /// which compiles the engine from the table; see docs/scale.md).
    pub fn load_split(&self) -> Result<(LoadedState, AclTable), StateError> {
        let user_text = read_lines(&self.user_cfg_path())?.unwrap_or_default();
        let token_text = read_lines(&self.token_shadow_path())?.unwrap_or_default();
        let (user_cfg, acl, user_cfg_warnings) = UserConfig::parse_split(&user_text);
        let (tokens, token_warnings) = TokenShadow::parse(&token_text);
        let skipped_acl = acl_warnings(&user_text, &user_cfg_warnings);
        let loaded = LoadedState {
            user_cfg,
            user_cfg_warnings,
            tokens,
            token_warnings,
            skipped_acl,
        };
        Ok((loaded, acl))
    }

    /// Drop the options of tokens `user_cfg` no longer has (lock held; a damaged file is left
    /// alone, see [`StateDir::modify`]).
    fn prune_token_options<A>(&self, user_cfg: &UserConfig<A>) -> Result<(), StateError> {
        let path = self.token_options_path();
        let Some(text) = read_lines(&path)? else {
            return Ok(());
        };
        let Ok((options, warnings)) = TokenOptions::parse(&text, |id| user_cfg.token(id).is_some())
        else {
            return Ok(());
        };
        if !warnings.is_empty() {
            self.write_plain(&path, options.write().as_bytes())?;
        }
        Ok(())
    }

    /// Take the writers' lock (creating the directory if needed); held until dropped.
    pub fn lock(&self) -> Result<Lock, StateError> {
        atomic::create_dir(&self.root, 0o755).map_err(|source| StateError::Write {
            path: self.root.clone(),
            source,
        })?;
        let path = self.lock_path();
        let lock = Lock::acquire(&path).map_err(|source| StateError::Lock { path, source })?;
        let (priv_dir, realm_dir) = (self.priv_dir(), self.priv_dir().join("realm"));
        sweep::sweep_temp_files(&[&self.root, &priv_dir, &realm_dir], SystemTime::now());
        Ok(lock)
    }

    /// Atomically replace a non-secret file under the root (0640). Hold [`StateDir::lock`].
    pub fn write_plain(&self, path: &Path, contents: &[u8]) -> Result<(), StateError> {
        atomic::write_file(path, contents, PLAIN_MODE).map_err(|source| StateError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Atomically replace a secret file (0600), creating `priv/` (0700) if needed. Hold
    /// [`StateDir::lock`].
    pub fn write_secret(&self, path: &Path, contents: &[u8]) -> Result<(), StateError> {
        let dir = self.priv_dir();
        atomic::create_dir(&dir, SECRET_DIR_MODE)
            .map_err(|source| StateError::Write { path: dir, source })?;
        atomic::write_file(path, contents, SECRET_MODE).map_err(|source| StateError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Remove a state file if present. Hold [`StateDir::lock`].
    pub fn remove(&self, path: &Path) -> Result<(), StateError> {
        atomic::remove_file(path).map_err(|source| StateError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// Seconds since the epoch (for dropping previous token secrets whose overlap has ended).
fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
