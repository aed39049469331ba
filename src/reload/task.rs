//! The reload task: the one place that swaps snapshots. Requests come in one at a time, so a
//! writer's edit, a full load and a file event never race; a reload that is running is finished
//! before the next request is looked at.
//!
//! - `Apply` (a writer's edit) is handled at once, also while file events are being debounced:
//!   applied to the current snapshot when that was built from exactly the files the writer
//!   read and the files are still those it wrote ([`super::apply`]), else by a full load.
//! - `Files` waits for events to pause (`DEBOUNCE`, at most `MAX_DEBOUNCE`) and for a writer
//!   holding the lock to finish (at most `WRITER_WAIT`: its hand-over usually comes first), then loads in full
//!   — unless every file a snapshot reads is still the version the current one holds (the
//!   events were the writes the gateway has just applied). The hooks (key ring, the watch's
//!   re-arm) run either way.
//! - `Now` (SIGHUP, an API write of files a `Change` cannot say) loads in full.
//! - `Store` (an etcd follower's edit, src/store/follow.rs) is applied to the current
//!   snapshot or refused with the reason; the follower then loads in full itself, after
//!   writing its mirror.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{
    ATTEMPTS, Applied, DEBOUNCE, Hooks, How, MAX_DEBOUNCE, Request, StoreEdit, apply, report_loaded,
};
use crate::config::StateDir;
use crate::config::gateway::GatewayConfig;
use crate::config::reloadable::ConfigSource;
use crate::config::state_dir::{FileStamp, Presence, Stamp, Written};
use crate::observe::Metrics;
use crate::snapshot::{LoadError, Snapshot};

/// The longest file events wait for a writer that holds the lock (its own hand-over makes the
/// load unnecessary; a writer that hangs must not hold back what others changed).
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// The reload task's state.
pub(super) struct Door {
    /// Where the settings are read again on every full load (`None`: keep the running ones).
    source: Option<ConfigSource>,
    swap: Arc<ArcSwap<Snapshot>>,
    gen_tx: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    hooks: Hooks,
    last_good: Presence,
    /// The versions of the files the current snapshot holds, when known.
    held: Option<Held>,
}

/// The file versions a snapshot was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    state: Stamp,
    /// Policies, certificate and key.
    others: Vec<FileStamp>,
}

// === impl Door ===

impl Door {
    pub(super) fn new(
        source: Option<ConfigSource>,
        swap: Arc<ArcSwap<Snapshot>>,
        gen_tx: watch::Sender<u64>,
        metrics: Arc<Metrics>,
        hooks: Hooks,
        last_good: Presence,
        held: Option<Held>,
    ) -> Door {
        Door {
            source,
            swap,
            gen_tx,
            metrics,
            hooks,
            last_good,
            held,
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        // (quiet until, at the latest, first event) while file events are being collected.
        let mut pending: Option<(Instant, Instant, Instant)> = None;
        loop {
            let request = match pending {
                None => rx.recv().await,
                Some((quiet, latest, first)) => {
                    tokio::select! {
                        r = rx.recv() => r,
                        () = tokio::time::sleep_until(quiet.min(latest)) => {
                            // A writer still at work hands its edit over when done (or its
                            // files are read then); wait for it, but not for ever.
                            let state = StateDir::new(&self.swap.load().config.state.dir);
                            if first.elapsed() < WRITER_WAIT && state.writer_busy() {
                                let next = Instant::now() + DEBOUNCE;
                                pending = Some((next, next, first));
                                continue;
                            }
                            pending = None;
                            self.files_changed().await;
                            continue;
                        }
                    }
                }
            };
            match request {
                None => return,
                Some(Request::Files) => {
                    let now = Instant::now();
                    let (latest, first) =
                        pending.map_or((now + MAX_DEBOUNCE, now), |(_, l, f)| (l, f));
                    pending = Some((now + DEBOUNCE, latest, first));
                }
                Some(Request::Now(tx)) => {
                    // A full load reads whatever the pending events were about.
                    pending = None;
                    let _ = tx.send(self.load().await);
                }
                Some(Request::Apply(written, tx)) => {
                    let answer = self.apply(*written).await;
                    if matches!(answer, Ok(Applied { how: How::Full, .. })) {
                        pending = None;
                    }
                    let _ = tx.send(answer);
                }
                Some(Request::Store(edit, tx)) => {
                    let _ = tx.send(self.apply_store(*edit).await);
                }
            }
        }
    }

    /// After the debounce: load, unless the files are those the snapshot holds.
    async fn files_changed(&mut self) {
        if self.held.is_some() && self.held == Some(self.look()) {
            let hooks = self.hooks.clone();
            let _ = tokio::task::spawn_blocking(move || run_hooks(&hooks)).await;
            tracing::debug!("files changed, but the snapshot already holds them");
            return;
        }
        let _ = self.load().await;
    }

    /// A writer's edit: see the module comment.
    async fn apply(&mut self, written: Written) -> Result<Applied, String> {
        // Policy or certificate changes are the pending file event's to load.
        let others = self.held.as_ref().map(|h| h.others.clone());
        let holds = |state: &Stamp| self.held.as_ref().is_some_and(|h| &h.state == state);
        if holds(&written.after) {
            return Ok(Applied {
                generation: self.swap.load().generation,
                how: How::Current,
            });
        }
        let state = StateDir::new(&self.swap.load().config.state.dir);
        let incremental = written.changes.is_some()
            && holds(&written.before)
            && Stamp::of(&state) == written.after;
        if let (true, Some(changes)) = (incremental, written.changes) {
            let previous = self.swap.load_full();
            let generation = previous.generation + 1;
            let after = written.after.clone();
            let built = tokio::task::spawn_blocking(move || {
                let next = apply::apply(&previous, &changes, generation)?;
                // The token files were read from the written version, or the load is redone.
                if Stamp::of(&state) != after {
                    return Err("the files changed while the edit was applied".to_owned());
                }
                Ok(next)
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match built {
                Ok(snapshot) => {
                    self.held = Some(Held {
                        state: written.after,
                        others: others.unwrap_or_default(),
                    });
                    self.swap_in(snapshot);
                    tracing::info!(generation, "applied a writer's change");
                    return Ok(Applied {
                        generation,
                        how: How::Incremental,
                    });
                }
                Err(e) => tracing::info!(reason = %e, "loading in full instead of applying"),
            }
        }
        self.load().await.map(|generation| Applied {
            generation,
            how: How::Full,
        })
    }

    /// An etcd follower's edit, applied to the current snapshot (answers the generation), or
    /// the reason it was not.
    async fn apply_store(&mut self, edit: StoreEdit) -> Result<u64, String> {
        let previous = self.swap.load_full();
        let generation = previous.generation + 1;
        let snapshot =
            tokio::task::spawn_blocking(move || apply::apply_store(&previous, &edit, generation))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))?;
        // The mirror's files are not what the snapshot holds until the follower writes them.
        self.held = None;
        self.swap_in(snapshot);
        tracing::debug!(generation, "applied a change from etcd");
        Ok(generation)
    }

    /// Load every file again (running the hooks first) and swap the result in.
    async fn load(&mut self) -> Result<u64, String> {
        let previous = self.swap.load_full();
        let generation = previous.generation + 1;
        let (source, hooks, last_good) = (self.source.clone(), self.hooks.clone(), self.last_good);
        let built = tokio::task::spawn_blocking(move || {
            run_hooks(&hooks);
            let config = settings(source.as_ref(), &previous.config)?;
            let others = other_files(&config);
            let before = Stamp::of_paths(&others);
            let (snapshot, presence, state) = build(config, generation, &previous, &last_good)?;
            drop(previous);
            let held = state
                .filter(|_| Stamp::of_paths(&others) == before)
                .map(|state| Held {
                    state,
                    others: before,
                });
            Ok::<_, LoadError>((snapshot, presence, held))
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                file: "<reload task>".to_owned(),
                message: e.to_string(),
            })
        });
        match built {
            Ok((snapshot, presence, held)) => {
                self.last_good = presence;
                self.held = held;
                self.metrics.reloads_ok.inc();
                self.metrics.reload_failing.set(0);
                self.swap_in(snapshot);
                tracing::info!(generation, "reloaded");
                Ok(generation)
            }
            Err(e) => {
                self.metrics.reloads_failed.inc();
                self.metrics.reload_failing.set(1);
                tracing::error!(error = %e, "reload failed; keeping the previous snapshot");
                Err(e.to_string())
            }
        }
    }

    fn swap_in(&mut self, snapshot: Snapshot) {
        let generation = snapshot.generation;
        report_loaded(&snapshot, &self.metrics);
        let old = self.swap.swap(Arc::new(snapshot));
        self.gen_tx.send_replace(generation);
        // The old snapshot goes when its last request ends; if that is now, give its pages
        // back to the system (glibc keeps freed memory in per-thread arenas otherwise, and
        // resident memory would grow with every reload).
        if Arc::strong_count(&old) == 1 {
            tokio::task::spawn_blocking(move || {
                drop(old);
                trim();
            });
        }
    }

    fn look(&self) -> Held {
        look(&self.swap.load().config)
    }
}

/// The versions of every file a snapshot reads, now.
pub(super) fn look(config: &GatewayConfig) -> Held {
    Held {
        state: Stamp::of(&StateDir::new(&config.state.dir)),
        others: Stamp::of_paths(&other_files(config)),
    }
}

fn run_hooks(hooks: &Hooks) {
    for hook in hooks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        hook();
    }
}

/// The files outside the state directory a snapshot reads.
fn other_files(config: &GatewayConfig) -> Vec<PathBuf> {
    let mut files = config.policies.clone();
    files.push(config.tls.cert.clone());
    files.push(config.tls.key.clone());
    files
}

/// Load the successor of `previous`, refusing a state directory that lost what `last_good`
/// had, and loading again if the directory was replaced while it was read (its files might
/// then come from two directories). Answers the snapshot, what it was loaded from, and the
/// versions of the state files it holds (an error if they changed while being read).
fn build(
    config: Arc<GatewayConfig>,
    generation: u64,
    previous: &Snapshot,
    last_good: &Presence,
) -> Result<(Snapshot, Presence, Option<Stamp>), LoadError> {
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
        let stamp = Stamp::of(&state);
        let snapshot = Snapshot::reload(config.clone(), generation, previous)?;
        if Presence::of(&state) == before {
            let held = (Stamp::of(&state) == stamp).then_some(stamp);
            return Ok((snapshot, before, held));
        }
    }
    Err(refused(
        "the state directory kept changing while it was read; keeping the last good state"
            .to_owned(),
    ))
}

/// Give freed heap pages back to the system (glibc only).
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
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
