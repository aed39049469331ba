//! `/access/domains/{realm}` administration: get, create, update, delete, sync (the world
//! list `GET /access/domains` belongs to the login handlers). `pam` and `pve` can be neither
//! created nor deleted; bind passwords are stored apart and never returned.

use serde_json::{Map, Value};

use super::sync_task::SyncRunner;
use super::{flag, id, state_error, text};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::config::RealmType;
use crate::identity::Realm;
use crate::manage::realm::{
    REALM_OPTION_KEYS, add_realm, delete_realm, modify_realm, no_such_realm,
};
use crate::manage::realm_sync::{SyncError, SyncParams, map_sync_defaults};
use crate::manage::value::split_list;

/// `GET /access/domains/{realm}`: `type` and every option (never the bind password).
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let realm: Realm = id(ctx, "realm")?;
    let (domains, _) = ctx.services.state.load_domains().map_err(state_error)?;
    let config = domains
        .realm(realm.as_str())
        .ok_or_else(|| state_error(no_such_realm(&realm)))?;
    let mut out: Map<String, Value> = config
        .options()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    // Reading shows the deprecated `full`/`purge` mapped, but keeps them (as Proxmox does).
    if config.kind.is_directory()
        && let Some(Value::String(text)) = out.get("sync-defaults-options")
        && let Ok(mapped) = map_sync_defaults(text, false)
    {
        out.insert("sync-defaults-options".to_owned(), Value::from(mapped));
    }
    out.insert("type".to_owned(), Value::from(config.kind.as_str()));
    Ok(Value::Object(out))
}

/// `POST /access/domains` (`realm`, `type`, type options).
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let realm: Realm = id(ctx, "realm")?;
    let raw = text(ctx, "type")
        .ok_or_else(|| ApiError::param("type", "property is missing and it is not optional"))?;
    let kind: RealmType = raw
        .parse()
        .map_err(|e| ApiError::param("type", format!("{e}")))?;
    let options = options(ctx);
    super::write_realms(ctx, move |edit| {
        add_realm(edit, &realm, kind, &view(&options))
    })
    .await?;
    Ok(Value::Null)
}

/// `PUT /access/domains/{realm}` (options, `delete`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let realm: Realm = id(ctx, "realm")?;
    let options = options(ctx);
    let deletes: Vec<String> = text(ctx, "delete")
        .map(|d| split_list(d).map(str::to_owned).collect())
        .unwrap_or_default();
    super::write_realms(ctx, move |edit| {
        let deletes: Vec<&str> = deletes.iter().map(String::as_str).collect();
        modify_realm(edit, &realm, &view(&options), &deletes)
    })
    .await?;
    Ok(Value::Null)
}

/// `DELETE /access/domains/{realm}`.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let realm: Realm = id(ctx, "realm")?;
    super::write_realms(ctx, move |edit| delete_realm(edit, &realm)).await?;
    Ok(Value::Null)
}

/// `POST /access/domains/{realm}/sync` (`scope`, `remove-vanished`, `enable-new`, `dry-run`,
/// deprecated `full`/`purge`, aclgate's `force`): checks, then answers the UPID of the worker
/// task that syncs (as Proxmox); status and log at `/nodes/{node}/tasks/{upid}/...`.
pub async fn sync(ctx: &ApiContext<'_>) -> ApiResult {
    let realm: Realm = id(ctx, "realm")?;
    let params = SyncParams {
        scope: text(ctx, "scope").map(str::to_owned),
        remove_vanished: text(ctx, "remove-vanished").map(str::to_owned),
        enable_new: flag(ctx, "enable-new")?,
        full: flag(ctx, "full")?,
        purge: flag(ctx, "purge")?,
        dry_run: flag(ctx, "dry-run")?.unwrap_or(false),
        force: flag(ctx, "force")?.unwrap_or(false),
    };
    let user = super::caller(ctx)?.as_str().to_owned();
    let upid = SyncRunner::new(ctx.services)
        .start(realm, params, &user)
        .map_err(|e| match e {
            SyncError::Param { param, message } => ApiError::param(param, message),
            SyncError::State(e) => state_error(e),
            other => ApiError::BadRequest(other.to_string()),
        })?;
    Ok(Value::from(upid.to_string()))
}

/// The realm options present in the request, as (key, value).
fn options(ctx: &ApiContext<'_>) -> Vec<(&'static str, String)> {
    REALM_OPTION_KEYS
        .iter()
        .filter_map(|key: &&'static str| text(ctx, key).map(|v| (*key, v.to_owned())))
        .collect()
}

/// `options` as the realm rules take them (owned above: the edit runs on the writer thread).
fn view<'a>(options: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    options.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
