//! The file watch: the state directory (recursively), its parent directory, and the policy
//! files' directories. Every relevant event sends [`ReloadHandle::files_changed`].
//!
//! An inotify watch follows a directory's *inode*, not its path. A state directory moved aside
//! and replaced by another (a restore from backup), or deleted and created again, would leave
//! the watch on the old inode (or on nothing), so later changes, such as a revoked token, would
//! go unseen. Hence:
//! - the parent directory is watched too (non-recursively), so that the state directory's own
//!   creation, removal or rename is an event that triggers a reload;
//! - before every reload, whatever triggered it (file event, SIGHUP, API write), the watches
//!   of the state directory and its parent are re-armed: dropped and added again on whatever
//!   directories now have those paths (so SIGHUP also repairs a watch whose directory was
//!   replaced higher up, where no event reaches us). Changes made between the re-arm and the load are read by that load; later ones
//!   raise new events.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::ReloadHandle;
use crate::config::gateway::GatewayConfig;

/// The running watch; dropping it stops watching.
#[derive(Debug)]
pub struct FileWatch {
    /// Shared with the re-arm hook (which holds it weakly, so dropping this stops the watch).
    watcher: Arc<Mutex<RecommendedWatcher>>,
}

/// Watch the state directory (recursively), its parent and the policy files; dot-files (the
/// lock file, temp files before their rename) are ignored. The state directory's watch is
/// re-armed before every reload. Keep the returned value alive.
pub fn watch_files(
    handle: ReloadHandle,
    config: &GatewayConfig,
) -> Result<FileWatch, notify::Error> {
    let policies: Vec<PathBuf> = config.policies.iter().map(|p| absolute(p)).collect();
    let state_dir = absolute(&config.state.dir);
    let relevant_state = state_dir.clone();
    let events = handle.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) {
            return;
        }
        // Paths under the state directory include the directory itself (an event of its
        // parent: created, removed, renamed).
        let hit = ev.paths.iter().any(|p| {
            let dotfile = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            !dotfile && (p.starts_with(&relevant_state) || policies.iter().any(|q| q == p))
        });
        if hit {
            events.files_changed();
        }
    })?;
    let mut dirs: Vec<PathBuf> = config
        .policies
        .iter()
        .filter_map(|p| absolute(p).parent().map(Path::to_path_buf))
        .chain(state_dir.parent().map(Path::to_path_buf))
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        watcher.watch(&d, RecursiveMode::NonRecursive)?;
    }
    if state_dir.is_dir() {
        watcher.watch(&state_dir, RecursiveMode::Recursive)?;
    }
    let watcher = Arc::new(Mutex::new(watcher));
    let weak = Arc::downgrade(&watcher);
    handle.on_reload(move || {
        if let Some(watcher) = weak.upgrade() {
            rearm(
                &mut watcher.lock().unwrap_or_else(PoisonError::into_inner),
                &state_dir,
            );
        }
    });
    Ok(FileWatch { watcher })
}

// === impl FileWatch ===

impl FileWatch {
    /// Re-arm the state directory's watch now (the reload hook does this before each reload).
    pub fn rearm(&self, config: &GatewayConfig) {
        rearm(
            &mut self.watcher.lock().unwrap_or_else(PoisonError::into_inner),
            &absolute(&config.state.dir),
        );
    }
}

/// Drop the watches of the state directory and of its parent (on whatever inodes they follow)
/// and watch the directories now at those paths. A missing state directory stays unwatched;
/// the parent's watch reports its return.
fn rearm(watcher: &mut RecommendedWatcher, dir: &Path) {
    // Not watched (deleted, never there) is fine.
    if let Some(parent) = dir.parent().filter(|p| p.is_dir()) {
        let _ = watcher.unwatch(parent);
        if let Err(e) = watcher.watch(parent, RecursiveMode::NonRecursive) {
            tracing::error!(dir = %parent.display(), error = %e, "cannot watch the state directory's parent");
        }
    }
    let _ = watcher.unwatch(dir);
    if !dir.is_dir() {
        tracing::warn!(dir = %dir.display(), "state directory is missing; waiting for it to return");
        return;
    }
    if let Err(e) = watcher.watch(dir, RecursiveMode::Recursive) {
        tracing::error!(dir = %dir.display(), error = %e, "cannot watch the state directory");
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
