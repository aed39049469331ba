//! `group add|modify|delete|list` (API `/access/groups`).

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_id, reject};
use crate::config::StateError;
use crate::config::user_cfg::Group;
use crate::identity::GroupId;

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
    ctx.state.modify(|cfg, _| {
        if cfg.groups.contains_key(&id) {
            return Err(reject(format!("group `{id}` already exists")));
        }
        let group = Group {
            comment: args.comment.unwrap_or_default(),
            ..Group::default()
        };
        cfg.groups.insert(id, group);
        Ok(())
    })
}

/// `group modify` (PUT /access/groups/{groupid}).
pub fn modify(args: GroupArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: GroupId = parse_id(&args.groupid)?;
    check_comment(args.comment.as_deref())?;
    ctx.state.modify(|cfg, _| {
        let group = cfg.groups.get_mut(&id).ok_or_else(|| no_such_group(&id))?;
        if let Some(comment) = args.comment {
            group.comment = comment;
        }
        Ok(())
    })
}

/// `group delete` (DELETE /access/groups/{groupid}): also removes the group's ACL entries.
pub fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: GroupId = parse_id(&args.groupid)?;
    ctx.state.modify(|cfg, _| {
        cfg.groups.remove(&id).ok_or_else(|| no_such_group(&id))?;
        for node in cfg.acl.values_mut() {
            node.groups.remove(&id);
        }
        cfg.acl.retain(|_, node| !node.is_empty());
        Ok(())
    })
}

/// `group list` (GET /access/groups).
pub fn list(ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let items = cfg
        .groups
        .iter()
        .map(|(id, g)| {
            let users: Vec<&str> = g.members.iter().map(|u| u.as_str()).collect();
            let mut item = json!({ "groupid": id.as_str(), "users": users.join(",") });
            if !g.comment.is_empty() {
                item["comment"] = json!(g.comment);
            }
            item
        })
        .collect();
    ctx.out.list(items, GROUP_COLUMNS);
    Ok(())
}

fn no_such_group(id: &GroupId) -> StateError {
    reject(format!("group `{id}` does not exist"))
}

fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains('\n') => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}

/// `group list` columns.
const GROUP_COLUMNS: &[Column] = &[
    col("groupid", false),
    col("comment", false),
    col("users", false),
];
