//! Changes of a state directory that go elsewhere: on a gateway whose state is in etcd,
//! `state.dir` is only a mirror of etcd, and a change written into it would be lost at the
//! next revision and seen by no other gateway. The etcd store registers itself here for that
//! directory; [`super::StateDir::modify`] (and its variants) then hand their edit to it, and it
//! runs the edit on a private copy and commits it to etcd (src/store/gateway_writer.rs).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use super::{StateDir, StateError};

/// Runs an edit of a state directory somewhere else and keeps what it changed.
pub trait Redirect: Send + Sync {
    /// Run `edit` on a copy of the current state and commit its changes; on `Err` nothing
    /// is kept.
    fn change(
        &self,
        edit: &mut dyn FnMut(&StateDir) -> Result<(), StateError>,
    ) -> Result<(), StateError>;
}

type Registry = Mutex<Vec<(PathBuf, Weak<dyn Redirect>)>>;

static REDIRECTS: Registry = Mutex::new(Vec::new());

/// From now on, changes of the state directory `root` go to `to` (while it lives).
pub fn redirect_changes(root: &Path, to: Weak<dyn Redirect>) {
    let mut all = REDIRECTS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(p, r)| r.strong_count() > 0 && p != root);
    all.push((root.to_owned(), to));
}

/// Where changes of `root` go, if not to its files.
pub(super) fn redirect_of(root: &Path) -> Option<Arc<dyn Redirect>> {
    let all = REDIRECTS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter()
        .find(|(p, _)| p == root)
        .and_then(|(_, r)| r.upgrade())
}

/// Run `f` through `redirect`, answering what `f` answered.
pub(super) fn run<T>(
    redirect: &dyn Redirect,
    f: impl FnOnce(&StateDir) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let mut f = Some(f);
    let mut out = None;
    redirect.change(&mut |copy| {
        let f = f
            .take()
            .ok_or_else(|| StateError::Rejected("change ran twice".to_owned()))?;
        out = Some(f(copy)?);
        Ok(())
    })?;
    out.ok_or_else(|| StateError::Rejected("change did not run".to_owned()))
}
