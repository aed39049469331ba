//! `role add|modify|delete|list` (API `/access/roles`). Built-in roles are listed with
//! `special 1` and can be neither modified nor deleted; custom ids may not start with `PVE`.

use clap::{Args, Subcommand};

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_id, reject};
use crate::access::is_builtin_role;
use crate::config::StateError;
use crate::identity::RoleId;
use crate::manage::role::{
    check_new_roleid, delete_role, insert_role, parse_privs, role_items, update_role,
};

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
    check_new_roleid(&id)?;
    let privs = parse_privs(args.privs.as_deref())?;
    ctx.state.modify(|cfg, _| insert_role(cfg, &id, privs))
}

/// `role modify` (PUT /access/roles/{roleid}).
pub fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: RoleId = parse_id(&args.roleid)?;
    if is_builtin_role(id.as_str()) {
        return Err(reject(format!("cannot modify predefined role '{id}'")));
    }
    let privs = parse_privs(args.privs.as_deref())?;
    let append = args.append == Some(true);
    ctx.state
        .modify(|cfg, _| update_role(cfg, &id, privs, append))
}

/// `role delete` (DELETE /access/roles/{roleid}).
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: RoleId = parse_id(&args.roleid)?;
    ctx.state.modify(|cfg, _| delete_role(cfg, &id))
}

/// `role list` (GET /access/roles).
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    ctx.out.list(role_items(&cfg), ROLE_COLUMNS);
    Ok(())
}

/// `role list` columns.
const ROLE_COLUMNS: &[Column] = &[
    col("roleid", false),
    col("privs", false),
    col("special", true),
];
