//! `pool add|modify|delete|list` (pve-manager API `/pools`).

use clap::{Args, Subcommand};

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_bool, parse_id};
use crate::config::StateError;
use crate::identity::PoolId;
use crate::manage::group::check_comment;
use crate::manage::pool::{
    PoolChange, check_new_poolid, delete_pool, insert_pool, no_such_pool, parse_storage, parse_vms,
    pool_item, update_pool,
};

/// `aclgate pool ...`.
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create a new pool (a nested pool's parent must exist).
    Add(AddArgs),
    /// Update a pool: comment, add or remove VMs and storages.
    Modify(ModifyArgs),
    /// Delete an empty pool.
    Delete(DeleteArgs),
    /// List pools.
    List(ListArgs),
}

/// `pool add POOLID [--comment C]`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Pool ID (up to three levels `a/b/c`).
    pub poolid: String,
    #[arg(long)]
    pub comment: Option<String>,
}

/// `pool modify POOLID ...`.
#[derive(Debug, Clone, Args)]
pub struct ModifyArgs {
    /// Pool ID.
    pub poolid: String,
    #[arg(long)]
    pub comment: Option<String>,
    /// VMIDs to add (or remove with `--delete 1`).
    #[arg(long)]
    pub vms: Option<String>,
    /// Storage ids to add (or remove with `--delete 1`).
    #[arg(long)]
    pub storage: Option<String>,
    /// Remove the given VMs and storages instead of adding them.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub delete: Option<bool>,
    /// Move VMs that are members of another pool into this one.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub allow_move: Option<bool>,
}

/// `pool delete POOLID`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Pool ID.
    pub poolid: String,
}

/// `pool list [--poolid P]`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this pool.
    #[arg(long)]
    pub poolid: Option<String>,
}

/// Run a `pool` subcommand.
pub fn run(command: PoolCommand, ctx: &Ctx) -> Result<(), StateError> {
    match command {
        PoolCommand::Add(args) => add(args, ctx),
        PoolCommand::Modify(args) => modify(args, ctx),
        PoolCommand::Delete(args) => delete(args, ctx),
        PoolCommand::List(args) => list(args, ctx),
    }
}

fn add(args: AddArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: PoolId = parse_id(&args.poolid)?;
    check_new_poolid(&id)?;
    check_comment(args.comment.as_deref())?;
    ctx.state
        .modify(|cfg, _| insert_pool(cfg, &id, args.comment.as_deref()))
}

fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: PoolId = parse_id(&args.poolid)?;
    check_comment(args.comment.as_deref())?;
    let change = PoolChange {
        vms: parse_vms(args.vms.as_deref())?,
        storage: parse_storage(args.storage.as_deref())?,
        comment: args.comment,
        delete: args.delete == Some(true),
        allow_move: args.allow_move == Some(true),
    };
    ctx.state.modify(|cfg, _| update_pool(cfg, &id, &change))
}

fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: PoolId = parse_id(&args.poolid)?;
    ctx.state.modify(|cfg, _| delete_pool(cfg, &id))
}

fn list(args: ListArgs, ctx: &Ctx) -> Result<(), StateError> {
    let cfg = ctx.state.load()?.user_cfg;
    let only: Option<PoolId> = args.poolid.as_deref().map(parse_id).transpose()?;
    if let Some(id) = &only
        && !cfg.pools.contains_key(id)
    {
        return Err(no_such_pool(id));
    }
    let items = cfg
        .pools
        .iter()
        .filter(|(id, _)| only.as_ref().is_none_or(|o| o == *id))
        .map(|(id, p)| pool_item(id, p))
        .collect();
    ctx.out.list(items, POOL_COLUMNS);
    Ok(())
}

/// `pool list` columns.
const POOL_COLUMNS: &[Column] = &[
    col("poolid", false),
    col("comment", false),
    col("members", false),
];
