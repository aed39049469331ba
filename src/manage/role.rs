//! Roles (`/access/roles`, `pveum role`): built-in roles are listed with `special 1` and can be
//! neither modified nor deleted; custom role ids may not start with `PVE` (any case).

use serde_json::{Value, json};

use super::value::{reject, split_list};
use crate::access::{PrivSet, builtin_role, builtin_roles, is_builtin_role};
use crate::config::user_cfg::AclEntries;
use crate::config::{StateError, UserConfig};
use crate::identity::RoleId;

/// Refuse ids reserved for built-in roles (`PVE*`, any case).
pub fn check_new_roleid(id: &RoleId) -> Result<(), StateError> {
    if id
        .as_str()
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("PVE"))
    {
        return Err(reject(format!(
            "cannot create role '{id}': role ids starting with 'PVE' are reserved"
        )));
    }
    Ok(())
}

/// Parse a privilege list; every name must be one of the 47.
pub fn parse_privs(list: Option<&str>) -> Result<PrivSet, StateError> {
    PrivSet::from_names(list.map(split_list).into_iter().flatten())
        .map_err(|e| reject(format!("invalid privilege '{}'", e.0)))
}

/// Create custom role `id` with `privs`.
pub fn insert_role<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &RoleId,
    privs: PrivSet,
) -> Result<(), StateError> {
    check_new_roleid(id)?;
    if is_builtin_role(id.as_str()) || cfg.roles.contains_key(id) {
        return Err(reject(format!("role '{id}' already exists")));
    }
    cfg.roles.insert(id.clone(), privs);
    Ok(())
}

/// Replace (or with `append`, extend) the privileges of custom role `id`.
pub fn update_role<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &RoleId,
    privs: PrivSet,
    append: bool,
) -> Result<(), StateError> {
    refuse_builtin(id, "modify")?;
    let role = cfg.roles.get_mut(id).ok_or_else(|| no_such_role(id))?;
    *role = if append { role.union(privs) } else { privs };
    Ok(())
}

/// Delete custom role `id` and the ACL entries naming it.
pub fn delete_role<A: AclEntries>(cfg: &mut UserConfig<A>, id: &RoleId) -> Result<(), StateError> {
    refuse_builtin(id, "delete")?;
    cfg.roles.remove(id).ok_or_else(|| no_such_role(id))?;
    // Proxmox drops ACL entries of a deleted role at the next parse; do it now.
    cfg.acl.remove_role(id);
    Ok(())
}

/// Every role, sorted by id: `roleid`, `privs` (comma list), `special: 1` on built-in roles.
pub fn role_items<A>(cfg: &UserConfig<A>) -> Vec<Value> {
    let builtin = builtin_roles()
        .iter()
        .map(|(name, privs)| json!({ "roleid": name, "privs": privs.to_string(), "special": 1 }));
    let custom = cfg
        .roles
        .iter()
        .filter(|(id, _)| !is_builtin_role(id.as_str()))
        .map(|(id, privs)| json!({ "roleid": id.as_str(), "privs": privs.to_string() }));
    let mut items: Vec<_> = builtin.chain(custom).collect();
    items.sort_by(|a, b| a["roleid"].as_str().cmp(&b["roleid"].as_str()));
    items
}

/// The privileges of role `id` (built-in or custom), `None` if there is no such role.
pub fn role_privs<A>(cfg: &UserConfig<A>, id: &RoleId) -> Option<PrivSet> {
    builtin_role(id.as_str()).or_else(|| cfg.roles.get(id).copied())
}

/// The error for an unknown role.
pub fn no_such_role(id: &RoleId) -> StateError {
    reject(format!("role '{id}' does not exist"))
}

fn refuse_builtin(id: &RoleId, verb: &str) -> Result<(), StateError> {
    if is_builtin_role(id.as_str()) {
        return Err(reject(format!("cannot {verb} predefined role '{id}'")));
    }
    Ok(())
}
