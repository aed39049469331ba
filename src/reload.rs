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
use tokio::time::Instant;

use crate::config::StateDir;
use crate::config::gateway::GatewayConfig;
use crate::config::reloadable::ConfigSource;
use crate::config::state_dir::Presence;
use crate::observe::Metrics;
use crate::runtime::Runtime;
use crate::snapshot::{LoadError, Snapshot, SnapshotReader, now};

mod file_watch;

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
    /// Files changed: debounce, then reload.
    Files,
    /// Reload now and answer with the new generation or the error.
    Now(oneshot::Sender<Result<u64, String>>),
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
    let first = Snapshot::load(config.clone(), 1)?;
    report_loaded(&first, &metrics);
    let swap = Arc::new(ArcSwap::from_pointee(first));
    let (gen_tx, gen_rx) = watch::channel(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = SnapshotReader::new(swap.clone(), gen_rx, runtime);
    let hooks: Hooks = Arc::default();
    tokio::spawn(reload_task(
        source,
        swap,
        gen_tx,
        rx,
        metrics,
        hooks.clone(),
        presence,
    ));
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

async fn reload_task(
    source: Option<ConfigSource>,
    swap: Arc<ArcSwap<Snapshot>>,
    gen_tx: watch::Sender<u64>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    mut last_good: Presence,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = Vec::new();
        match first {
            Request::Now(tx) => waiters.push(tx),
            Request::Files => {
                // Debounce: collect further events until DEBOUNCE passes quietly, but for no
                // longer than MAX_DEBOUNCE in all.
                let deadline = Instant::now() + MAX_DEBOUNCE;
                loop {
                    let wait = DEBOUNCE.min(deadline.saturating_duration_since(Instant::now()));
                    match tokio::time::timeout(wait, rx.recv()).await {
                        Ok(Some(Request::Now(tx))) => waiters.push(tx),
                        Ok(Some(Request::Files)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        let previous = swap.load_full();
        let generation = previous.generation + 1;
        let source = source.clone();
        let hooks = hooks.clone();
        let built = tokio::task::spawn_blocking(move || {
            for hook in hooks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
            {
                hook();
            }
            let cfg = settings(source.as_ref(), &previous.config)?;
            build(cfg, generation, &previous, &last_good)
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                file: "<reload task>".to_owned(),
                message: e.to_string(),
            })
        });
        let answer = match built {
            Ok((snapshot, presence)) => {
                last_good = presence;
                report_loaded(&snapshot, &metrics);
                metrics.reloads_ok.inc();
                metrics.reload_failing.set(0);
                swap.store(Arc::new(snapshot));
                gen_tx.send_replace(generation);
                tracing::info!(generation, "reloaded");
                Ok(generation)
            }
            Err(e) => {
                metrics.reloads_failed.inc();
                metrics.reload_failing.set(1);
                tracing::error!(error = %e, "reload failed; keeping the previous snapshot");
                Err(e.to_string())
            }
        };
        for w in waiters {
            let _ = w.send(answer.clone());
        }
    }
}

/// The settings of the next snapshot: the running ones, or with a `source` the reloadable
/// ones read again (a warning names what waits for a restart).
fn settings(
    source: Option<&ConfigSource>,
    running: &Arc<GatewayConfig>,
) -> Result<Arc<GatewayConfig>, LoadError> {
    let Some(source) = source else {
        return Ok(running.clone());
    };
    let new = source().map_err(|e| LoadError::Read {
        file: "aclgate.toml".to_owned(),
        message: e.to_string(),
    })?;
    let (next, waiting) = running.reloaded(&new);
    if !waiting.is_empty() {
        tracing::warn!(
            settings = %waiting.join(", "),
            "aclgate.toml: changed settings that take effect only after a restart"
        );
    }
    Ok(Arc::new(next))
}

/// Load the successor of `previous`, refusing a state directory that lost what `last_good`
/// had, and loading again if the directory was replaced while it was read (its files might
/// then come from two directories). Answers the snapshot and what it was loaded from.
fn build(
    config: Arc<GatewayConfig>,
    generation: u64,
    previous: &Snapshot,
    last_good: &Presence,
) -> Result<(Snapshot, Presence), LoadError> {
    let state = StateDir::new(&config.state.dir);
    let refused = |message: String| LoadError::Read {
        file: state.root().display().to_string(),
        message,
    };
    for _ in 0..ATTEMPTS {
        let before = Presence::of(&state);
        before
            .check_against(last_good, &state)
            .map_err(|e| refused(e.to_string()))?;
        let snapshot = Snapshot::reload(config.clone(), generation, previous)?;
        if Presence::of(&state) == before {
            return Ok((snapshot, before));
        }
    }
    Err(refused(
        "the state directory kept changing while it was read; keeping the last good state"
            .to_owned(),
    ))
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
