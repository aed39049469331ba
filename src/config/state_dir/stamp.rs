//! [`Stamp`]: which versions of the state files a snapshot was built from, and [`Written`]: what
//! one locked write did to them.
//!
//! A writer replaces files by rename, so every write gives a file a new inode; an edit in place
//! changes its size or modification time. Comparing (device, inode, size, mtime, ctime) of
//! every file a snapshot reads therefore tells whether the files are still the ones a snapshot
//! was built from, without reading them. The reload door uses this twice: a change handed over
//! by a writer is applied to the running snapshot only if the snapshot was built from exactly
//! the files that writer read (`before`) and the files are still the ones it wrote (`after`);
//! and the file watch's events for files the gateway already applied cause no second load.
//!
//! Limit (as git's "racy" index): an edit made in place by someone else, within the file
//! system's timestamp granularity of a write and keeping the size, is not seen by the stamp.
//! Writers here never edit in place.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::config::user_cfg::Change;

/// One file's identity and version; `None` when it does not exist.
pub type FileStamp = Option<[i64; 6]>;

/// The versions of the files a snapshot reads from the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The directory's (device, inode): which directory, not its listing (lock and socket
    /// files come and go in it).
    dir: Option<(u64, u64)>,
    /// user.cfg, priv/token.shadow, token-options.cfg, domains.cfg, logout.cfg.
    files: Vec<FileStamp>,
}

/// What a locked write did: the stamps of the files it read and of the files it left, and the
/// changes it made to `user.cfg` (`None`: also something a [`Change`] cannot say, such as a
/// pool or a comment; a reader must load the files again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The files as the writer read them, under the lock.
    pub before: Stamp,
    /// The files as the writer left them, still under the lock.
    pub after: Stamp,
    /// `user.cfg`'s edit, in order; empty when only other files changed.
    pub changes: Option<Vec<Change>>,
}

/// Told of every write a [`StateDir`] makes (see [`StateDir::with_notifier`]).
#[derive(Clone)]
pub struct Notifier(Arc<dyn Fn(&Written) + Send + Sync>);

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

// === impl Notifier ===

impl Notifier {
    /// Call `f` with every write.
    pub fn new(f: impl Fn(&Written) + Send + Sync + 'static) -> Notifier {
        Notifier(Arc::new(f))
    }

    pub(super) fn notify(&self, written: &Written) {
        (self.0)(written);
    }
}

// === impl Stamp ===

impl Stamp {
    /// Look at the files of `state` now.
    pub fn of(state: &StateDir) -> Stamp {
        let files = stamped_files(state).iter().map(file_stamp).collect();
        Stamp {
            dir: super::presence::identity(state.root()),
            files,
        }
    }

    /// Stamps of any other files (policies, certificates), for the reload door.
    pub fn of_paths<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Vec<FileStamp> {
        paths.into_iter().map(file_stamp).collect()
    }
}

/// The files a snapshot reads from the state directory.
fn stamped_files(state: &StateDir) -> [PathBuf; 5] {
    [
        state.user_cfg_path(),
        state.token_shadow_path(),
        state.token_options_path(),
        state.domains_cfg_path(),
        state.root().join("logout.cfg"),
    ]
}

fn file_stamp(path: &PathBuf) -> FileStamp {
    let m = std::fs::metadata(path).ok()?;
    // Bit patterns, not arithmetic: a u64 device or inode wraps into i64 and back unchanged.
    Some([
        m.dev() as i64,
        m.ino() as i64,
        m.size() as i64,
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        i64::from(m.mode()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_edited_file_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let empty = Stamp::of(&state);
        assert_eq!(empty, Stamp::of(&state), "nothing changed");
        std::fs::write(state.user_cfg_path(), "user:root@pam:1:0:::::\n").unwrap();
        let one = Stamp::of(&state);
        assert_ne!(one, empty, "created");
        // Replaced by rename with the same text: a new inode.
        let tmp = dir.path().join(".tmp");
        std::fs::write(&tmp, "user:root@pam:1:0:::::\n").unwrap();
        std::fs::rename(&tmp, state.user_cfg_path()).unwrap();
        assert_ne!(Stamp::of(&state), one, "replaced");
        let two = Stamp::of(&state);
        // Appended in place: another size.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(state.user_cfg_path())
            .unwrap();
        std::io::Write::write_all(&mut f, b"group:g:::\n").unwrap();
        assert_ne!(Stamp::of(&state), two, "edited in place");
    }
}
