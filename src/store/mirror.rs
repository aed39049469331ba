//! The local mirror of a gateway on etcd: the objects of the revision followed, and the files
//! written from them into `<state.dir>.mirror/r<revision>-…` with `state.dir` a symbolic link
//! to the newest, swapped in one rename (a reload never reads files of two revisions).
//!
//! A change applied to the running snapshot incrementally leaves the files behind; they are
//! written later, once the watch has been quiet for [`QUIET`] (at a million entries the files
//! take longer to write than the change took to apply), and at the latest before any full load
//! of the snapshot ([`Mirror::flush`], run by the reload door's hook), so a full load never
//! reads an older state than the one served.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::StoreError;
use super::objects::{self, Objects};

/// How long the watch must be quiet before the files of incrementally applied changes are
/// written.
pub const QUIET: Duration = Duration::from_millis(250);

/// The objects followed and the files written from them; shared by the follower, the
/// background writer and the reload door's hook.
pub struct Mirror {
    state: Mutex<State>,
    changed: Condvar,
}

/// What [`Mirror`] guards.
pub struct State {
    /// `state.dir`: the link to the newest mirror directory.
    pub link: PathBuf,
    /// The state at `revision`.
    pub objects: Objects,
    /// The revision `objects` hold.
    pub revision: i64,
    /// The revision the files hold.
    pub written: i64,
    /// When `objects` last changed.
    changed_at: Instant,
}

// === impl Mirror ===

impl Mirror {
    /// The mirror of `objects` at `revision`, whose files are already written at `link`.
    pub fn new(link: PathBuf, objects: Objects, revision: i64) -> Arc<Mirror> {
        Arc::new(Mirror {
            state: Mutex::new(State {
                link,
                objects,
                revision,
                written: revision,
                changed_at: Instant::now(),
            }),
            changed: Condvar::new(),
        })
    }

    /// The state, locked.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `objects` changed to `revision` (under the lock): the files follow later.
    pub fn changed(&self, state: &mut State) {
        state.changed_at = Instant::now();
        self.changed.notify_all();
    }

    /// Write the files now if they are behind the objects (before a full load).
    pub fn flush(&self) {
        let mut state = self.lock();
        if state.written < state.revision
            && let Err(e) = state.write()
        {
            tracing::error!(error = %e, "cannot write the state mirror");
        }
    }

    /// Write the files of incrementally applied changes once the watch is quiet; runs for
    /// ever (on a thread of its own).
    pub fn write_when_quiet(&self) {
        let mut state = self.lock();
        loop {
            while state.written >= state.revision {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            let quiet_at = state.changed_at + QUIET;
            let now = Instant::now();
            if now < quiet_at {
                state = self
                    .changed
                    .wait_timeout(state, quiet_at - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            }
            let started = Instant::now();
            match state.write() {
                Ok(()) => tracing::debug!(
                    revision = state.written,
                    ms = started.elapsed().as_millis() as u64,
                    "state mirror written"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the state mirror; trying again");
                    state.changed_at = Instant::now();
                }
            }
        }
    }
}

// === impl State ===

impl State {
    /// Write the files of `objects` and point the link at them.
    pub fn write(&mut self) -> Result<(), StoreError> {
        publish(&self.link, &self.objects, self.revision)?;
        self.written = self.revision;
        Ok(())
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
