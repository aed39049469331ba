//! Writes made by a gateway on etcd (the access API): the same [`super::change_in_etcd`] as
//! the CLI, then a wait until this gateway's own snapshot includes the change, so the next
//! request on it sees what the last one wrote (as on files, where the writer reloads).
//!
//! A gateway's writer is found by its state directory (the mirror link), so several gateways in
//! one process (the tests) each find their own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::etcd::EtcdStore;
use super::health::Health;
use super::{StoreError, change_in_etcd};
use crate::config::{StateDir, StateError};

/// How long a write waits for its revision to be served before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// The writer of one gateway on etcd.
pub struct Writer {
    store: Arc<EtcdStore>,
    health: Arc<Health>,
}

type Registry = Mutex<Vec<(PathBuf, Weak<Writer>)>>;

static WRITERS: Registry = Mutex::new(Vec::new());

impl Writer {
    /// Register the writer of the gateway whose state directory is `link`; it lives as long
    /// as the answered `Arc`.
    pub fn register(link: &Path, store: Arc<EtcdStore>, health: Arc<Health>) -> Arc<Writer> {
        let writer = Arc::new(Writer { store, health });
        // Every other writer of the mirror (realm sync, passwords, OpenID users …) goes to
        // etcd too, through StateDir::modify.
        let weak: Weak<Writer> = Arc::downgrade(&writer);
        crate::config::state_dir::redirect_changes(link, weak);
        let mut all = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|(p, w)| w.strong_count() > 0 && p != link);
        all.push((link.to_owned(), Arc::downgrade(&writer)));
        writer
    }

    /// The writer of the gateway on etcd whose state directory is `root`, if there is one.
    pub fn find(root: &Path) -> Option<Arc<Writer>> {
        let all = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .find(|(p, _)| p == root)
            .and_then(|(_, w)| w.upgrade())
    }

    /// Run `f` on the current state and commit what it changed (blocking: etcd round trips),
    /// answering the commit's revision.
    pub fn change<T>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, StateError>,
    ) -> Result<(T, Option<i64>), StoreError> {
        change_in_etcd(&self.store, f)
    }

    /// [`Writer::change`] for a request handler: the wait for the writers' lock yields to the
    /// runtime (other requests go on); only the change itself (read, edit, commit: a few etcd
    /// round trips) runs inline.
    pub async fn change_async<T>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, StateError>,
    ) -> Result<(T, Option<i64>), StoreError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut pause = Duration::from_millis(2);
        let mut lease = self.store.lock_lease()?;
        let _lock = loop {
            match self.store.try_lock(lease) {
                Ok(Some(lock)) => break lock,
                Ok(None) if tokio::time::Instant::now() < deadline => {}
                // An error (the lease expired while waiting, a member gone): take a new lease
                // and try again until the deadline.
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "writers' lock: trying again with a new lease");
                    self.store.release_lease(lease);
                    lease = self.store.lock_lease()?;
                }
                Ok(None) => {
                    self.store.release_lease(lease);
                    return Err(super::etcd::lock_timeout().into());
                }
                Err(e) => {
                    self.store.release_lease(lease);
                    return Err(e.into());
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        super::change_locked(&self.store, f)
    }

    /// Wait until this gateway serves `revision` (bounded; a slow reload does not hang the
    /// request: the change is committed either way).
    pub async fn wait_applied(&self, revision: Option<i64>) {
        if let Some(revision) = revision
            && !self.health.wait_applied(revision, APPLY_WAIT).await
        {
            tracing::warn!(
                revision,
                "written to etcd, but not yet served by this gateway"
            );
        }
    }
}

impl crate::config::state_dir::Redirect for Writer {
    fn change(
        &self,
        edit: &mut dyn FnMut(&StateDir) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        match change_in_etcd(&self.store, |copy| edit(copy)) {
            Ok(_) => Ok(()),
            Err(StoreError::State(e)) => Err(e),
            Err(e) => Err(StateError::Write {
                path: PathBuf::from("etcd"),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}
