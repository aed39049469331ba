//! Groups (`/access/groups`, `pveum group`): create, update, delete, list items.

use serde_json::{Value, json};

use super::value::reject;
use crate::config::StateError;
use crate::config::UserConfig;
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::Group;
use crate::identity::GroupId;

/// Create group `id`; an existing group is refused.
pub fn insert_group<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &GroupId,
    comment: Option<&str>,
) -> Result<(), StateError> {
    check_comment(comment)?;
    if cfg.groups.contains_key(id) {
        return Err(reject(format!("group '{id}' already exists")));
    }
    let group = Group {
        comment: comment.unwrap_or_default().to_owned(),
        ..Group::default()
    };
    cfg.groups.insert(id.clone(), group);
    Ok(())
}

/// Update the comment of group `id` (membership is edited on the users).
pub fn update_group<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &GroupId,
    comment: Option<&str>,
) -> Result<(), StateError> {
    check_comment(comment)?;
    let group = cfg.groups.get_mut(id).ok_or_else(|| no_such_group(id))?;
    if let Some(comment) = comment {
        comment.clone_into(&mut group.comment);
    }
    Ok(())
}

/// Delete group `id` and its ACL entries.
pub fn delete_group<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &GroupId,
) -> Result<(), StateError> {
    cfg.groups.remove(id).ok_or_else(|| no_such_group(id))?;
    cfg.remove_group_acl(id);
    Ok(())
}

/// One item of the group list: `groupid`, `users` (comma list), `comment` when set.
pub fn group_item(id: &GroupId, group: &Group) -> Value {
    let users: Vec<&str> = group.members.iter().map(|u| u.as_str()).collect();
    let mut item = json!({ "groupid": id.as_str(), "users": users.join(",") });
    if !group.comment.is_empty() {
        item["comment"] = json!(group.comment);
    }
    item
}

/// The error for an unknown group.
pub fn no_such_group(id: &GroupId) -> StateError {
    reject(format!("group '{id}' does not exist"))
}

/// A comment may not contain line breaks (it is one line of user.cfg).
pub fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains(['\n', '\r']) => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}
