//! A gateway on etcd: the local mirror of the state and the loop that keeps it current.
//!
//! `state.dir` becomes a symbolic link to a mirror directory written from one revision
//! (src/store/mirror.rs); the one reload door builds the snapshot from the files, as on the
//! files backend.
//!
//! Load at R, watch from R+1: every watch response is applied to the objects in memory and
//! then to the running snapshot — as `Change`s through the reload door where they say it
//! (src/store/edit.rs: a token, a user's account, a group membership, a role, an ACL entry),
//! else by writing the mirror and loading it in full. A compacted history means a fresh load;
//! a broken stream a new watch after the last applied (or confirmed) revision. A probe thread
//! asks etcd every `probe_interval_ms` whether anything newer than the applied revision
//! exists (`meta/serial`); that, or a progress notification, confirms the state served.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::StoreError;
use super::etcd::{Change, EtcdError, EtcdStore, Loaded, WatchEvent};
use super::gateway_writer::Writer;
use super::health::Health;
use super::mirror::{self, publish};
use crate::config::gateway::GatewayConfig;
use crate::config::store::EtcdSettings;
use crate::config::{StateDir, StateError};
use crate::observe::{LoadLabels, Metrics};
use crate::reload::ReloadHandle;

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

    /// Keep the mirror current from now on (threads: the watch, the probe, the mirror's
    /// writer), handing every change to the reload `door` (`runtime` runs its calls); answers
    /// this gateway's place in the fleet, for its services.
    pub fn follow(
        self,
        door: ReloadHandle,
        runtime: tokio::runtime::Handle,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Fleet> {
        let health = Arc::new(Health::new(
            metrics.clone(),
            &self.settings,
            self.loaded.revision,
        ));
        let writer = Writer::start(self.store.clone(), health.clone());
        let probe_every = Duration::from_millis(self.settings.probe_interval_ms.max(50));
        let leadership =
            super::leader::campaign(self.store.clone(), gateway_id(), health.metrics_arc())?;
        let fleet = Fleet {
            writer,
            leadership: leadership.clone(),
        };
        let (store, probe_health) = (self.store.clone(), health.clone());
        let (keys, link) = (self.keys.clone(), self.link.clone());
        std::thread::Builder::new()
            .name("etcd-probe".to_owned())
            .spawn(move || {
                loop {
                    probe(&store, &probe_health);
                    // Once per fleet: the leader renews the keys in etcd for everyone.
                    if leadership.is_leader() {
                        renew_keys(&store, keys.as_ref(), &link);
                    }
                    std::thread::sleep(probe_every);
                }
            })?;
        let Mirror {
            store,
            link,
            loaded,
            ..
        } = self;
        let files = mirror::Mirror::new(link, loaded.objects, loaded.revision);
        // A full load must never read files older than the snapshot it replaces.
        let flush = files.clone();
        door.on_reload(move || flush.flush());
        let quiet = files.clone();
        std::thread::Builder::new()
            .name("etcd-mirror".to_owned())
            .spawn(move || quiet.write_when_quiet())?;
        std::thread::Builder::new()
            .name("etcd-watch".to_owned())
            .spawn(move || {
                let mut follower = Follower {
                    store,
                    files,
                    health,
                    door,
                    runtime,
                    pause: probe_every,
                    metrics,
                };
                follower.run();
            })?;
        Ok(fleet)
    }
}

/// A gateway on etcd as one of its fleet: where its writes go, and whether it leads.
#[derive(Clone)]
pub struct Fleet {
    /// Commits this gateway's changes to etcd (the access API's, and every other change of
    /// the mirror through [`StateDir::with_redirect`]).
    pub writer: Arc<Writer>,
    /// Whether this gateway runs the once-per-fleet jobs now (src/store/leader.rs).
    pub leadership: Arc<super::leader::Leadership>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("leader", &self.leadership.is_leader())
            .finish_non_exhaustive()
    }
}

struct Follower {
    store: Arc<EtcdStore>,
    files: Arc<mirror::Mirror>,
    health: Arc<Health>,
    door: ReloadHandle,
    runtime: tokio::runtime::Handle,
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

    /// Apply one watch response: the objects change, then the snapshot — incrementally where
    /// the changes say it, else from the mirror written anew.
    fn apply(&mut self, changes: &[Change], revision: i64) {
        let mut state = self.files.lock();
        // A re-watch after a broken stream may bring what was applied already.
        let fresh: Vec<&Change> = changes
            .iter()
            .filter(|c| c.revision > state.revision)
            .collect();
        if fresh.is_empty() {
            drop(state);
            self.health.set_applied(revision);
            return;
        }
        let mut before = BTreeMap::new();
        for c in fresh {
            let old = match &c.value {
                Some(v) => state.objects.insert(c.key.clone(), v.clone()),
                None => state.objects.remove(&c.key),
            };
            before.entry(c.key.clone()).or_insert(old);
        }
        state.revision = revision;
        let edit = super::edit::edit(&before, &state.objects);
        self.files.changed(&mut state);
        drop(state);
        let applied = match edit {
            Ok(edit) => {
                let changes = edit.changes.len();
                self.runtime
                    .block_on(self.door.apply_store(edit))
                    .inspect(|generation| {
                        tracing::debug!(revision, generation, changes, "applied from etcd");
                    })
                    .inspect_err(|e| {
                        tracing::info!(revision, reason = %e, "loading in full instead of applying");
                    })
                    .is_ok()
            }
            Err(why) => {
                tracing::info!(revision, reason = %why, "etcd change loaded in full");
                false
            }
        };
        let metrics = &self.health.metrics().store;
        if applied {
            metrics.applied_incremental.inc();
        } else {
            metrics.applied_full.inc();
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
                    self.files.replace(loaded.objects, loaded.revision);
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

    /// Write the mirror and load it in full.
    fn swap_in(&self, revision: i64) {
        let written = {
            let mut state = self.files.lock();
            self.files.write(&mut state)
        };
        if let Err(e) = written {
            tracing::error!(error = %e, revision, "cannot write the state mirror; keeping the previous snapshot");
            return;
        }
        if let Err(e) = self.runtime.block_on(self.door.reload()) {
            tracing::error!(error = %e, revision, "state from etcd refused; keeping the previous snapshot");
        }
    }
}

/// This gateway's name in the leader key: host and process.
fn gateway_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
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
