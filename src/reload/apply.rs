//! The next snapshot from the current one and a writer's [`Change`]s, without reading
//! `user.cfg` again: the small parts (accounts, the auth index) and the engine are cloned and
//! edited where the changes say; the small secret and option files are read again (a new
//! token's secret and options are in them); everything else is shared.
//!
//! Anything that would make the result differ from a full load of the same files answers an
//! error, and the caller loads in full instead: a change that does not apply, a warning the
//! reader would have to report.

use std::sync::Arc;

use crate::config::state_dir::read_lines;
use crate::config::user_cfg::Change;
use crate::config::{StateDir, TokenShadow};
use crate::snapshot::Snapshot;

/// `previous` with `changes` applied, as generation `generation`.
pub(super) fn apply(
    previous: &Snapshot,
    changes: &[Change],
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
    let state = StateDir::new(&previous.config.state.dir);
    let shadow = read_lines(&state.token_shadow_path())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let (tokens, token_warnings) = TokenShadow::parse(&shadow);
    let (token_options, option_warnings) = state
        .load_token_options(&user_cfg)
        .map_err(|e| e.to_string())?;
    if !token_warnings.is_empty() || !option_warnings.is_empty() {
        return Err("the token files have warnings".to_owned());
    }
    Ok(Snapshot {
        generation,
        config: Arc::clone(&previous.config),
        user_cfg,
        auth_index,
        engine,
        tokens,
        token_options,
        domains: previous.domains.clone(),
        logout: previous.logout.clone(),
        routes: previous.routes.clone(),
        tls: Arc::clone(&previous.tls),
        warnings: Vec::new(),
        identity_header: previous.identity_header.clone(),
        service_credentials: previous.service_credentials.clone(),
        verified_tokens: Default::default(),
    })
}
