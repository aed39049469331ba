//! `/access/groups`: list (filtered as Proxmox does), get, create, update, delete.

use serde_json::{Value, json};

use super::{has_any, id, privset, state_error, text, write};
use crate::access_api::{ApiContext, ApiResult};
use crate::identity::GroupId;
use crate::manage::group::{delete_group, group_item, insert_group, no_such_group, update_group};

/// `GET /access/groups`: groups where the caller has User.Modify, Sys.Audit or Group.Allocate
/// on `/access/groups/<group>`.
pub fn list(ctx: &ApiContext<'_>) -> ApiResult {
    let wanted = privset(&["User.Modify", "Sys.Audit", "Group.Allocate"]);
    let mut items = Vec::new();
    for (gid, group) in &ctx.snapshot.user_cfg.groups {
        if has_any(ctx, &format!("/access/groups/{gid}"), wanted)? {
            items.push(group_item(gid, group));
        }
    }
    Ok(Value::Array(items))
}

/// `GET /access/groups/{groupid}`: `{comment?, members: [userid]}`.
pub fn get(ctx: &ApiContext<'_>) -> ApiResult {
    let gid: GroupId = id(ctx, "groupid")?;
    let group = ctx
        .snapshot
        .user_cfg
        .groups
        .get(&gid)
        .ok_or_else(|| state_error(no_such_group(&gid)))?;
    let members: Vec<&str> = group.members.iter().map(|u| u.as_str()).collect();
    let mut out = json!({ "members": members });
    if !group.comment.is_empty() {
        out["comment"] = json!(group.comment);
    }
    Ok(out)
}

/// `POST /access/groups` (`groupid`, `comment`).
pub async fn create(ctx: &ApiContext<'_>) -> ApiResult {
    let gid: GroupId = id(ctx, "groupid")?;
    let comment = text(ctx, "comment").map(str::to_owned);
    write(ctx, move |cfg, _| {
        insert_group(cfg, &gid, comment.as_deref())
    })
    .await?;
    Ok(Value::Null)
}

/// `PUT /access/groups/{groupid}` (`comment`).
pub async fn update(ctx: &ApiContext<'_>) -> ApiResult {
    let gid: GroupId = id(ctx, "groupid")?;
    let comment = text(ctx, "comment").map(str::to_owned);
    write(ctx, move |cfg, _| {
        update_group(cfg, &gid, comment.as_deref())
    })
    .await?;
    Ok(Value::Null)
}

/// `DELETE /access/groups/{groupid}`: with the group's ACL entries.
pub async fn delete(ctx: &ApiContext<'_>) -> ApiResult {
    let gid: GroupId = id(ctx, "groupid")?;
    write(ctx, move |cfg, _| delete_group(cfg, &gid)).await?;
    Ok(Value::Null)
}
