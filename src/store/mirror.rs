//! The local mirror of a gateway on etcd: the objects of the revision followed, and the files
//! written from them into `<state.dir>.mirror/r<revision>-…` with `state.dir` a symbolic link
//! to the newest, swapped in one rename (a reload never reads files of two revisions).
//!
//! A change applied to the running snapshot incrementally leaves the files behind; they are
//! written later, once the watch has been quiet for [`QUIET`] (at a million entries the files
//! take longer to write than the change took to apply), and at the latest before any full load
//! of the snapshot ([`Mirror::flush`], run by the reload door's hook), so a full load never
//! reads an older state than the one served. The background writer copies `user.cfg`'s lines
//! out in chunks of [`CHUNK`] entries, taking the lock for each, so a change that arrives
//! meanwhile waits for one chunk, not for the whole mirror (it starts over if one did).

use std::collections::BTreeMap;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::StoreError;
use super::objects::{self, Objects};
use super::user_keys;

/// How long the watch must be quiet before the files of incrementally applied changes are
/// written.
pub const QUIET: Duration = Duration::from_millis(250);

/// Entries copied per lock by the background writer.
const CHUNK: usize = 4096;

/// The objects followed and the files written from them; shared by the follower, the
/// background writer and the reload door's hook.
pub struct Mirror {
    state: Mutex<State>,
    changed: Condvar,
    /// The revision the link points at; held while a mirror's link is swapped, so an older
    /// mirror never replaces a newer one.
    linked: Mutex<i64>,
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
            linked: Mutex::new(revision),
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

    /// A fresh load at `revision` (which may be older than what the files hold, if the store
    /// went back): the next write replaces whatever is linked.
    pub fn replace(&self, objects: Objects, revision: i64) {
        let mut state = self.lock();
        state.objects = objects;
        state.revision = revision;
        state.written = i64::MIN;
        *self.linked.lock().unwrap_or_else(|e| e.into_inner()) = i64::MIN;
    }

    /// Write the files now if they are behind the objects (before a full load).
    pub fn flush(&self) {
        let mut state = self.lock();
        if state.written < state.revision
            && let Err(e) = self.write(&mut state)
        {
            tracing::error!(error = %e, "cannot write the state mirror");
        }
    }

    /// Write the files of `state` (locked throughout) and point the link at them.
    pub fn write(&self, state: &mut State) -> Result<(), StoreError> {
        let mut files = objects::render_others(&state.objects);
        if user_keys::present(&state.objects) {
            files.insert("user.cfg".to_owned(), user_keys::lines(&state.objects));
        }
        self.publish(&state.link, &files, state.revision)?;
        state.written = state.written.max(state.revision);
        Ok(())
    }

    /// Write the files of incrementally applied changes once the watch is quiet; runs for
    /// ever (on a thread of its own).
    pub fn write_when_quiet(&self) {
        loop {
            {
                let mut state = self.lock();
                loop {
                    if state.written >= state.revision {
                        state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    let quiet_at = state.changed_at + QUIET;
                    let now = Instant::now();
                    if now >= quiet_at {
                        break;
                    }
                    state = self
                        .changed
                        .wait_timeout(state, quiet_at - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
            let started = Instant::now();
            let Some((revision, files, link)) = self.render() else {
                // Changed meanwhile: wait for quiet again.
                continue;
            };
            match self.publish(&link, &files, revision) {
                Ok(()) => {
                    let mut state = self.lock();
                    state.written = state.written.max(revision);
                    tracing::debug!(
                        revision,
                        ms = started.elapsed().as_millis() as u64,
                        "state mirror written"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the state mirror; trying again");
                    self.lock().changed_at = Instant::now();
                }
            }
        }
    }

    /// The files of the current revision, `user.cfg`'s lines copied a chunk per lock; `None`
    /// if the objects changed meanwhile.
    fn render(&self) -> Option<(i64, BTreeMap<String, Vec<u8>>, PathBuf)> {
        let revision = self.lock().revision;
        let mut text = Vec::new();
        let mut any = false;
        for kind in user_keys::KINDS {
            let prefix = format!("{kind}/");
            let mut after: Option<String> = None;
            loop {
                let state = self.lock();
                if state.revision != revision {
                    return None;
                }
                let from = match &after {
                    Some(key) => Bound::Excluded(key.clone()),
                    None => Bound::Included(prefix.clone()),
                };
                let mut n = 0;
                for (key, value) in state
                    .objects
                    .range::<String, _>((from, Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .take(CHUNK)
                {
                    text.extend_from_slice(value);
                    after = Some(key.clone());
                    n += 1;
                }
                any |= n > 0;
                if n < CHUNK {
                    break;
                }
            }
        }
        let state = self.lock();
        if state.revision != revision {
            return None;
        }
        let mut files = objects::render_others(&state.objects);
        if any {
            files.insert("user.cfg".to_owned(), text);
        }
        Some((revision, files, state.link.clone()))
    }

    /// Write `files` as the mirror of `revision` and point `link` at it, unless a newer one
    /// is linked already.
    fn publish(
        &self,
        link: &Path,
        files: &BTreeMap<String, Vec<u8>>,
        revision: i64,
    ) -> Result<(), StoreError> {
        let mut linked = self.linked.lock().unwrap_or_else(|e| e.into_inner());
        if revision < *linked {
            return Ok(());
        }
        publish_files(link, files, revision)?;
        *linked = revision;
        Ok(())
    }
}

/// Write `objects` as the mirror of `revision` and point `link` at it in one rename; older
/// mirrors are removed.
pub fn publish(link: &Path, objects: &Objects, revision: i64) -> Result<(), StoreError> {
    let mut files = objects::render_others(objects);
    if user_keys::present(objects) {
        files.insert("user.cfg".to_owned(), user_keys::lines(objects));
    }
    publish_files(link, &files, revision)
}

/// [`publish`] of rendered files.
fn publish_files(
    link: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    revision: i64,
) -> Result<(), StoreError> {
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
    objects::write_rendered(files, &target)?;
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
