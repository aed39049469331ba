//! `acl modify|delete|list` (API `PUT /access/acl`, `GET /access/acl`).
//!
//! Adding requires an assignable path (Proxmox's `check_path`, spec §4.2); every named role,
//! user, group and token must exist, for deletion too. Entries naming `root@pam` are never
//! written (they would not matter).

use clap::{Args, Subcommand};
use serde_json::Value;

use super::Ctx;
use super::output::{Column, col};
use super::value::parse_bool;
use crate::config::StateError;
use crate::manage::acl::{AclRequest, AclUpdate, acl_items};

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
    let change = AclUpdate::parse(&AclRequest {
        path: &args.path,
        roles: Some(&args.roles),
        users: args.users.as_deref(),
        groups: args.groups.as_deref(),
        tokens: args.tokens.as_deref(),
        propagate: args.propagate.unwrap_or(true),
        delete,
    })?;
    ctx.state.modify(|cfg, _| change.apply(cfg))
}

/// `acl list` (GET /access/acl): `[{path, type, ugid, roleid, propagate}]`.
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let mut items: Vec<Value> = Vec::new();
    for (path, node) in &cfg.acl {
        acl_items(path, node, &mut items);
    }
    ctx.out.list(items, ACL_COLUMNS);
    Ok(())
}

/// `acl list` columns: required (sorted), then optional.
const ACL_COLUMNS: &[Column] = &[
    col("path", false),
    col("roleid", false),
    col("type", false),
    col("ugid", false),
    col("propagate", true),
];
