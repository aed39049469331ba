//! `PUT /access/password`: set a `pve` realm password (spec §8). Non-root callers confirm with
//! their own current password; only root@pam changes root@pam; a non-root caller may not change
//! another user's `@pam` password. Other realms are refused with a clear message.

use serde_json::Value;

use super::{caller, id, reload, state_error, text};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::auth::realm::{self, LoginOptions, RealmSecrets, crypt};
use crate::identity::{Authid, Userid};
use crate::manage::password::{check_realm_stores_passwords, set_password};

/// `PUT /access/password` (`userid`, `password`, `confirmation-password`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let me = match caller(ctx)? {
        Authid::User(user) => user,
        // The route has allowtoken = 0; refuse here too (fail closed).
        Authid::Token(_) => return Err(denied()),
    };
    let userid: Userid = id(ctx, "userid")?;
    let password = text(ctx, "password")
        .ok_or_else(|| ApiError::param("password", "property is missing and it is not optional"))?;
    crypt::check_new_password(password).map_err(|e| ApiError::param("password", e.to_string()))?;
    if !ctx.snapshot.user_cfg.users.contains_key(&userid) {
        return Err(ApiError::BadRequest(format!("no such user ('{userid}')")));
    }
    if !me.is_root() {
        if userid.is_root() || (*me != userid && userid.realm() == "pam") {
            return Err(denied());
        }
        confirm_own_password(
            ctx,
            me,
            "confirmation-password",
            "password is required to modify user",
        )
        .await?;
    }
    let (domains, _) = ctx.services.state.load_domains().map_err(state_error)?;
    check_realm_stores_passwords(&domains, &userid).map_err(state_error)?;
    let state = ctx.services.state.clone();
    let (target, new) = (userid.clone(), password.to_owned());
    tokio::task::spawn_blocking(move || set_password(&state, &target, &new))
        .await
        .map_err(|e| ApiError::Internal(format!("password task failed: {e}")))?
        .map_err(state_error)?;
    reload(ctx).await?;
    Ok(Value::Null)
}

/// Check the caller's own current password, given as parameter `param` (Proxmox's
/// `reauth_user_for_user_modification`; a wrong one is a 403 here, a plugin error there).
pub(super) async fn confirm_own_password(
    ctx: &ApiContext<'_>,
    me: &Userid,
    param: &str,
    missing: &str,
) -> Result<(), ApiError> {
    let given = text(ctx, param).ok_or_else(|| ApiError::param(param, missing))?;
    let (domains, _) = ctx.services.state.load_domains().map_err(state_error)?;
    let (secrets, _) = RealmSecrets::load(&ctx.services.state, &domains).map_err(state_error)?;
    let opts = LoginOptions {
        client_ip: Some(ctx.peer.ip()),
        ..LoginOptions::default()
    };
    realm::authenticate(&domains, &secrets, me, given, &opts)
        .await
        .map_err(|_| ApiError::Forbidden(format!("{param} is wrong")))
}

fn denied() -> ApiError {
    ApiError::Forbidden("Permission check failed".to_owned())
}
