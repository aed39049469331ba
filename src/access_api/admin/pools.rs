//! `/pools` (pve-manager): list (filtered by Pool.Audit), get, create, update members, delete.
//! `PUT`/`DELETE /pools/{poolid}` are Proxmox's deprecated aliases of `PUT`/`DELETE /pools`.
//! Members are listed in Proxmox's shape from the upstream's `/cluster/resources`
//! ([`crate::access_api::cluster_resources`]).

use serde_json::{Value, json};

use super::acl::may_modify;
use super::{flag, has_any, id, privset, state_error, text, write};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::config::user_cfg::Pool;
use crate::identity::PoolId;
use crate::manage::pool::{
    PoolChange, delete_pool, insert_pool, no_such_pool, parse_storage, parse_vms, pool_item,
    pool_members, pool_members_in, update_pool,
};

/// `GET /pools` (`poolid`, `type`): pools where the caller has Pool.Audit on `/pool/<id>`;
/// with `poolid`, only that pool, with its `members`.
pub async fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let only: Option<PoolId> = match text(ctx, "poolid") {
        Some(_) => Some(id(ctx, "poolid")?),
        None => None,
    };
    let kind = member_type(ctx)?;
    let audit = privset(&["Pool.Audit"]);
    let mut items = Vec::new();
    for (pid, pool) in &ctx.snapshot.user_cfg.pools {
        if only.as_ref().is_some_and(|o| o != pid) || !has_any(ctx, &format!("/pool/{pid}"), audit)?
        {
            continue;
        }
        let mut item = pool_item(pid, pool);
        if only.is_some() {
            item["members"] = json!(members(ctx, pool, kind).await);
        }
        items.push(item);
    }
    Ok(Value::Array(items))
}

/// `GET /pools/{poolid}` (`type`): `{comment?, members: [...]}`.
pub async fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let pid: PoolId = id(ctx, "poolid")?;
    let kind = member_type(ctx)?;
    let pool = ctx
        .snapshot
        .user_cfg
        .pools
        .get(&pid)
        .ok_or_else(|| state_error(no_such_pool(&pid)))?;
    let mut out = json!({ "members": members(ctx, pool, kind).await });
    if !pool.comment.is_empty() {
        out["comment"] = json!(pool.comment);
    }
    Ok(out)
}

/// `POST /pools` (`poolid`, `comment`).
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let pid: PoolId = id(ctx, "poolid")?;
    let comment = text(ctx, "comment").map(str::to_owned);
    write(ctx, move |cfg, _| {
        insert_pool(cfg, &pid, comment.as_deref())
    })
    .await?;
    Ok(Value::Null)
}

/// `PUT /pools` (`poolid`, `comment`, `vms`, `storage`, `delete`, `allow-move`): every listed
/// member also needs perm-modify on `/vms/<id>` or `/storage/<id>`, and moving a VM out of
/// another pool needs Pool.Allocate on that pool.
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let pid: PoolId = id(ctx, "poolid")?;
    let vms = parse_vms(text(ctx, "vms")).map_err(|e| ApiError::param("vms", e.to_string()))?;
    let storage = parse_storage(text(ctx, "storage"))
        .map_err(|e| ApiError::param("storage", e.to_string()))?;
    let change = PoolChange {
        comment: text(ctx, "comment").map(str::to_owned),
        vms,
        storage,
        delete: flag(ctx, "delete")?.unwrap_or(false),
        allow_move: flag(ctx, "allow-move")?.unwrap_or(false),
    };
    for vm in &change.vms {
        require_modify(ctx, &format!("/vms/{vm}"), "VM.Allocate")?;
        let owner = ctx.snapshot.user_cfg.pool_of_vm(vm);
        if let Some(other) = owner.filter(|o| **o != pid && !change.delete)
            && change.allow_move
            && !has_any(ctx, &format!("/pool/{other}"), privset(&["Pool.Allocate"]))?
        {
            return Err(ApiError::Forbidden(format!(
                "Permission check failed (/pool/{other}, Pool.Allocate)"
            )));
        }
    }
    for s in &change.storage {
        require_modify(ctx, &format!("/storage/{s}"), "Datastore.Allocate")?;
    }
    write(ctx, move |cfg, _| update_pool(cfg, &pid, &change)).await?;
    Ok(Value::Null)
}

/// `DELETE /pools` (`poolid`): only an empty pool (no VMs, storage or sub-pools).
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let pid: PoolId = id(ctx, "poolid")?;
    write(ctx, move |cfg, _| delete_pool(cfg, &pid)).await?;
    Ok(Value::Null)
}

/// The `type` filter: `qemu`, `lxc` or `storage`.
fn member_type(ctx: &ApiContext<'_>) -> Result<Option<&'static str>, ApiError> {
    match text(ctx, "type") {
        None => Ok(None),
        Some("qemu") => Ok(Some("qemu")),
        Some("lxc") => Ok(Some("lxc")),
        Some("storage") => Ok(Some("storage")),
        Some(other) => Err(ApiError::param(
            "type",
            format!(
                "value '{other}' does not have a value in the enumeration 'qemu, lxc, storage'"
            ),
        )),
    }
}

/// Proxmox's member shape from the upstream's `/cluster/resources` (asked as the caller);
/// aclgate's own shape when the upstream cannot be asked (where `qemu` and `lxc` both select
/// the VMs, which aclgate cannot tell apart).
async fn members(ctx: &ApiContext<'_>, pool: &Pool, kind: Option<&str>) -> Vec<Value> {
    let resources = match ctx.caller {
        Some(caller) => {
            ctx.services
                .cluster
                .fetch(ctx.snapshot, caller, ctx.peer)
                .await
        }
        None => None,
    };
    let (all, kind) = match &resources {
        Some(resources) => (pool_members_in(pool, resources), kind),
        None => (
            pool_members(pool),
            kind.map(|k| if k == "storage" { k } else { "vm" }),
        ),
    };
    all.into_iter()
        .filter(|m| kind.is_none_or(|k| m["type"] == k))
        .collect()
}

fn require_modify(ctx: &ApiContext<'_>, path: &str, alt: &str) -> Result<(), ApiError> {
    if may_modify(ctx, path)? {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "Permission check failed ({path}, Permissions.Modify|{alt})"
    )))
}
