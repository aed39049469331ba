//! `/access/tfa*`, `GET /access/users/{userid}/tfa` and `PUT .../unlock-tfa` (spec §7.9, §8):
//! list, add (TOTP, recovery keys, Yubico, WebAuthn), update, delete and unlock second
//! factors.
//!
//! The route checks run in the proxy; the handlers check again who may see or change whose
//! entries (fail closed), and add §7.9: a non-root caller confirms with their own current
//! `password`, and only root@pam changes root@pam's entries. Every write holds the state lock
//! across tfa.cfg and user.cfg so that `keys` stays `x` exactly while the user has entries.

use serde_json::{Value, json};

use super::password::confirm_own_password;
use super::{caller, flag, has_any, id, privset, reload, state_error, text};
use crate::access::PrivSet;
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::auth::tfa::{RealmTfa, TfaError, TfaStore, TfaUserData, manage, u2f, webauthn};
use crate::auth::ticket::epoch_now;
use crate::config::StateDir;
use crate::config::datacenter_cfg::DatacenterTfa;
use crate::identity::{Authid, Userid};

/// `GET /access/tfa`: every user's entries if the caller has User.Modify or Sys.Audit on
/// `/access/groups`, else the caller's own and those of members of groups where they do.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let store = load(ctx)?;
    let wanted = read_privs();
    let all = has_any(ctx, "/access/groups", wanted)?;
    let mut items = Vec::new();
    for (userid, data) in &store.users {
        if all || is_self(ctx, userid) || via_group(ctx, userid, wanted)? {
            items.push(user_item(userid, data));
        }
    }
    Ok(Value::Array(items))
}

/// `GET /access/tfa/{userid}`: the user's entries.
pub fn user_list(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    require_access(ctx, &userid, read_privs())?;
    Ok(json!(load(ctx)?.list_user(&userid)))
}

/// `GET /access/tfa/{userid}/{id}`: one entry; 404 if absent.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    require_access(ctx, &userid, read_privs())?;
    let entry_id = entry_id(ctx)?;
    load(ctx)?
        .list_user(&userid)
        .into_iter()
        .find(|e| e.id == entry_id)
        .map(|e| json!(e))
        .ok_or_else(|| no_such_entry(&entry_id))
}

/// `POST /access/tfa/{userid}` (`type`, `description`, `totp`, `value`, `challenge`,
/// `password`): `{id}`, `{id: "recovery", recovery: [keys]}` or `{challenge}` (WebAuthn
/// registration, step one).
pub async fn add(ctx: &ApiContext<'_>) -> ApiResult {
    let userid = modifiable_user(ctx).await?;
    let kind = text(ctx, "type").ok_or_else(|| missing("type"))?;
    let description = text(ctx, "description").unwrap_or("").to_owned();
    let value = text(ctx, "value").map(str::to_owned);
    let now = epoch_now();
    match kind {
        "totp" => {
            let uri = text(ctx, "totp").ok_or_else(|| missing("totp"))?.to_owned();
            let code = value.ok_or_else(|| missing("value"))?;
            let id = tfa_write(ctx, &userid, move |store, who| {
                manage::add_totp(store, who, &description, &uri, &code, now)
            })
            .await?;
            Ok(json!({ "id": id }))
        }
        "recovery" => {
            let keys = tfa_write(ctx, &userid, move |store, who| {
                manage::add_recovery(store, who, now)
            })
            .await?;
            Ok(json!({ "id": "recovery", "recovery": keys }))
        }
        "yubico" => {
            let otp = value.ok_or_else(|| missing("value"))?;
            let server = match realm_tfa(ctx, &userid)? {
                Some(RealmTfa::Yubico(server)) => Some(server),
                _ => None,
            };
            let id = tfa_write(ctx, &userid, move |store, who| {
                manage::add_yubico(store, who, &description, &otp, server.as_ref(), now)
            })
            .await?;
            Ok(json!({ "id": id }))
        }
        "webauthn" => add_webauthn(ctx, &userid, description, value, now).await,
        "u2f" => add_u2f(ctx, &userid, description, value, now).await,
        other => Err(ApiError::param(
            "type",
            format!(
                "value '{other}' does not have a value in the enumeration 'totp, u2f, webauthn, recovery, yubico'"
            ),
        )),
    }
}

/// `PUT /access/tfa/{userid}/{id}` (`description`, `enable`, `password`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let userid = modifiable_user(ctx).await?;
    let entry_id = entry_id(ctx)?;
    let description = text(ctx, "description").map(str::to_owned);
    if let Some(d) = &description
        && d.len() > 255
    {
        return Err(ApiError::param(
            "description",
            "value may only be 255 characters long",
        ));
    }
    let enable = flag(ctx, "enable")?;
    if entry_id == "recovery" {
        return Err(ApiError::BadRequest(
            "recovery keys cannot be updated, only deleted".to_owned(),
        ));
    }
    tfa_write(ctx, &userid, move |store, who| {
        let found = store
            .users
            .get_mut(who)
            .is_some_and(|u| u.update_entry(&entry_id, description.as_deref(), enable));
        if found {
            Ok(())
        } else {
            Err(TfaError::NoSuchEntry(entry_id))
        }
    })
    .await?;
    Ok(Value::Null)
}

/// `DELETE /access/tfa/{userid}/{id}` (`password`); the last entry clears user.cfg `keys`.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let userid = modifiable_user(ctx).await?;
    let entry_id = entry_id(ctx)?;
    tfa_write(ctx, &userid, move |store, who| {
        store.delete_entry(who, &entry_id).map(|_| ())
    })
    .await?;
    Ok(Value::Null)
}

/// `GET /access/users/{userid}/tfa` (`multiple`): `{realm?, user?}`, the realm's enforced
/// type and the user's entries as Proxmox answers them (pve-rs `generate_legacy_config`):
/// the legacy type of the first kind found in the order u2f, totp (`oath`), yubico, or
/// `incompatible` for webauthn/recovery only; with `multiple=1` the list of every kind the
/// user has entries of, enabled or not (Proxmox's own schema says a string: its code differs).
pub fn user_types(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    require_access(ctx, &userid, read_privs())?;
    let mut out = json!({});
    match realm_tfa(ctx, &userid)? {
        Some(RealmTfa::Oath { .. }) => out["realm"] = json!("oath"),
        Some(RealmTfa::Yubico(_)) => out["realm"] = json!("yubico"),
        None => {}
    }
    let mut types: Vec<&str> = Vec::new();
    for entry in load(ctx)?.list_user(&userid) {
        if !types.contains(&entry.kind) {
            types.push(entry.kind);
        }
    }
    if flag(ctx, "multiple")?.unwrap_or(false) {
        out["user"] = json!(types);
    } else if !types.is_empty() {
        let legacy = [("u2f", "u2f"), ("totp", "oath"), ("yubico", "yubico")]
            .into_iter()
            .find(|(kind, _)| types.contains(kind))
            .map_or("incompatible", |(_, legacy)| legacy);
        out["user"] = json!(legacy);
    }
    Ok(out)
}

/// `PUT /access/users/{userid}/unlock-tfa`: whether the user was locked.
pub async fn unlock(ctx: &ApiContext<'_>) -> ApiResult {
    let userid: Userid = id(ctx, "userid")?;
    require_access(ctx, &userid, privset(&["User.Modify"]))?;
    if !ctx.snapshot.user_cfg.users.contains_key(&userid) {
        return Err(ApiError::BadRequest(format!("no such user ('{userid}')")));
    }
    let now = epoch_now();
    let was_locked = tfa_write(ctx, &userid, move |store, who| Ok(store.unlock(who, now))).await?;
    Ok(json!(was_locked))
}

/// WebAuthn registration: without `challenge` + `value` step one (the creation challenge as
/// a JSON string), with them step two (the new entry's id).
async fn add_webauthn(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    description: String,
    value: Option<String>,
    now: i64,
) -> ApiResult {
    let dc = DatacenterTfa::load(&ctx.services.state).map_err(state_error)?;
    let config = dc
        .webauthn
        .ok_or(TfaError::NotConfigured("webauthn"))
        .map_err(tfa_error)?
        .for_host(ctx.host.unwrap_or("localhost"));
    match (text(ctx, "challenge").map(str::to_owned), value) {
        (Some(challenge), Some(response)) => {
            let id = tfa_write(ctx, userid, move |store, who| {
                webauthn::registration_finish(store, who, &challenge, &response, &config, now)
            })
            .await?;
            Ok(json!({ "id": id }))
        }
        (None, None) => {
            if description.trim().is_empty() || description.len() > 255 {
                return Err(tfa_error(TfaError::BadDescription));
            }
            let ccr = tfa_write(ctx, userid, move |store, who| {
                webauthn::registration_challenge(store, who, &description, &config, now)
            })
            .await?;
            Ok(json!({ "challenge": ccr.to_string() }))
        }
        (Some(_), None) => Err(missing("value")),
        (None, Some(_)) => Err(missing("challenge")),
    }
}

/// U2F registration, like WebAuthn's: step one returns `{challenge}` (the JSON text for
/// `u2f.register`), step two takes it back as `challenge` with the device's response as
/// `value`.
async fn add_u2f(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    description: String,
    value: Option<String>,
    now: i64,
) -> ApiResult {
    let dc = DatacenterTfa::load(&ctx.services.state).map_err(state_error)?;
    let config = dc
        .u2f
        .ok_or(TfaError::NotConfigured("u2f"))
        .map_err(tfa_error)?;
    match (text(ctx, "challenge").map(str::to_owned), value) {
        (Some(challenge), Some(response)) => {
            let id = tfa_write(ctx, userid, move |store, who| {
                u2f::registration_finish(store, who, &challenge, &response, &config, now)
            })
            .await?;
            Ok(json!({ "id": id }))
        }
        (None, None) => {
            if description.trim().is_empty() || description.len() > 255 {
                return Err(tfa_error(TfaError::BadDescription));
            }
            let challenge = tfa_write(ctx, userid, move |store, who| {
                Ok(u2f::registration_challenge(
                    store,
                    who,
                    &description,
                    &config,
                    now,
                ))
            })
            .await?;
            Ok(json!({ "challenge": challenge }))
        }
        (Some(_), None) => Err(missing("value")),
        (None, Some(_)) => Err(missing("challenge")),
    }
}

/// The target of a change, after §7.9: users only (no tokens), only root changes root, and a
/// non-root caller confirms with their own current `password`.
async fn modifiable_user(ctx: &ApiContext<'_>) -> Result<Userid, ApiError> {
    let me = match caller(ctx)? {
        Authid::User(user) => user,
        // The routes have allowtoken = 0; refuse here too (fail closed).
        Authid::Token(_) => return Err(denied()),
    };
    let userid: Userid = id(ctx, "userid")?;
    require_access(ctx, &userid, privset(&["User.Modify"]))?;
    if !me.is_root() {
        if userid.is_root() {
            return Err(denied());
        }
        confirm_own_password(
            ctx,
            me,
            "password",
            "password is required to modify tfa entries",
        )
        .await?;
    }
    if !ctx.snapshot.user_cfg.users.contains_key(&userid) {
        return Err(ApiError::BadRequest(format!("no such user ('{userid}')")));
    }
    Ok(userid)
}

/// The route check again: the caller themselves, or `wanted` on `/access/groups` or on a
/// group the user is in.
fn require_access(ctx: &ApiContext<'_>, userid: &Userid, wanted: PrivSet) -> Result<(), ApiError> {
    if is_self(ctx, userid)
        || has_any(ctx, "/access/groups", wanted)?
        || via_group(ctx, userid, wanted)?
    {
        Ok(())
    } else {
        Err(denied())
    }
}

fn is_self(ctx: &ApiContext<'_>, userid: &Userid) -> bool {
    matches!(ctx.caller, Some(Authid::User(me)) if me == userid)
}

/// Whether the caller holds any of `wanted` on a group `userid` is a member of.
fn via_group(ctx: &ApiContext<'_>, userid: &Userid, wanted: PrivSet) -> Result<bool, ApiError> {
    for (gid, group) in &ctx.snapshot.user_cfg.groups {
        if group.members.contains(userid) && has_any(ctx, &format!("/access/groups/{gid}"), wanted)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Lock the state, apply `f` to tfa.cfg, write it, bring user.cfg `keys` in line, then
/// reload. The closure runs on a blocking thread (Yubico validation is blocking HTTP).
async fn tfa_write<T: Send + 'static>(
    ctx: &ApiContext<'_>,
    userid: &Userid,
    f: impl FnOnce(&mut TfaStore, &Userid) -> Result<T, TfaError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = ctx.services.state.clone();
    let userid = userid.clone();
    let out = tokio::task::spawn_blocking(move || locked_write(&state, &userid, f))
        .await
        .map_err(|e| ApiError::Internal(format!("tfa task failed: {e}")))?
        .map_err(tfa_error)?;
    reload(ctx).await?;
    Ok(out)
}

fn locked_write<T>(
    state: &StateDir,
    userid: &Userid,
    f: impl FnOnce(&mut TfaStore, &Userid) -> Result<T, TfaError>,
) -> Result<T, TfaError> {
    let _lock = state.lock()?;
    let mut store = TfaStore::load(state)?;
    let before = store.clone();
    let out = f(&mut store, userid)?;
    store.tidy(userid);
    // tfa.cfg first: a `keys` marker without entries is harmless, entries without it are not.
    if store != before {
        store.save(state)?;
    }
    let mut users = state.load()?.user_cfg;
    if let Some(user) = users.users.get_mut(userid)
        && manage::sync_keys(&store, userid, user)
    {
        state.write_plain(&state.user_cfg_path(), users.write().as_bytes())?;
    }
    Ok(out)
}

pub(super) fn load(ctx: &ApiContext<'_>) -> Result<TfaStore, ApiError> {
    TfaStore::load(&ctx.services.state).map_err(tfa_error)
}

fn realm_tfa(ctx: &ApiContext<'_>, userid: &Userid) -> Result<Option<RealmTfa>, ApiError> {
    let (domains, _) = ctx.services.state.load_domains().map_err(state_error)?;
    match domains.realm(userid.realm()) {
        Some(realm) => RealmTfa::of_realm(realm).map_err(tfa_error),
        None => Ok(None),
    }
}

fn user_item(userid: &Userid, data: &TfaUserData) -> Value {
    let mut item = json!({ "userid": userid.as_str(), "entries": data.list() });
    add_lock_status(&mut item, data);
    item
}

/// `totp-locked` and `tfa-locked-until`, when set (also shown by `GET /access/users`).
pub(super) fn add_lock_status(item: &mut Value, data: &TfaUserData) {
    if data.totp_locked {
        item["totp-locked"] = json!(true);
    }
    if let Some(until) = data.tfa_locked_until {
        item["tfa-locked-until"] = json!(until);
    }
}

fn entry_id(ctx: &ApiContext<'_>) -> Result<String, ApiError> {
    let raw = text(ctx, "id").ok_or_else(|| missing("id"))?;
    if raw.is_empty() || raw.len() > 128 {
        return Err(ApiError::param("id", "value must be 1..128 characters"));
    }
    Ok(raw.to_owned())
}

fn read_privs() -> PrivSet {
    privset(&["User.Modify", "Sys.Audit"])
}

/// Unknown entries are 404; broken files and state errors are ours (500), as is a factor
/// without its datacenter.cfg settings (Proxmox's die); the rest is a refused request (400).
fn tfa_error(e: TfaError) -> ApiError {
    match e {
        TfaError::NoSuchEntry(id) => no_such_entry(&id),
        TfaError::State(e) => state_error(e),
        e @ TfaError::Config(_) => ApiError::Internal(e.to_string()),
        // proxmox-tfa dies here: a 500 with the message.
        e @ TfaError::NotConfigured(_) => ApiError::Rejected(e.to_string()),
        e => ApiError::BadRequest(e.to_string()),
    }
}

fn no_such_entry(id: &str) -> ApiError {
    ApiError::NotFound(format!("no such tfa entry '{id}'"))
}

fn missing(name: &str) -> ApiError {
    ApiError::param(name, "property is missing and it is not optional")
}

fn denied() -> ApiError {
    ApiError::Forbidden("Permission check failed".to_owned())
}
