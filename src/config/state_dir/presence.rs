//! Whether the state directory (and its `user.cfg`) is there, and which directory it is.
//!
//! The reload door compares this before and after each load: a state directory that was
//! deleted, or that lost its `user.cfg`, is a state being replaced or destroyed, not an empty
//! configuration. Loading it would replace every user, token and ACL with nothing, so every
//! request would be refused; the reload keeps the last good snapshot instead and reports it.
//! A directory replaced *during* a load (a restore moving a new one in) may have given files
//! from both; the identity (device, inode) of the directory tells.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{StateDir, StateError};

/// What of a state directory exists, with the directory's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Presence {
    /// (device, inode) of the directory (symlinks followed); `None` if it does not exist.
    pub dir: Option<(u64, u64)>,
    /// Whether `user.cfg` exists in it.
    pub user_cfg: bool,
}

// === impl Presence ===

impl Presence {
    /// Look at `state` now.
    pub fn of(state: &StateDir) -> Presence {
        Presence {
            dir: identity(state.root()),
            user_cfg: state.user_cfg_path().exists(),
        }
    }

    /// Refuse a state that lost what the last good load had: the directory itself, or its
    /// `user.cfg`. (A state that never had them, a fresh install, is fine.)
    pub fn check_against(&self, last_good: &Presence, state: &StateDir) -> Result<(), StateError> {
        if last_good.dir.is_some() && self.dir.is_none() {
            return Err(StateError::Missing {
                path: state.root().to_owned(),
            });
        }
        if last_good.user_cfg && !self.user_cfg {
            return Err(StateError::Missing {
                path: state.user_cfg_path(),
            });
        }
        Ok(())
    }
}

/// (device, inode) of `path`, following symlinks.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_or_user_cfg_is_refused_only_if_it_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let fresh = Presence::of(&state);
        assert_eq!(fresh, Presence::default());
        // A fresh install stays loadable.
        fresh.check_against(&fresh, &state).unwrap();

        fs::create_dir(state.root()).unwrap();
        fs::write(state.user_cfg_path(), "user:root@pam:1:0:::::\n").unwrap();
        let good = Presence::of(&state);
        assert!(good.dir.is_some() && good.user_cfg);

        fs::remove_file(state.user_cfg_path()).unwrap();
        let err = Presence::of(&state)
            .check_against(&good, &state)
            .unwrap_err();
        assert!(err.to_string().contains("user.cfg"), "{err}");

        fs::remove_dir(state.root()).unwrap();
        let err = Presence::of(&state)
            .check_against(&good, &state)
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");

        // A directory restored at the same path is fine again.
        fs::create_dir(state.root()).unwrap();
        fs::write(state.user_cfg_path(), "user:root@pam:1:0:::::\n").unwrap();
        Presence::of(&state).check_against(&good, &state).unwrap();
    }
}
