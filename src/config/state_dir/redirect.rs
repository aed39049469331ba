//! Changes of a state directory that go elsewhere: on a gateway whose state is in etcd,
//! `state.dir` is only a mirror of etcd, and a change written into it would be lost at the
//! next revision and seen by no other gateway. That gateway's services hold its directory
//! [`with_redirect`](super::StateDir::with_redirect) to the etcd writer;
//! [`super::StateDir::modify`] (and its variants) then hand their edit to it, and it runs the
//! edit on a private copy and commits it to etcd (src/store/gateway_writer.rs).

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

impl StateDir {
    /// Run `f` holding the writers' lock, on this directory — or, when its changes go
    /// elsewhere (a gateway on etcd, whose directory is a mirror), on the redirect's copy
    /// under its lock, so what `f` writes is committed there instead of being lost at the
    /// next revision. For writers that edit files themselves rather than through
    /// [`StateDir::modify`] (tfa.cfg's counters, logout marks, sync jobs, OpenID states).
    pub fn locked<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&StateDir) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some(to) = &self.redirect else {
            let _lock = self.lock()?;
            return f(self);
        };
        // The redirect speaks StateError; `f`'s own error is carried past it unchanged.
        let mut refused = None;
        let out = run(to.as_ref(), |copy| {
            f(copy).map_err(|e| {
                refused = Some(e);
                StateError::Rejected("the change was refused".to_owned())
            })
        });
        match (out, refused) {
            (_, Some(e)) => Err(e),
            (Ok(v), None) => Ok(v),
            (Err(e), None) => Err(e.into()),
        }
    }
}
