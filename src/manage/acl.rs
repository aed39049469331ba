//! ACL entries (`PUT /access/acl`, `pveum acl modify|delete`): Proxmox's checks, written once.
//!
//! Adding requires an assignable path (Proxmox's `check_path`, spec §4.2); every named role,
//! user, group and token must exist, for deletion too. Entries naming `root@pam` are never
//! written (they would not matter).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::value::{parse_id, reject, split_list};
use crate::access::{AclPath, components};
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::AclNode;
use crate::config::{StateError, UserConfig};
use crate::identity::{GroupId, RoleId, Tokenid, Userid};

/// An ACL change as the API and the CLI receive it (lists as text).
#[derive(Debug, Clone, Copy)]
pub struct AclRequest<'a> {
    /// The ACL path as given.
    pub path: &'a str,
    /// Roles (list).
    pub roles: Option<&'a str>,
    /// Users (list).
    pub users: Option<&'a str>,
    /// Groups (list).
    pub groups: Option<&'a str>,
    /// Token ids (list).
    pub tokens: Option<&'a str>,
    /// Whether new entries propagate.
    pub propagate: bool,
    /// Remove instead of add.
    pub delete: bool,
}

/// A parsed ACL change, ready to be checked and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclUpdate {
    /// The normalised path.
    pub path: AclPath,
    /// The roles to add or remove.
    pub roles: Vec<RoleId>,
    /// Users named.
    pub users: Vec<Userid>,
    /// Groups named.
    pub groups: Vec<GroupId>,
    /// Tokens named.
    pub tokens: Vec<Tokenid>,
    /// Whether new entries propagate.
    pub propagate: bool,
    /// Remove instead of add.
    pub delete: bool,
}

// === impl AclUpdate ===

impl AclUpdate {
    /// Parse and check the shape of a request (no state needed).
    pub fn parse(req: &AclRequest<'_>) -> Result<AclUpdate, StateError> {
        if req.users.is_none() && req.groups.is_none() && req.tokens.is_none() {
            return Err(reject("either 'users', 'groups' or 'tokens' is required"));
        }
        let path = AclPath::normalize(req.path)
            .filter(|p| req.delete || is_assignable(p.as_str()))
            .ok_or_else(|| reject(format!("invalid ACL path '{}'", req.path)))?;
        let roles: Vec<RoleId> = items(req.roles).map(parse_id).collect::<Result<_, _>>()?;
        if roles.is_empty() {
            return Err(reject("missing roles"));
        }
        Ok(AclUpdate {
            path,
            roles,
            users: items(req.users).map(parse_id).collect::<Result<_, _>>()?,
            groups: items(req.groups).map(parse_id).collect::<Result<_, _>>()?,
            tokens: items(req.tokens).map(parse_id).collect::<Result<_, _>>()?,
            propagate: req.propagate,
            delete: req.delete,
        })
    }

    /// Check that every role, group, user and token exists in `cfg`, then apply the change.
    pub fn apply<A: AclEntries>(&self, cfg: &mut UserConfig<A>) -> Result<(), StateError> {
        for role in &self.roles {
            if cfg.role_privs(role).is_none() {
                return Err(reject(format!("role '{role}' does not exist")));
            }
        }
        for group in &self.groups {
            if !cfg.groups.contains_key(group) {
                return Err(reject(format!("group '{group}' does not exist")));
            }
        }
        for user in &self.users {
            if !cfg.users.contains_key(user) {
                return Err(reject(format!("user '{user}' does not exist")));
            }
        }
        for token in &self.tokens {
            if cfg.token(token).is_none() {
                return Err(reject(format!(
                    "no such token '{}' for user '{}'",
                    token.name(),
                    token.user_str()
                )));
            }
        }
        let (delete, propagate) = (self.delete, self.propagate);
        let node = cfg.acl.node_mut(&self.path);
        for role in &self.roles {
            for group in &self.groups {
                edit(
                    node.groups.entry(group.clone()).or_default(),
                    role,
                    delete,
                    propagate,
                );
            }
            for user in self.users.iter().filter(|u| !u.is_root()) {
                edit(
                    node.users.entry(user.clone()).or_default(),
                    role,
                    delete,
                    propagate,
                );
            }
            for token in &self.tokens {
                edit(
                    node.tokens.entry(token.clone()).or_default(),
                    role,
                    delete,
                    propagate,
                );
            }
        }
        cfg.acl.prune();
        Ok(())
    }
}

fn items(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.map(split_list).into_iter().flatten()
}

fn edit(map: &mut BTreeMap<RoleId, bool>, role: &RoleId, delete: bool, propagate: bool) {
    if delete {
        map.remove(role);
    } else {
        map.insert(role.clone(), propagate);
    }
}

/// Proxmox's `check_path`: the paths an ACL entry may be assigned to (spec §4.2).
pub fn is_assignable(path: &str) -> bool {
    let c: Vec<&str> = components(path).collect();
    let id = |s: &str| is_id(s, b"._-");
    let alnum = |s: &str| is_id(s, b"");
    match c.as_slice() {
        [] | ["access"] | ["access", "groups" | "realm"] => true,
        ["access", "groups" | "realm", x] => id(x),
        ["nodes"] => true,
        ["nodes", node] => id(node),
        ["pool"] => true,
        ["pool", levels @ ..] => levels.len() <= 3 && levels.iter().all(|l| id(l)),
        ["sdn"] => true,
        ["sdn", "controllers"] => true,
        ["sdn", "controllers", x] => is_id(x, b"_-"),
        [
            "sdn",
            "dns" | "fabrics" | "ipams" | "prefix-lists" | "route-maps",
        ] => true,
        [
            "sdn",
            "dns" | "fabrics" | "ipams" | "prefix-lists" | "route-maps",
            x,
        ] => alnum(x),
        ["sdn", "zones"] => true,
        ["sdn", "zones", zone] => id(zone),
        ["sdn", "zones", zone, vnet] => id(zone) && id(vnet),
        ["sdn", "zones", zone, vnet, vlan] => {
            id(zone)
                && id(vnet)
                && vlan.parse::<u16>().is_ok_and(|v| (1..=9999).contains(&v))
                && !vlan.starts_with('0')
        }
        ["storage"] => true,
        ["storage", x] => id(x),
        ["vms"] => true,
        ["vms", vmid] => {
            vmid.len() >= 3 && !vmid.starts_with('0') && vmid.bytes().all(|b| b.is_ascii_digit())
        }
        ["mapping"] => true,
        ["mapping", ty] => id(ty),
        ["mapping", ty, x] => id(ty) && id(x),
        _ => false,
    }
}

fn is_id(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// The `GET /access/acl` items of one path: `{path, type, ugid, roleid, propagate}` per entry,
/// users, then groups, then tokens.
pub fn acl_items(path: &AclPath, node: &AclNode, items: &mut Vec<Value>) {
    let mut push = |ty: &str, ugid: &str, roles: &BTreeMap<RoleId, bool>| {
        for (role, propagate) in roles {
            items.push(json!({
                "path": path.as_str(),
                "type": ty,
                "ugid": ugid,
                "roleid": role.as_str(),
                "propagate": u8::from(*propagate),
            }));
        }
    };
    for (user, roles) in &node.users {
        push("user", user.as_str(), roles);
    }
    for (group, roles) in &node.groups {
        push("group", group.as_str(), roles);
    }
    for (token, roles) in &node.tokens {
        push("token", token.as_str(), roles);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignable_paths() {
        for (path, want) in [
            ("/", true),
            ("/access", true),
            ("/access/groups/admins", true),
            ("/access/realm/pve", true),
            ("/access/users", false),
            ("/nodes/pve1", true),
            ("/pool/a/b/c", true),
            ("/pool/a/b/c/d", false),
            ("/sdn/zones/z1/v1/10", true),
            ("/sdn/zones/z1/v1/0", false),
            ("/sdn/zones/z1/v1/10000", false),
            ("/sdn/dns/a_b", false),
            ("/sdn/controllers/a_b", true),
            ("/storage/local", true),
            ("/vms", true),
            ("/vms/100", true),
            ("/vms/99", false),
            ("/vms/0100", false),
            ("/vms/100/x", false),
            ("/mapping/pci/gpu", true),
            ("/kvm", false),
        ] {
            assert_eq!(is_assignable(path), want, "is_assignable({path})");
        }
    }
}
