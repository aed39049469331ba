//! [`StateDir::modify`]: the one way the writers change `user.cfg`, `priv/token.shadow` and
//! `token-options.cfg` — lock, re-read, edit, write back atomically — answering what was
//! written ([`Written`]) so that a running gateway can apply the same edit instead of loading
//! a million lines again (docs/scale.md, "Incremental changes").

use super::stamp::{Stamp, Written};
use super::{LoadedState, StateDir, StateError, epoch_now};
use crate::config::token_options::TokenOptions;
use crate::config::token_shadow::TokenShadow;
use crate::config::user_cfg::{AclEdit, UserConfigEdit};

impl StateDir {
    /// Take the exclusive lock, re-read both files, run `f`, and if it returns `Ok` write back
    /// whatever changed (temp file + fsync + rename; `priv/` files 0600). On `Err` nothing is
    /// written. Options of tokens that no longer exist afterwards are dropped from
    /// token-options.cfg (a damaged token-options.cfg is left alone for the reload to report).
    /// The notifier, if any, is told of the write before the lock is released.
    pub fn modify<T>(
        &self,
        f: impl FnOnce(&mut UserConfigEdit, &mut TokenShadow) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.modify_written(f).map(|(out, _)| out)
    }

    /// [`StateDir::modify`], answering what was written as well.
    pub fn modify_written<T>(
        &self,
        f: impl FnOnce(&mut UserConfigEdit, &mut TokenShadow) -> Result<T, StateError>,
    ) -> Result<(T, Written), StateError> {
        self.modify_tokens(false, |cfg, tokens, _| f(cfg, tokens))
    }

    /// [`StateDir::modify`] with token-options.cfg handed to `f` as well; a damaged
    /// token-options.cfg is an error here ([`StateError::Invalid`]).
    pub fn modify_with_options<T>(
        &self,
        f: impl FnOnce(
            &mut UserConfigEdit,
            &mut TokenShadow,
            &mut TokenOptions,
        ) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.modify_tokens(true, f).map(|(out, _)| out)
    }

    /// [`StateDir::modify_with_options`], answering what was written as well.
    pub fn modify_with_options_written<T>(
        &self,
        f: impl FnOnce(
            &mut UserConfigEdit,
            &mut TokenShadow,
            &mut TokenOptions,
        ) -> Result<T, StateError>,
    ) -> Result<(T, Written), StateError> {
        self.modify_tokens(true, f)
    }

    fn modify_tokens<T>(
        &self,
        need_options: bool,
        f: impl FnOnce(
            &mut UserConfigEdit,
            &mut TokenShadow,
            &mut TokenOptions,
        ) -> Result<T, StateError>,
    ) -> Result<(T, Written), StateError> {
        // An etcd gateway's mirror: the change is made in etcd (src/store/), whose follower
        // reloads this gateway; the copy's stamps match no snapshot, so nothing is applied here.
        if let Some(to) = &self.redirect {
            return super::redirect::run(to.as_ref(), |copy| copy.modify_tokens(need_options, f));
        }
        let lock = self.lock()?;
        let before = Stamp::of(self);
        // The entries stay compact as read: an edit turns only the paths it touches into
        // map nodes, and the comparison and the write below start from the table (no
        // million-entry map; docs/scale.md, "Writes").
        let (
            LoadedState {
                user_cfg: old_cfg,
                mut tokens,
                ..
            },
            table,
        ) = self.load_split()?;
        let mut user_cfg: UserConfigEdit = old_cfg.clone().with_acl(AclEdit::new(table));
        // `stale`: the file holds options of tokens that are gone (left out while reading).
        let (mut options, mut stale) = match self.load_token_options(&user_cfg) {
            Ok((options, warnings)) => (Some(options), !warnings.is_empty()),
            Err(e) if need_options => return Err(e),
            // Options of tokens removed now then stay behind; they are harmless: ignored on
            // load, and replaced when a token of that name is created again.
            Err(_) => (None, false),
        };
        let (old_tokens, old_options) = (tokens.clone(), options.clone());
        let mut unused = TokenOptions::default();
        let out = f(
            &mut user_cfg,
            &mut tokens,
            options.as_mut().unwrap_or(&mut unused),
        )?;
        tokens.drop_expired(epoch_now());
        // The edit as changes; this walk is also the comparison that says whether to write.
        // Every difference is a change or `None`: no change means nothing to write.
        let changes = old_cfg.changes_to_edit(&user_cfg);
        let user_changed = changes.as_ref().is_none_or(|c| !c.is_empty());
        // Order: options, secrets, user.cfg. New options go first so a restriction is in force
        // before the token it restricts exists; a secret without its token, or a token without
        // its secret, authenticates nobody. Options of removed tokens go last (below), so a
        // token is never listed without its restrictions, not even between two writes.
        if let Some(options) = &options
            && Some(options) != old_options.as_ref()
        {
            self.write_plain(&self.token_options_path(), options.write().as_bytes())?;
            stale = false;
        }
        if tokens != old_tokens {
            self.write_secret(&self.token_shadow_path(), tokens.write().as_bytes())?;
        }
        if user_changed {
            self.write_plain(&self.user_cfg_path(), user_cfg.write_edit().as_bytes())?;
        }
        if let Some(options) = &mut options {
            let before = options.len();
            options.retain(|id| user_cfg.token(id).is_some());
            if options.len() != before || stale {
                self.write_plain(&self.token_options_path(), options.write().as_bytes())?;
            }
        }
        let written = Written {
            before,
            after: Stamp::of(self),
            changes,
        };
        self.notify(&written);
        drop(lock);
        // Freeing a million entries takes a while; nobody waits for it.
        // (A CLI process exits before the thread is done, and the system takes it all back.)
        // If no thread can be started, the closure (and so both) is dropped here.
        let _ = std::thread::Builder::new().spawn(move || drop((old_cfg, user_cfg)));
        Ok((out, written))
    }

    /// Whether a writer holds the lock now (a reader about to load can wait for its hand-over
    /// instead of reading a write half done). Not a lock itself: the answer may change at once.
    pub fn writer_busy(&self) -> bool {
        let Ok(file) = std::fs::File::open(self.lock_path()) else {
            return false;
        };
        // Dropping `file` releases the shared lock if it was taken.
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    }
}
