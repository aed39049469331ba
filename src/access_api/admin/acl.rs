//! `/access/acl`: the filtered list and `PUT` with Proxmox's delegation rules (spec §8).
//!
//! A caller who passed `perm-modify` without holding `Permissions.Modify` on the path (through
//! VM.Allocate, Datastore.Allocate or Pool.Allocate) may only add or remove roles whose every
//! privilege they hold on that path themselves — with propagate=1 when adding a propagating
//! entry — and never `NoAccess`; otherwise 400 with `errors.role`, as Proxmox answers.

use serde_json::Value;

use super::{caller, flag, privs_at, privset, text, write};
use crate::access::{NO_ACCESS, builtin_role};
use crate::access_api::{ApiContext, ApiError, ApiResult};
use crate::manage::acl::{AclRequest, AclUpdate, acl_items};

/// `GET /access/acl`: entries on paths where the caller has Sys.Audit on `/access` or could
/// modify permissions (Permissions.Modify, or the object's Allocate privilege).
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    caller(ctx)?;
    let audit = privs_at(ctx, "/access")?
        .granted
        .intersects(privset(&["Sys.Audit"]));
    let mut items = Vec::new();
    for (path, node) in &ctx.snapshot.engine.acl_nodes() {
        if !audit && !may_modify(ctx, path.as_str())? {
            continue;
        }
        acl_items(path, node, &mut items);
    }
    Ok(Value::Array(items))
}

/// `PUT /access/acl`.
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    caller(ctx)?;
    let path = text(ctx, "path")
        .ok_or_else(|| ApiError::param("path", "property is missing and it is not optional"))?;
    let roles = text(ctx, "roles");
    if roles.is_none() {
        return Err(ApiError::param(
            "roles",
            "property is missing and it is not optional",
        ));
    }
    let req = AclRequest {
        path,
        roles,
        users: text(ctx, "users"),
        groups: text(ctx, "groups"),
        tokens: text(ctx, "tokens"),
        propagate: flag(ctx, "propagate")?.unwrap_or(true),
        delete: flag(ctx, "delete")?.unwrap_or(false),
    };
    let change = AclUpdate::parse(&req).map_err(super::state_error)?;
    check_delegation(ctx, &change)?;
    write(ctx, move |cfg, _| change.apply(cfg)).await?;
    Ok(Value::Null)
}

/// Proxmox's rule for callers without Permissions.Modify on the path: like Proxmox, a
/// refusal is a parameter error on `role` (400), not a permission error.
fn check_delegation(ctx: &ApiContext<'_>, change: &AclUpdate) -> Result<(), ApiError> {
    let path = change.path.as_str();
    let mine = privs_at(ctx, path)?;
    if mine.granted.contains_all(privset(&["Permissions.Modify"])) {
        return Ok(());
    }
    let verb = if change.delete { "remove" } else { "add" };
    let cfg = &ctx.snapshot.user_cfg;
    for role in &change.roles {
        let privs = cfg
            .role_privs(role)
            .or_else(|| builtin_role(role.as_str()))
            .ok_or_else(|| ApiError::BadRequest(format!("role '{role}' does not exist")))?;
        if mine.granted.first_missing(privs).is_some() {
            return Err(ApiError::param(
                "role",
                format!(
                    "Cannot {verb} role '{role}' - requires 'Permissions.Modify' or superset of privileges."
                ),
            ));
        }
        if !change.delete && change.propagate && mine.propagate.first_missing(privs).is_some() {
            return Err(ApiError::param(
                "role",
                format!(
                    "Cannot {verb} role '{role}' with propagation - requires 'Permissions.Modify' or propagated superset of privileges."
                ),
            ));
        }
        // NoAccess has no privileges to compare: refused on its own.
        if role.as_str() == NO_ACCESS {
            return Err(ApiError::param(
                "role",
                format!("Cannot {verb} role '{role}' - requires 'Permissions.Modify'"),
            ));
        }
    }
    Ok(())
}

/// Proxmox's `perm-modify` test for one path (spec §5.3).
pub(super) fn may_modify(ctx: &ApiContext<'_>, path: &str) -> Result<bool, ApiError> {
    let granted = privs_at(ctx, path)?.granted;
    if granted.contains_all(privset(&["Permissions.Modify"])) {
        return Ok(true);
    }
    let alt = if path.starts_with("/vms") {
        Some("VM.Allocate")
    } else if path.starts_with("/storage") {
        Some("Datastore.Allocate")
    } else if path.starts_with("/pool") {
        Some("Pool.Allocate")
    } else {
        None
    };
    Ok(alt.is_some_and(|p| granted.contains_all(privset(&[p]))))
}
