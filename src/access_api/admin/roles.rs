//! `/access/roles`: list, get, create, update, delete (built-in roles are read-only).

use serde_json::{Map, Value};

use super::{flag, id, state_error, text, write};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::identity::RoleId;
use crate::manage::role::{
    check_new_roleid, delete_role, insert_role, no_such_role, parse_privs, role_items, role_privs,
    update_role,
};

/// `GET /access/roles`: `[{roleid, privs, special}]` (Proxmox sends `special: 0` for custom
/// roles too).
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let mut items = role_items(&ctx.snapshot.user_cfg);
    for item in &mut items {
        if item.get("special").is_none() {
            item["special"] = Value::from(0);
        }
    }
    Ok(Value::Array(items))
}

/// `GET /access/roles/{roleid}`: `{<priv>: 1, ...}`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let rid: RoleId = id(ctx, "roleid")?;
    let privs =
        role_privs(&ctx.snapshot.user_cfg, &rid).ok_or_else(|| state_error(no_such_role(&rid)))?;
    let map: Map<String, Value> = privs
        .iter()
        .map(|p| (p.name().to_owned(), Value::from(1)))
        .collect();
    Ok(Value::Object(map))
}

/// `POST /access/roles` (`roleid`, `privs`); ids starting with `PVE` (any case) are refused.
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let rid: RoleId = id(ctx, "roleid")?;
    check_new_roleid(&rid).map_err(|e| ApiError::param("roleid", e.to_string()))?;
    let privs = privs(ctx)?;
    write(ctx, move |cfg, _| insert_role(cfg, &rid, privs)).await?;
    Ok(Value::Null)
}

/// `PUT /access/roles/{roleid}` (`privs`, `append`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let rid: RoleId = id(ctx, "roleid")?;
    let privs = privs(ctx)?;
    let append = flag(ctx, "append")?.unwrap_or(false);
    if append && text(ctx, "privs").is_none() {
        return Err(ApiError::param("append", "missing privs"));
    }
    write(ctx, move |cfg, _| update_role(cfg, &rid, privs, append)).await?;
    Ok(Value::Null)
}

/// `DELETE /access/roles/{roleid}`.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let rid: RoleId = id(ctx, "roleid")?;
    write(ctx, move |cfg, _| delete_role(cfg, &rid)).await?;
    Ok(Value::Null)
}

fn privs(ctx: &ApiContext<'_>) -> Result<crate::access::PrivSet, ApiError> {
    parse_privs(text(ctx, "privs")).map_err(|e| ApiError::param("privs", e.to_string()))
}
