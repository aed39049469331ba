//! A gateway on etcd: the local mirror of the state and the loop that keeps it current.
//!
//! `state.dir` becomes a symbolic link to a mirror directory written from one revision
//! (`<state.dir>.mirror/r<revision>`); a new revision is written beside it and the link is
//! swapped in one rename, so a reload never reads files of two revisions. Then the one reload
//! door builds the snapshot from the files, as on the files backend.
//!
//! Load at R, watch from R+1: every watch response is applied to the objects in memory, the
//! mirror is rewritten and the snapshot reloaded. A compacted history means a fresh load; a
//! broken stream a new watch after the last applied (or confirmed) revision. A probe thread
//! asks etcd every `probe_interval_ms` whether anything newer than the applied revision
//! exists (`meta/serial`); that, or a progress notification, confirms the state served.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::StoreError;
use super::etcd::{Change, EtcdError, EtcdStore, Loaded, WatchEvent};
use super::health::Health;
use super::objects::{self, Objects};
use crate::config::gateway::GatewayConfig;
use crate::config::store::EtcdSettings;
use crate::config::{StateDir, StateError};
use crate::observe::{LoadLabels, Metrics};

/// State that one gateway of the fleet must create or renew for all of them (the ticket keys):
/// checked on the mirror, changed through an etcd change, so the lock and the serial compare
/// make exactly one gateway do it and the watch brings the result to every gateway.
pub trait FleetKeys: Send + Sync {
    /// Whether the keys in `state` are missing or due for renewal at `now`.
    fn needed(&self, state: &StateDir, now: i64) -> bool;
    /// Create or renew them in `state` (a private copy of the state just read); nothing if
    /// they are fine there (another gateway was first).
    fn ensure(&self, state: &StateDir, now: i64) -> Result<(), StateError>;
}

/// The mirror of a gateway, loaded and written; [`Mirror::follow`] keeps it current.
pub struct Mirror {
    store: Arc<EtcdStore>,
    link: PathBuf,
    settings: EtcdSettings,
    loaded: Loaded,
    keys: Arc<dyn FleetKeys>,
}

// === impl Mirror ===

impl Mirror {
    /// Load the state from etcd and write the mirror at `state.dir` (before the gateway builds
    /// its first snapshot). Fails if etcd cannot be read: a gateway does not start blind.
    pub fn prepare(config: &GatewayConfig, keys: Arc<dyn FleetKeys>) -> Result<Mirror, StoreError> {
        let settings = config.state.etcd.clone();
        let store = Arc::new(EtcdStore::new(&settings)?);
        let mut loaded = store.load()?;
        let link = config.state.dir.clone();
        publish(&link, &loaded.objects, loaded.revision)?;
        // The fleet's ticket keys come from etcd: made here by the first gateway, if missing,
        // rather than by each gateway in its own mirror.
        if keys.needed(&StateDir::new(&link), crate::snapshot::now() as i64) {
            let now = crate::snapshot::now() as i64;
            super::change_in_etcd(&store, |state| keys.ensure(state, now))?;
            loaded = store.load()?;
            publish(&link, &loaded.objects, loaded.revision)?;
        }
        let mirror = Mirror {
            store,
            link,
            settings,
            loaded,
            keys,
        };
        tracing::info!(
            revision = mirror.loaded.revision,
            keys = mirror.loaded.objects.len(),
            "state loaded from etcd"
        );
        Ok(mirror)
    }

    /// The revision loaded.
    pub fn revision(&self) -> i64 {
        self.loaded.revision
    }

    /// Keep the mirror current from now on (two threads: the watch and the probe), calling
    /// `reload` (the reload door; blocking) after each new mirror. Takes a function rather than
    /// the reload handle so that this module does not depend on `reload`.
    pub fn follow(
        self,
        reload: impl Fn() -> Result<(), String> + Send + 'static,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<()> {
        let health = Arc::new(Health::new(
            metrics.clone(),
            &self.settings,
            self.loaded.revision,
        ));
        // Kept alive by the watch thread, which runs as long as the process.
        let writer =
            super::gateway_writer::Writer::register(&self.link, self.store.clone(), health.clone());
        let probe_every = Duration::from_millis(self.settings.probe_interval_ms.max(50));
        let (store, probe_health) = (self.store.clone(), health.clone());
        let (keys, link) = (self.keys.clone(), self.link.clone());
        std::thread::Builder::new()
            .name("etcd-probe".to_owned())
            .spawn(move || {
                loop {
                    probe(&store, &probe_health);
                    renew_keys(&store, keys.as_ref(), &link);
                    std::thread::sleep(probe_every);
                }
            })?;
        std::thread::Builder::new()
            .name("etcd-watch".to_owned())
            .spawn(move || {
                let _writer = writer;
                let Mirror {
                    store,
                    link,
                    loaded,
                    ..
                } = self;
                let mut follower = Follower {
                    store,
                    link,
                    objects: loaded.objects,
                    health,
                    reload: Box::new(reload),
                    pause: probe_every,
                    metrics,
                };
                follower.run();
            })?;
        Ok(())
    }
}

struct Follower {
    store: Arc<EtcdStore>,
    link: PathBuf,
    objects: Objects,
    health: Arc<Health>,
    reload: Box<dyn Fn() -> Result<(), String> + Send>,
    pause: Duration,
    metrics: Arc<Metrics>,
}

impl Follower {
    fn run(&mut self) {
        loop {
            let start = self.health.resume_after() + 1;
            if self.went_back(start - 1) {
                continue;
            }
            let store = self.store.clone();
            let mut watcher = match store.watch(start) {
                Ok(w) => w,
                Err(EtcdError::Compacted) => {
                    self.reload_compacted();
                    continue;
                }
                Err(e) => {
                    self.health.disconnected(&e.to_string());
                    std::thread::sleep(self.pause);
                    continue;
                }
            };
            loop {
                match watcher.next_event() {
                    Ok(WatchEvent::Changes { changes, revision }) => {
                        self.apply(&changes, revision);
                    }
                    Ok(WatchEvent::Progress { revision }) => self.health.confirm(revision),
                    Ok(WatchEvent::Compacted) => {
                        self.reload_compacted();
                        break;
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "etcd watch ended; watching again");
                        break;
                    }
                }
            }
        }
    }

    /// Apply one watch response: the objects change, the mirror is rewritten and the snapshot
    /// reloaded.
    fn apply(&mut self, changes: &[Change], revision: i64) {
        if changes.is_empty() {
            self.health.set_applied(revision);
            return;
        }
        for c in changes {
            match &c.value {
                Some(v) => {
                    self.objects.insert(c.key.clone(), v.clone());
                }
                None => {
                    self.objects.remove(&c.key);
                }
            }
        }
        if !apply_incrementally(changes) {
            self.swap_in(revision);
        }
        self.health.set_applied(revision);
    }

    /// The watch history is gone (whether etcd said so when the watch was made or later): load
    /// again, then count it (`aclgate_store_full_loads_total{cause="compacted"}`).
    fn reload_compacted(&mut self) {
        tracing::warn!("etcd history compacted past the watch: loading the state again");
        self.relist();
        self.count_load("compacted");
    }

    /// Whether etcd's revision is behind the one served (restored from an older backup), in
    /// which case the state was loaded again, loudly: a watch from our revision would wait for
    /// numbers etcd will reuse for other changes.
    fn went_back(&mut self, served: i64) -> bool {
        match self.store.serial() {
            Ok((head, _)) if head < served => {
                tracing::error!(
                    head,
                    served,
                    "etcd's revision went BACK (restored from an older backup?): loading the state again"
                );
                self.relist();
                self.count_load("revision_back");
                true
            }
            _ => false,
        }
    }

    /// `aclgate_store_full_loads_total{cause}`, counted after the load.
    fn count_load(&self, cause: &'static str) {
        let labels = LoadLabels { cause };
        self.metrics.store.full_loads.get_or_create(&labels).inc();
    }

    /// A fresh load (compaction, or a store that went back): retried until etcd answers.
    fn relist(&mut self) {
        loop {
            match self.store.load() {
                Ok(loaded) => {
                    self.objects = loaded.objects;
                    self.swap_in(loaded.revision);
                    self.health.reset(loaded.revision);
                    return;
                }
                Err(e) => {
                    self.health.disconnected(&e.to_string());
                    std::thread::sleep(self.pause);
                }
            }
        }
    }

    fn swap_in(&self, revision: i64) {
        if let Err(e) = publish(&self.link, &self.objects, revision) {
            tracing::error!(error = %e, revision, "cannot write the state mirror; keeping the previous snapshot");
            return;
        }
        if let Err(e) = (self.reload)() {
            tracing::error!(error = %e, revision, "state from etcd refused; keeping the previous snapshot");
        }
    }
}

/// The per-change hook: apply these key changes to the running model without a full
/// rebuild, answering whether that was done. Until the incremental apply path (issue 12's
/// `Change`s through the reload door) is wired here, every change is a full reload.
fn apply_incrementally(_changes: &[Change]) -> bool {
    false
}

/// Is anything newer than what we serve? (`meta/serial` changes with every aclgate write.)
fn probe(store: &EtcdStore, health: &Health) {
    match store.serial() {
        Ok((head, serial)) if serial <= health.applied() => health.confirm(head),
        // Behind: the watch will bring it; the lag grows until it does.
        Ok(_) => health.update(),
        Err(e) => health.disconnected(&e.to_string()),
    }
}

/// Renew the fleet's keys in etcd when the mirror says they are due (the first gateway to see
/// it does it; the others find them renewed when they re-read under the lock).
fn renew_keys(store: &EtcdStore, keys: &dyn FleetKeys, link: &Path) {
    let now = crate::snapshot::now() as i64;
    if keys.needed(&StateDir::new(link), now)
        && let Err(e) = super::change_in_etcd(store, |state| keys.ensure(state, now))
    {
        tracing::warn!(error = %e, "cannot renew the ticket keys in etcd; trying again");
    }
}

/// Write `objects` as the mirror of `revision` and point `link` at it in one rename; older
/// mirrors are removed.
pub fn publish(link: &Path, objects: &Objects, revision: i64) -> Result<(), StoreError> {
    let local = |e: std::io::Error| StoreError::Local(format!("{}: {e}", link.display()));
    let name = link
        .file_name()
        .ok_or_else(|| StoreError::Local(format!("{}: no file name", link.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = link.parent().unwrap_or(Path::new("."));
    let mirrors = parent.join(format!("{name}.mirror"));
    fs::create_dir_all(&mirrors).map_err(local)?;
    let serial = uuid::Uuid::new_v4().simple().to_string();
    // Relative to the link's directory, so the pair can be moved together.
    let relative = format!("{name}.mirror/r{revision}-{}", &serial[..8]);
    let target = parent.join(&relative);
    objects::write_dir(objects, &target)?;
    // The mirror the link pointed at stays one more round: a reload may still be reading it.
    let previous = fs::read_link(link).ok().map(|p| parent.join(p));
    match fs::symlink_metadata(link) {
        Ok(m) if m.is_dir() => {
            // A first start on a directory: only an empty one may become the link.
            fs::remove_dir(link).map_err(|e| {
                StoreError::Local(format!(
                    "{}: with backend = \"etcd\" the state directory is aclgate's mirror of etcd \
                     and must not hold files ({e})",
                    link.display()
                ))
            })?;
        }
        _ => {}
    }
    let tmp = parent.join(format!(".{name}.link-{serial}"));
    std::os::unix::fs::symlink(&relative, &tmp).map_err(local)?;
    fs::rename(&tmp, link).map_err(local)?;
    if let Ok(entries) = fs::read_dir(&mirrors) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path != target && Some(&path) != previous.as_ref() {
                let _ = fs::remove_dir_all(path);
            }
        }
    }
    Ok(())
}
