//! Writes made by a gateway on etcd (the access API): the same read, edit, commit as the CLI
//! ([`super::change_in_etcd`]), then a wait until this gateway's own snapshot includes the
//! change, so the next request on it sees what the last one wrote (as on files, where the
//! writer reloads).
//!
//! The read-edit-commit (etcd round trips, the state written and read back as files) never runs
//! on the runtime's threads (one by default: it would stall every request): edits are queued to
//! the gateway's writer thread, which takes the writers' lock once for every edit waiting, runs
//! them one after the other on one copy of the state and commits them in one transaction. That
//! is the same as running them one by one (each sees the ones before it; an edit that is
//! refused changes nothing and is answered at once), and a burst of N edits costs a few
//! commits rather than N lock round trips.
//!
//! Each gateway on etcd has its own writer, held by its services (src/access_api): several
//! gateways in one process (the tests) never share one.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::etcd::EtcdStore;
use super::health::Health;
use super::{StoreError, change_in_etcd, objects};
use crate::config::{StateDir, StateError};

/// How long a write waits for its revision to be served before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// Most edits committed together (each is a few keys; a transaction holds 127).
const BATCH: usize = 16;

/// An edit waiting for the writer thread: called with its batch's copy of the state (or why
/// there is none); answers how to report the batch's commit, `None` if it answered already
/// (its edit was refused).
type Job = Box<dyn FnOnce(Result<&StateDir, &StoreError>) -> Option<Finish> + Send>;
/// Reports the batch's commit (its revision; `None`: nothing changed) to one edit.
type Finish = Box<dyn FnOnce(&Result<Option<i64>, StoreError>) + Send>;

/// The writer of one gateway on etcd.
pub struct Writer {
    store: Arc<EtcdStore>,
    health: Arc<Health>,
    /// To the writer thread, which ends when the writer is dropped.
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// The writer of a gateway on etcd, with its thread (which ends when the writer is
    /// dropped). The gateway's services hold it, and their state directory hands every other
    /// change of the mirror (realm sync, passwords, OpenID users …) to it
    /// ([`StateDir::with_redirect`]).
    pub fn start(store: Arc<EtcdStore>, health: Arc<Health>) -> Arc<Writer> {
        let (queue, jobs) = mpsc::channel();
        let thread_store = store.clone();
        let spawned = std::thread::Builder::new()
            .name("etcd-writer".to_owned())
            .spawn(move || serve(&thread_store, &jobs));
        if let Err(e) = spawned {
            // The queue then answers every edit with "the writer stopped" (a 503).
            tracing::error!(error = %e, "cannot start the etcd writer thread");
        }
        Arc::new(Writer {
            store,
            health,
            queue,
        })
    }

    /// Run `f` on the current state and commit what it changed (blocking: etcd round trips),
    /// answering the commit's revision.
    pub fn change<T>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, StateError>,
    ) -> Result<(T, Option<i64>), StoreError> {
        change_in_etcd(&self.store, f)
    }

    /// [`Writer::change`] for a request handler: queued to the writer thread (see the module
    /// comment); the handler awaits the answer without holding a runtime thread.
    pub async fn change_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, StateError> + Send + 'static,
    ) -> Result<(T, Option<i64>), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |state| {
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    let _ = tx.send(Err(copy(e)));
                    return None;
                }
            };
            match f(state) {
                Err(e) => {
                    let _ = tx.send(Err(StoreError::State(e)));
                    None
                }
                Ok(out) => Some(Box::new(
                    move |outcome: &Result<Option<i64>, StoreError>| {
                        let _ = tx.send(match outcome {
                            Ok(revision) => Ok((out, *revision)),
                            Err(e) => Err(copy(e)),
                        });
                    },
                )),
            }
        });
        let stopped =
            || StoreError::Local("the etcd writer stopped; nothing was written".to_owned());
        self.queue.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
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

/// The writer thread: batches of the edits waiting, until the writer is dropped.
fn serve(store: &EtcdStore, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH
            && let Ok(more) = jobs.try_recv()
        {
            batch.push(more);
        }
        run_batch(store, batch);
    }
}

/// Under the writers' lock: read the state, run every edit on one copy, commit once, report.
fn run_batch(store: &EtcdStore, batch: Vec<Job>) {
    let lock = match store.lock() {
        Ok(lock) => lock,
        Err(e) => return refuse(batch, &e.into()),
    };
    let base = match store.load() {
        Ok(base) => base,
        Err(e) => return refuse(batch, &e.into()),
    };
    let scratch = match tempfile::tempdir() {
        Ok(scratch) => scratch,
        Err(e) => return refuse(batch, &StoreError::Local(format!("temp dir: {e}"))),
    };
    let dir = scratch.path().join("state");
    if let Err(e) = objects::write_dir(&base.objects, &dir) {
        return refuse(batch, &e);
    }
    let state = StateDir::new(&dir);
    // An edit that panics drops its answer (the handler says the writer stopped), not the
    // thread; the edits write their files only once they succeeded.
    let finishes: Vec<Finish> = batch
        .into_iter()
        .filter_map(|job| std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(&state)))).ok())
        .flatten()
        .collect();
    let outcome = if finishes.is_empty() {
        Ok(None)
    } else {
        objects::read_dir(&dir)
            .and_then(|(after, _)| store.commit(&base, &after).map_err(StoreError::from))
    };
    drop(lock);
    for finish in finishes {
        finish(&outcome);
    }
}

fn refuse(batch: Vec<Job>, e: &StoreError) {
    for job in batch {
        let _ = job(Err(e));
    }
}

/// A batch's error for each of its edits.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Etcd(e) => StoreError::Etcd(e.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Uncertain(m) => StoreError::Uncertain(m.clone()),
        StoreError::Local(m) => StoreError::Local(m.clone()),
        other => StoreError::Invalid(other.to_string()),
    }
}
