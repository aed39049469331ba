//! The single reload door: every trigger (file watcher, SIGHUP, an explicit call) sends a message
//! to one task, which builds a new [`Snapshot`] and swaps it in — or keeps the old one and
//! reports why. This file holds the only write access to the snapshot's `ArcSwap`.
//!
//! Besides the snapshot, a reload runs the registered hooks ([`ReloadHandle::on_reload`]) first:
//! that is how the ticket key ring (`priv/authkey.ring`, shared by every instance on the state
//! directory) follows the file. The logout list, `domains.cfg` and the other state files are
//! part of the snapshot; the watcher covers the whole state directory, `priv/` included, and
//! is re-armed before every reload (see `reload/file_watch.rs`).
//!
//! Keep the last good state: a reload that finds the state directory (or its `user.cfg`) gone
//! where the last good load had it, a torn file, or a directory replaced while it was being
//! read, keeps the running snapshot, logs the error, counts it in `aclgate_reloads_total
//! {result="failed"}` and sets `aclgate_reload_failing` to 1 until a reload succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::StateDir;
use crate::config::gateway::GatewayConfig;
use crate::config::reloadable::ConfigSource;
use crate::config::state_dir::{Presence, Written};
use crate::observe::Metrics;
use crate::runtime::Runtime;
use crate::snapshot::{LoadError, Snapshot, SnapshotReader, now};

mod apply;
pub mod control;
mod file_watch;
mod task;
mod wire;

pub use apply::StoreEdit;
pub use file_watch::{FileWatch, watch_files};

/// How long file events are collected before one reload (editors and the CLI write several files).
const DEBOUNCE: Duration = Duration::from_millis(100);

/// The longest a reload waits for file events to pause: under a storm of changes (a change
/// every few ms) it still reloads this often, so a revocation is never held back for long.
const MAX_DEBOUNCE: Duration = Duration::from_millis(300);

/// Loads tried when the state directory is replaced while being read.
const ATTEMPTS: usize = 3;

/// Sends reload requests to the reload task; cheap to clone.
#[derive(Clone)]
pub struct ReloadHandle {
    tx: mpsc::UnboundedSender<Request>,
    hooks: Hooks,
}

/// Run by the reload task before each reload.
type Hooks = Arc<Mutex<Vec<Box<dyn Fn() + Send + Sync>>>>;

impl std::fmt::Debug for ReloadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadHandle").finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Request {
    /// Files changed: debounce, then reload (unless they are the files the snapshot is from).
    Files,
    /// Reload now and answer with the new generation or the error.
    Now(oneshot::Sender<Result<u64, String>>),
    /// A writer's edit: apply it to the current snapshot if that was built from the files the
    /// writer read, else reload; answer once the snapshot holds it.
    Apply(Box<Written>, oneshot::Sender<Result<Applied, String>>),
    /// An etcd follower's edit: apply it to the current snapshot, or answer why not (the
    /// follower then writes its mirror and loads in full).
    Store(Box<StoreEdit>, oneshot::Sender<Result<u64, String>>),
}

/// How a writer's edit reached the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// Applied to the running snapshot.
    Incremental,
    /// The files were loaded again.
    Full,
    /// The snapshot already held it (a load since the write had read the written files).
    Current,
}

/// The answer to [`ReloadHandle::apply`]: the generation that holds the edit, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    pub generation: u64,
    pub how: How,
}

/// Build generation 1 (refusing to start on error) and spawn the reload task on the current
/// tokio runtime. Reloads keep `config` (see [`start_with_source`]).
/// `runtime` is the gateway's [`Runtime`] (or just its metrics, for a fresh one).
pub fn start(
    config: Arc<GatewayConfig>,
    runtime: impl Into<Runtime>,
) -> Result<(SnapshotReader, ReloadHandle), LoadError> {
    start_with_source(config, runtime, None)
}

/// [`start`]; with a `source`, every reload first reads the settings again and applies the
/// reloadable ones ([`GatewayConfig::reloaded`]); settings it cannot read fail the reload.
pub fn start_with_source(
    config: Arc<GatewayConfig>,
    runtime: impl Into<Runtime>,
    source: Option<ConfigSource>,
) -> Result<(SnapshotReader, ReloadHandle), LoadError> {
    let runtime = Arc::new(runtime.into());
    let metrics = runtime.metrics.clone();
    let state = StateDir::new(&config.state.dir);
    let presence = Presence::of(&state);
    let files = task::look(&config);
    let first = Snapshot::load_with(config.clone(), 1, &metrics)?;
    // Known only if nothing changed while it was read; else the first file event loads again.
    let held = (task::look(&config) == files).then_some(files);
    report_loaded(&first, &metrics);
    let swap = Arc::new(ArcSwap::from_pointee(first));
    let (gen_tx, gen_rx) = watch::channel(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = SnapshotReader::new(swap.clone(), gen_rx, runtime);
    let hooks: Hooks = Arc::default();
    let door = task::Door::new(source, swap, gen_tx, metrics, hooks.clone(), presence, held);
    tokio::spawn(door.run(rx));
    Ok((reader, ReloadHandle { tx, hooks }))
}

// === impl ReloadHandle ===

impl ReloadHandle {
    /// Reload now; answers the new generation, or the error that kept the old snapshot.
    pub async fn reload(&self) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Now(tx))
            .map_err(|_| "reload task has stopped".to_owned())?;
        rx.await.map_err(|_| "reload task has stopped".to_owned())?
    }

    /// Hand over what a writer wrote (see [`Written`]); answers once the snapshot holds it,
    /// applied incrementally where the snapshot was built from the files the writer read.
    pub async fn apply(&self, written: Written) -> Result<Applied, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Apply(Box::new(written), tx))
            .map_err(|_| "reload task has stopped".to_owned())?;
        rx.await.map_err(|_| "reload task has stopped".to_owned())?
    }

    /// Apply an etcd follower's edit to the running snapshot; answers the new generation, or
    /// why it could not be applied (nothing changed then: the caller loads in full).
    pub async fn apply_store(&self, edit: StoreEdit) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Store(Box::new(edit), tx))
            .map_err(|_| "reload task has stopped".to_owned())?;
        rx.await.map_err(|_| "reload task has stopped".to_owned())?
    }

    /// Run `hook` before every later reload (e.g. re-read the ticket key ring). Hooks must be
    /// quick and must not block on the reload itself.
    pub fn on_reload(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(hook));
    }

    /// Tell the reload task that files changed (debounced).
    pub fn files_changed(&self) {
        // A closed channel means the gateway is shutting down; nothing to reload then.
        let _ = self.tx.send(Request::Files);
    }
}

/// Reload on every SIGHUP until the runtime stops.
#[cfg(unix)]
pub fn spawn_sighup(handle: ReloadHandle) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let _ = handle.reload().await;
        }
    }))
}

fn report_loaded(snapshot: &Snapshot, metrics: &Metrics) {
    for w in &snapshot.warnings {
        tracing::warn!(warning = %w, "configuration warning");
    }
    metrics.generation.set(snapshot.generation as i64);
    metrics.config_warnings.set(snapshot.warnings.len() as i64);
    metrics
        .tokens_expiring
        .set(snapshot.tokens_expiring_soon(now()) as i64);
}
