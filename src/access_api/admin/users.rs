//! `/access/users`: list (filtered as Proxmox does), get, create, update, delete.

use serde_json::{Value, json};

use super::tfa::add_lock_status;
use super::{caller, flag, has_any, id, integer, reload, state_error, text, write};
use crate::access::PrivSet;
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::auth::realm::crypt;
use crate::identity::Userid;
use crate::manage::password::add_user_with_password;
use crate::manage::token::token_info;
use crate::manage::user::{
    UserFields, check_fields, check_new_userid, delete_user, insert_user, realm_types,
    remove_user_secrets, update_user, user_item,
};

/// `GET /access/users`: users where the caller has User.Modify or Sys.Audit on
/// `/access/groups` (all) or on a group the user is in; always the caller's own user. A token
/// is not its owner here (Proxmox compares the user with the authid, `user@realm!token`).
/// Items carry the TFA lock state (`totp-locked`, `tfa-locked-until`) when set.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let me = caller(ctx)?.as_str();
    let cfg = &ctx.snapshot.user_cfg;
    let wanted = audit_or_modify();
    let all = has_any(ctx, "/access/groups", wanted)?;
    let enabled = flag(ctx, "enabled")?;
    let full = flag(ctx, "full")?.unwrap_or(false);
    let realms = realm_types(&ctx.services.state).map_err(state_error)?;
    let tfa = super::tfa::load(ctx)?;
    let mut visible_groups = Vec::new();
    if !all {
        for gid in cfg.groups.keys() {
            if has_any(ctx, &format!("/access/groups/{gid}"), wanted)? {
                visible_groups.push(gid);
            }
        }
    }
    let items: Vec<Value> = cfg
        .users
        .iter()
        .filter(|(uid, _)| {
            all || uid.as_str() == me
                || visible_groups
                    .iter()
                    .any(|g| cfg.groups.get(*g).is_some_and(|g| g.members.contains(*uid)))
        })
        .filter(|(_, u)| enabled.is_none_or(|want| u.enable == want))
        .map(|(uid, u)| {
            let mut item = user_item(cfg, uid, u, &realms, full);
            if let Some(data) = tfa.users.get(uid) {
                add_lock_status(&mut item, data);
            }
            item
        })
        .collect();
    Ok(Value::Array(items))
}

/// `GET /access/users/{userid}`: fields, `groups` array and `tokens` map.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    let cfg = &ctx.snapshot.user_cfg;
    let user = cfg
        .users
        .get(&userid)
        .ok_or_else(|| ApiError::Internal(format!("user '{userid}' does not exist")))?;
    let realms = realm_types(&ctx.services.state).map_err(state_error)?;
    let mut out = user_item(cfg, &userid, user, &realms, false);
    if let Some(map) = out.as_object_mut() {
        map.remove("userid");
        map.remove("realm-type");
    }
    let groups: Vec<&str> = cfg
        .groups
        .iter()
        .filter(|(_, g)| g.members.contains(&userid))
        .map(|(gid, _)| gid.as_str())
        .collect();
    out["groups"] = json!(groups);
    let tokens: serde_json::Map<String, Value> = user
        .tokens
        .iter()
        .map(|(name, t)| (name.as_str().to_owned(), token_info(t)))
        .collect();
    out["tokens"] = Value::Object(tokens);
    Ok(out)
}

/// `POST /access/users`; an initial `password` is stored for `pve`-type realms only (other
/// realms keep their passwords elsewhere: 400), with the user, under one lock.
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    check_new_userid(&userid).map_err(|e| ApiError::param("userid", e.to_string()))?;
    let fields = fields(ctx)?;
    let Some(password) = text(ctx, "password") else {
        write(ctx, move |cfg, _| insert_user(cfg, &userid, &fields)).await?;
        return Ok(Value::Null);
    };
    crypt::check_new_password(password).map_err(|e| ApiError::param("password", e.to_string()))?;
    let state = ctx.services.state.clone();
    let password = password.to_owned();
    // Hashing is CPU-bound: off the async workers, like the write itself.
    tokio::task::spawn_blocking(move || {
        add_user_with_password(&state, &userid, &fields, &password).map_err(state_error)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("user task failed: {e}")))??;
    reload(ctx).await?;
    Ok(Value::Null)
}

/// `PUT /access/users/{userid}`: `groups` replaces the memberships unless `append=1`.
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    let fields = fields(ctx)?;
    let append = flag(ctx, "append")?.unwrap_or(false);
    if append && fields.groups.is_none() {
        return Err(ApiError::param("append", "missing groups"));
    }
    write(ctx, move |cfg, _| {
        update_user(cfg, &userid, &fields, append)
    })
    .await?;
    Ok(Value::Null)
}

/// `DELETE /access/users/{userid}`: with tokens, memberships, ACL entries and `pve` password.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    let state = ctx.services.state.clone();
    write(ctx, move |cfg, tokens| {
        delete_user(cfg, tokens, &userid)?;
        remove_user_secrets(&state, &userid)
    })
    .await?;
    Ok(Value::Null)
}

fn fields(ctx: &ApiContext<'_>) -> Result<UserFields, ApiError> {
    let owned = |name: &str| text(ctx, name).map(str::to_owned);
    let fields = UserFields {
        enable: flag(ctx, "enable")?,
        expire: integer(ctx, "expire")?,
        firstname: owned("firstname"),
        lastname: owned("lastname"),
        email: owned("email"),
        comment: owned("comment"),
        keys: owned("keys"),
        groups: owned("groups"),
    };
    if let Err(e) = check_fields(&fields) {
        let name = if e.to_string().contains("email") {
            "email"
        } else if e.to_string().contains("keys") {
            "keys"
        } else {
            "comment"
        };
        return Err(ApiError::param(name, e.to_string()));
    }
    Ok(fields)
}

fn audit_or_modify() -> PrivSet {
    super::privset(&["User.Modify", "Sys.Audit"])
}
