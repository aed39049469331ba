//! `role add|modify|delete|list` (API `/access/roles`). Built-in roles are listed with
//! `special 1` and can be neither modified nor deleted; custom ids may not start with `PVE`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_id, reject, split_list};
use crate::access::{PrivSet, builtin_roles, is_builtin_role};
use crate::config::StateError;
use crate::identity::RoleId;

/// `aclgate role ...`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a new role.
    Add(AddArgs),
    /// Update a custom role.
    Modify(ModifyArgs),
    /// Delete a custom role (and the ACL entries that name it).
    Delete(DeleteArgs),
    /// List roles.
    List,
}

/// `role add ROLEID [--privs LIST]`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Role ID.
    pub roleid: String,
    /// Privileges (list).
    #[arg(long)]
    pub privs: Option<String>,
}

/// `role modify ROLEID [--privs LIST] [--append 1]`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    /// Role ID.
    pub roleid: String,
    /// Privileges (list); they replace the role's privileges unless `--append 1`.
    #[arg(long)]
    pub privs: Option<String>,
    /// Add the privileges instead of replacing them.
    #[arg(long, value_parser = super::value::parse_bool, num_args = 0..=1, default_missing_value = "1", requires = "privs")]
    pub append: Option<bool>,
}

/// `role delete ROLEID`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Role ID.
    pub roleid: String,
}

/// Run a `role` subcommand.
pub fn run(command: RoleCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        RoleCommand::Add(args) => add(args, ctx),
        RoleCommand::Modify(args) => modify(args, ctx),
        RoleCommand::Delete(args) => delete(args, ctx),
        RoleCommand::List => list(ctx),
    }
}

/// `role add` (POST /access/roles).
pub fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: RoleId = parse_id(&args.roleid)?;
    if id
        .as_str()
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("PVE"))
    {
        return Err(reject(format!(
            "cannot create role `{id}`: role ids starting with `PVE` are reserved"
        )));
    }
    let privs = parse_privs(args.privs.as_deref())?;
    ctx.state.modify(|cfg, _| {
        if is_builtin_role(id.as_str()) || cfg.roles.contains_key(&id) {
            return Err(reject(format!("role `{id}` already exists")));
        }
        cfg.roles.insert(id, privs);
        Ok(())
    })
}

/// `role modify` (PUT /access/roles/{roleid}).
pub fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: RoleId = parse_id(&args.roleid)?;
    if is_builtin_role(id.as_str()) {
        return Err(reject(format!("cannot modify predefined role `{id}`")));
    }
    let privs = parse_privs(args.privs.as_deref())?;
    ctx.state.modify(|cfg, _| {
        let role = cfg.roles.get_mut(&id).ok_or_else(|| no_such_role(&id))?;
        *role = if args.append == Some(true) {
            role.union(privs)
        } else {
            privs
        };
        Ok(())
    })
}

/// `role delete` (DELETE /access/roles/{roleid}).
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: RoleId = parse_id(&args.roleid)?;
    if is_builtin_role(id.as_str()) {
        return Err(reject(format!("cannot delete predefined role `{id}`")));
    }
    ctx.state.modify(|cfg, _| {
        cfg.roles.remove(&id).ok_or_else(|| no_such_role(&id))?;
        // Proxmox drops ACL entries of a deleted role at the next parse; do it now.
        for node in cfg.acl.values_mut() {
            for roles in node.users.values_mut() {
                roles.remove(&id);
            }
            for roles in node.groups.values_mut() {
                roles.remove(&id);
            }
            for roles in node.tokens.values_mut() {
                roles.remove(&id);
            }
            node.users.retain(|_, r| !r.is_empty());
            node.groups.retain(|_, r| !r.is_empty());
            node.tokens.retain(|_, r| !r.is_empty());
        }
        cfg.acl.retain(|_, node| !node.is_empty());
        Ok(())
    })
}

/// `role list` (GET /access/roles).
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
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
    ctx.out.list(items, ROLE_COLUMNS);
    Ok(())
}

/// Parse a privilege list; every name must be one of the 47.
fn parse_privs(list: Option<&str>) -> Result<PrivSet, StateError> {
    PrivSet::from_names(list.map(split_list).into_iter().flatten())
        .map_err(|e| reject(format!("invalid privilege `{}`", e.0)))
}

/// The error for an unknown role.
pub fn no_such_role(id: &RoleId) -> StateError {
    reject(format!("role `{id}` does not exist"))
}

/// `role list` columns.
const ROLE_COLUMNS: &[Column] = &[
    col("roleid", false),
    col("privs", false),
    col("special", true),
];
