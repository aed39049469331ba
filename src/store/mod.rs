//! Where the state lives: the state directory (the default, unchanged) or etcd
//! (`[state] backend = "etcd"`; docs/etcd.md).
//!
//! Both backends are driven through the same door, [`Store::change`]: a change is a function
//! of a [`StateDir`], run under the writers' lock on a state just read. On files that is the
//! state directory itself, exactly as before. On etcd it is a private copy materialised from
//! one revision; afterwards the copy is read back into objects and only the keys that differ
//! are written, in a transaction that requires that nothing changed since that revision. So
//! every existing validator (Proxmox's rules in `manage/`, the strict readers) runs unchanged
//! on both backends.
//!
//! A gateway on etcd keeps a local mirror ([`follow`]): the state loaded at one revision is
//! written as files into `state.dir`, the running snapshot is built from them through the one
//! reload door, and a watch from the next revision keeps the mirror current.

pub mod edit;
pub mod etcd;
pub mod follow;
pub mod gateway_writer;
pub mod health;
pub mod leader;
pub mod mirror;
pub mod objects;
pub mod user_keys;

use crate::config::gateway::StateSettings;
use crate::config::store::Backend;
use crate::config::{StateDir, StateError};
use etcd::{CommitError, EtcdError, EtcdStore};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// etcd did not answer or refused; nothing was written.
    #[error("{0}; nothing was written")]
    Etcd(#[from] EtcdError),
    /// Another writer changed the state first; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The change itself was refused (or a state file is damaged).
    #[error(transparent)]
    State(StateError),
    /// A local file could not be read or written.
    #[error("{0}")]
    Local(String),
    /// Stored data that cannot be materialised.
    #[error("{0}")]
    Invalid(String),
    /// etcd did not confirm a commit (or confirmed only part of it): what was written is not
    /// known.
    #[error("{0}")]
    Uncertain(String),
}

impl StoreError {
    /// Wrap a state-directory error.
    pub fn state(e: StateError) -> StoreError {
        StoreError::State(e)
    }
}

impl From<CommitError> for StoreError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Conflict => StoreError::Conflict(e.to_string()),
            CommitError::Etcd(e) => StoreError::Etcd(e),
            CommitError::Unknown(_) | CommitError::Partial(_) => {
                StoreError::Uncertain(e.to_string())
            }
        }
    }
}

/// The configured state store.
pub enum Store {
    /// The state directory.
    Files(StateDir),
    /// An etcd cluster.
    Etcd(EtcdStore),
}

// === impl Store ===

impl Store {
    /// The store `settings` name (nothing is contacted yet).
    pub fn open(settings: &StateSettings) -> Result<Store, StoreError> {
        Ok(match settings.backend {
            Backend::Files => Store::Files(StateDir::new(&settings.dir)),
            Backend::Etcd => Store::Etcd(EtcdStore::new(&settings.etcd)?),
        })
    }

    /// Run `f` on the current state and keep what it changed (see the module comment). On
    /// `Err` nothing is written.
    pub fn change<T>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, StateError>,
    ) -> Result<T, StoreError> {
        match self {
            Store::Files(dir) => f(dir).map_err(StoreError::State),
            Store::Etcd(etcd) => change_in_etcd(etcd, f).map(|(out, _)| out),
        }
    }
}

/// [`Store::change`] on etcd; answers the revision of the commit too (`None`: no change).
pub fn change_in_etcd<T>(
    etcd: &EtcdStore,
    f: impl FnOnce(&StateDir) -> Result<T, StateError>,
) -> Result<(T, Option<i64>), StoreError> {
    let _lock = etcd.lock()?;
    change_locked(etcd, f)
}

/// [`change_in_etcd`] with the writers' lock already held.
pub fn change_locked<T>(
    etcd: &EtcdStore,
    f: impl FnOnce(&StateDir) -> Result<T, StateError>,
) -> Result<(T, Option<i64>), StoreError> {
    let base = etcd.load()?;
    let scratch = tempfile::tempdir().map_err(|e| StoreError::Local(format!("temp dir: {e}")))?;
    let dir = scratch.path().join("state");
    objects::write_dir(&base.objects, &dir)?;
    let out = f(&StateDir::new(&dir)).map_err(StoreError::State)?;
    let (after, _) = objects::read_dir(&dir)?;
    let revision = etcd.commit(&base, &after)?;
    Ok((out, revision))
}
