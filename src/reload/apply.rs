//! The next snapshot from the current one and a writer's [`Change`]s, without reading
//! `user.cfg` again: the small parts (accounts, the auth index) and the engine are cloned and
//! edited where the changes say; the small token files are read again (a new token's secret
//! and options are in them) — from the state directory after a local write, or as the etcd
//! follower hands them over ([`StoreEdit`]); everything else is shared.
//!
//! Anything that would make the result differ from a full load of the same files answers an
//! error, and the caller loads in full instead: a change that does not apply, a warning the
//! reader would have to report.

use std::sync::Arc;

use crate::config::logout_cfg::LogoutList;
use crate::config::state_dir::read_lines;
use crate::config::user_cfg::Change;
use crate::config::{StateDir, TokenOptions, TokenShadow};
use crate::snapshot::Snapshot;

/// One etcd watch response that [`Change`]s can say (src/store/follow.rs), with the token and
/// logout files as they are after it.
#[derive(Debug, Clone)]
pub struct StoreEdit {
    /// `user.cfg`'s edit, in an order that applies (as [`crate::config::UserConfig::changes_to`]).
    pub changes: Vec<Change>,
    /// `priv/token.shadow` now, if it changed (else the running snapshot's is kept).
    pub token_shadow: Option<String>,
    /// `token-options.cfg` now (read again every time: it holds the options of existing tokens
    /// only, so a token change changes it too).
    pub token_options: String,
    /// `logout.cfg` now, if it changed.
    pub logout: Option<String>,
}

/// `previous` with a local writer's `changes` applied (the token files read from the state
/// directory), as generation `generation`.
pub(super) fn apply(
    previous: &Snapshot,
    changes: &[Change],
    generation: u64,
) -> Result<Snapshot, String> {
    let state = StateDir::new(&previous.config.state.dir);
    let shadow = read_lines(&state.token_shadow_path())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let options = read_lines(&state.token_options_path())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    apply_with(previous, changes, Some(&shadow), &options, None, generation)
}

/// `previous` with an etcd follower's edit applied, as generation `generation`.
pub(super) fn apply_store(
    previous: &Snapshot,
    edit: &StoreEdit,
    generation: u64,
) -> Result<Snapshot, String> {
    let texts = [
        edit.token_shadow.as_deref(),
        Some(edit.token_options.as_str()),
        edit.logout.as_deref(),
    ];
    if texts
        .into_iter()
        .flatten()
        .any(|t| !t.is_empty() && !t.ends_with('\n'))
    {
        return Err("a torn token or logout file".to_owned());
    }
    apply_with(
        previous,
        &edit.changes,
        edit.token_shadow.as_deref(),
        &edit.token_options,
        edit.logout.as_deref(),
        generation,
    )
}

/// The common part: `shadow` and `logout` are `None` when unchanged.
fn apply_with(
    previous: &Snapshot,
    changes: &[Change],
    shadow: Option<&str>,
    options: &str,
    logout: Option<&str>,
    generation: u64,
) -> Result<Snapshot, String> {
    if !previous.warnings.is_empty() {
        // A full load reports them again, or finds them gone.
        return Err("the current snapshot has warnings".to_owned());
    }
    let mut user_cfg = previous.user_cfg.clone();
    let mut engine = previous.engine.clone();
    let mut auth_index = previous.auth_index.clone();
    for change in changes {
        user_cfg
            .apply_without_acl(change)
            .map_err(|e| e.to_string())?;
        engine.apply(change);
        auth_index.apply(change);
    }
    let tokens = match shadow {
        Some(text) => {
            let (tokens, warnings) = TokenShadow::parse(text);
            if !warnings.is_empty() {
                return Err("the token files have warnings".to_owned());
            }
            tokens
        }
        None => previous.tokens.clone(),
    };
    let (token_options, option_warnings) =
        TokenOptions::parse(options, |id| user_cfg.token(id).is_some())
            .map_err(|e| format!("token-options.cfg:{}: {}", e.line, e.message))?;
    if !option_warnings.is_empty() {
        return Err("the token files have warnings".to_owned());
    }
    let logout = match logout {
        Some(text) => LogoutList::parse(text).map_err(|e| e.to_string())?,
        None => previous.logout.clone(),
    };
    Ok(Snapshot {
        generation,
        config: Arc::clone(&previous.config),
        user_cfg,
        auth_index,
        engine,
        tokens,
        token_options,
        domains: previous.domains.clone(),
        logout,
        routes: previous.routes.clone(),
        tls: Arc::clone(&previous.tls),
        warnings: Vec::new(),
        identity_header: previous.identity_header.clone(),
        service_credentials: previous.service_credentials.clone(),
        verified_tokens: Default::default(),
        upstreams: previous.upstreams.clone(),
    })
}
