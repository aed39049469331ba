//! The single reload door: every trigger (file watcher, SIGHUP, an explicit call) sends a message
//! to one task, which builds a new [`Snapshot`] and swaps it in — or keeps the old one and
//! reports why. This file holds the only write access to the snapshot's `ArcSwap`.
//!
//! Besides the snapshot, a reload runs the registered hooks ([`ReloadHandle::on_reload`]) first:
//! that is how the ticket key ring (`priv/authkey.ring`, shared by every instance on the state
//! directory) follows the file. The logout list, `domains.cfg` and the other state files are
//! part of the snapshot; the watcher covers the whole state directory, `priv/` included.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::gateway::GatewayConfig;
use crate::observe::Metrics;
use crate::snapshot::{LoadError, Snapshot, SnapshotReader, now};

/// How long file events are collected before one reload (editors and the CLI write several files).
const DEBOUNCE: Duration = Duration::from_millis(100);

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
/// tokio runtime.
pub fn start(
    config: Arc<GatewayConfig>,
    metrics: Arc<Metrics>,
) -> Result<(SnapshotReader, ReloadHandle), LoadError> {
    let first = Snapshot::load(config.clone(), 1)?;
    report_loaded(&first, &metrics);
    let swap = Arc::new(ArcSwap::from_pointee(first));
    let (gen_tx, gen_rx) = watch::channel(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = SnapshotReader::new(swap.clone(), gen_rx, metrics.clone());
    let hooks: Hooks = Arc::default();
    tokio::spawn(reload_task(
        config,
        swap,
        gen_tx,
        rx,
        metrics,
        hooks.clone(),
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

/// Watch the state directory (recursively) and the policy files; dot-files (the lock file,
/// temp files before their rename) are ignored. Keep the returned watcher alive.
pub fn watch_files(
    handle: ReloadHandle,
    config: &GatewayConfig,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    let policies: Vec<PathBuf> = config.policies.iter().map(|p| absolute(p)).collect();
    let state_dir = absolute(&config.state.dir);
    let relevant_state = state_dir.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) {
            return;
        }
        let hit = ev.paths.iter().any(|p| {
            let dotfile = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            !dotfile && (p.starts_with(&relevant_state) || policies.iter().any(|q| q == p))
        });
        if hit {
            handle.files_changed();
        }
    })?;
    if state_dir.is_dir() {
        watcher.watch(&state_dir, RecursiveMode::Recursive)?;
    }
    let mut dirs: Vec<PathBuf> = config
        .policies
        .iter()
        .filter_map(|p| absolute(p).parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        watcher.watch(&d, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
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
    config: Arc<GatewayConfig>,
    swap: Arc<ArcSwap<Snapshot>>,
    gen_tx: watch::Sender<u64>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    metrics: Arc<Metrics>,
    hooks: Hooks,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = Vec::new();
        match first {
            Request::Now(tx) => waiters.push(tx),
            Request::Files => {
                // Debounce: collect further events until DEBOUNCE passes quietly.
                while let Ok(Some(next)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    if let Request::Now(tx) = next {
                        waiters.push(tx);
                    }
                }
            }
        }
        let previous = swap.load_full();
        let generation = previous.generation + 1;
        let cfg = config.clone();
        let hooks = hooks.clone();
        let built = tokio::task::spawn_blocking(move || {
            for hook in hooks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
            {
                hook();
            }
            Snapshot::reload(cfg, generation, &previous)
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                file: "<reload task>".to_owned(),
                message: e.to_string(),
            })
        });
        let answer = match built {
            Ok(snapshot) => {
                report_loaded(&snapshot, &metrics);
                metrics.reloads_ok.inc();
                swap.store(Arc::new(snapshot));
                gen_tx.send_replace(generation);
                tracing::info!(generation, "reloaded");
                Ok(generation)
            }
            Err(e) => {
                metrics.reloads_failed.inc();
                tracing::error!(error = %e, "reload failed; keeping the previous snapshot");
                Err(e.to_string())
            }
        };
        for w in waiters {
            let _ = w.send(answer.clone());
        }
    }
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

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
