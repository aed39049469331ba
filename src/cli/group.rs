//! `group add|modify|delete|list` (API `/access/groups`).

use clap::{Args, Subcommand};

use super::Ctx;
use super::output::{Column, col};
use super::value::parse_id;
use crate::config::StateError;
use crate::identity::GroupId;
use crate::manage::group::{check_comment, delete_group, group_item, insert_group, update_group};

/// `aclgate group ...`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a new group.
    Add(GroupArgs),
    /// Update a group's comment (membership is edited with `user modify --groups`).
    Modify(GroupArgs),
    /// Delete a group and its ACL entries.
    Delete(DeleteArgs),
    /// List groups.
    List,
}

/// `GROUPID [--comment C]`.
#[derive(Debug, Clone, Args)]
pub struct GroupArgs {
    /// Group ID.
    pub groupid: String,
    #[arg(long)]
    pub comment: Option<String>,
}

/// `GROUPID`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Group ID.
    pub groupid: String,
}

/// Run a `group` subcommand.
pub fn run(command: GroupCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        GroupCommand::Add(args) => add(args, ctx),
        GroupCommand::Modify(args) => modify(args, ctx),
        GroupCommand::Delete(args) => delete(args, ctx),
        GroupCommand::List => list(ctx),
    }
}

/// `group add` (POST /access/groups).
pub fn add(args: GroupArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: GroupId = parse_id(&args.groupid)?;
    check_comment(args.comment.as_deref())?;
    ctx.state
        .modify(|cfg, _| insert_group(cfg, &id, args.comment.as_deref()))
}

/// `group modify` (PUT /access/groups/{groupid}).
pub fn modify(args: GroupArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: GroupId = parse_id(&args.groupid)?;
    check_comment(args.comment.as_deref())?;
    ctx.state
        .modify(|cfg, _| update_group(cfg, &id, args.comment.as_deref()))
}

/// `group delete` (DELETE /access/groups/{groupid}): also removes the group's ACL entries.
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: GroupId = parse_id(&args.groupid)?;
    ctx.state.modify(|cfg, _| delete_group(cfg, &id))
}

/// `group list` (GET /access/groups).
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let items = cfg.groups.iter().map(|(id, g)| group_item(id, g)).collect();
    ctx.out.list(items, GROUP_COLUMNS);
    Ok(())
}

/// `group list` columns.
const GROUP_COLUMNS: &[Column] = &[
    col("groupid", false),
    col("comment", false),
    col("users", false),
];
