//! `acl modify|delete|list` (API `PUT /access/acl`, `GET /access/acl`).
//!
//! Adding requires an assignable path (Proxmox's `check_path`, spec §4.2); every named role,
//! user, group and token must exist, for deletion too. Entries naming `root@pam` are never
//! written (they would not matter).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_bool, parse_id, reject, split_list};
use crate::access::{AclPath, components};
use crate::config::StateError;
use crate::identity::{GroupId, RoleId, Tokenid, Userid};

/// `aclgate acl ...`.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Add ACL entries.
    Modify(AclArgs),
    /// Remove ACL entries.
    Delete(AclArgs),
    /// List ACL entries.
    List,
}

/// `PATH --roles LIST [--users LIST] [--groups LIST] [--tokens LIST] [--propagate 0|1]`.
#[derive(Debug, Clone, Args)]
pub struct AclArgs {
    /// Access control path.
    pub path: String,
    /// Roles (list).
    #[arg(long)]
    pub roles: String,
    /// Users (list).
    #[arg(long)]
    pub users: Option<String>,
    /// Groups (list).
    #[arg(long)]
    pub groups: Option<String>,
    /// Full token ids (list).
    #[arg(long)]
    pub tokens: Option<String>,
    /// Let the entries apply below the path too (default 1).
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub propagate: Option<bool>,
}

/// Run an `acl` subcommand.
pub fn run(command: AclCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        AclCommand::Modify(args) => update(args, false, ctx),
        AclCommand::Delete(args) => update(args, true, ctx),
        AclCommand::List => list(ctx),
    }
}

/// `acl modify` / `acl delete` (PUT /access/acl with delete=0/1).
pub fn update(args: AclArgs, delete: bool, ctx: &Ctx) -> Result<(), StateError> {
    if args.users.is_none() && args.groups.is_none() && args.tokens.is_none() {
        return Err(reject(
            "either `--users`, `--groups` or `--tokens` is required",
        ));
    }
    let path = AclPath::normalize(&args.path)
        .filter(|p| delete || is_assignable(p.as_str()))
        .ok_or_else(|| reject(format!("invalid ACL path `{}`", args.path)))?;
    let roles: Vec<RoleId> = split_list(&args.roles)
        .map(parse_id)
        .collect::<Result<_, _>>()?;
    if roles.is_empty() {
        return Err(reject("missing roles"));
    }
    let users: Vec<Userid> = items(args.users.as_deref())
        .map(parse_id)
        .collect::<Result<_, _>>()?;
    let groups: Vec<GroupId> = items(args.groups.as_deref())
        .map(parse_id)
        .collect::<Result<_, _>>()?;
    let tokens: Vec<Tokenid> = items(args.tokens.as_deref())
        .map(parse_id)
        .collect::<Result<_, _>>()?;
    let propagate = args.propagate.unwrap_or(true);
    ctx.state.modify(|cfg, _| {
        for role in &roles {
            if cfg.role_privs(role).is_none() {
                return Err(reject(format!("role `{role}` does not exist")));
            }
        }
        for group in &groups {
            if !cfg.groups.contains_key(group) {
                return Err(reject(format!("group `{group}` does not exist")));
            }
        }
        for user in &users {
            if !cfg.users.contains_key(user) {
                return Err(reject(format!("user `{user}` does not exist")));
            }
        }
        for token in &tokens {
            if cfg.token(token).is_none() {
                return Err(reject(format!(
                    "no such token `{}` for user `{}`",
                    token.name(),
                    token.user_str()
                )));
            }
        }
        let node = cfg.acl.entry(path.clone()).or_default();
        for role in &roles {
            for group in &groups {
                let map = node.groups.entry(group.clone()).or_default();
                edit(map, role, delete, propagate);
            }
            for user in users.iter().filter(|u| !u.is_root()) {
                let map = node.users.entry(user.clone()).or_default();
                edit(map, role, delete, propagate);
            }
            for token in &tokens {
                let map = node.tokens.entry(token.clone()).or_default();
                edit(map, role, delete, propagate);
            }
        }
        node.users.retain(|_, r| !r.is_empty());
        node.groups.retain(|_, r| !r.is_empty());
        node.tokens.retain(|_, r| !r.is_empty());
        cfg.acl.retain(|_, node| !node.is_empty());
        Ok(())
    })
}

fn items(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.map(split_list).into_iter().flatten()
}

fn edit(
    map: &mut std::collections::BTreeMap<RoleId, bool>,
    role: &RoleId,
    delete: bool,
    propagate: bool,
) {
    if delete {
        map.remove(role);
    } else {
        map.insert(role.clone(), propagate);
    }
}

/// `acl list` (GET /access/acl): `[{path, type, ugid, roleid, propagate}]`.
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let mut items: Vec<Value> = Vec::new();
    for (path, node) in &cfg.acl {
        let mut push = |ty: &str, ugid: &str, roles: &std::collections::BTreeMap<RoleId, bool>| {
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
    ctx.out.list(items, ACL_COLUMNS);
    Ok(())
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

/// `acl list` columns: required (sorted), then optional.
const ACL_COLUMNS: &[Column] = &[
    col("path", false),
    col("roleid", false),
    col("type", false),
    col("ugid", false),
    col("propagate", true),
];

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
