//! `pool add|modify|delete|list` (pve-manager API `/pools`).

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use super::output::{Column, col};
use super::value::{parse_bool, parse_id, reject, split_list};
use crate::access::AclPath;
use crate::config::StateError;
use crate::config::user_cfg::Pool;
use crate::identity::{PoolId, is_storage_id};

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
    let leaf = id.as_str().rsplit('/').next().unwrap_or_default();
    if !leaf.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(reject(format!(
            "invalid pool id `{id}`: the name must start with a letter"
        )));
    }
    check_comment(args.comment.as_deref())?;
    ctx.state.modify(|cfg, _| {
        if cfg.pools.contains_key(&id) {
            return Err(reject(format!("pool `{id}` already exists")));
        }
        if let Some(parent) = id.parent()
            && !cfg.pools.contains_key(&parent)
        {
            return Err(reject(format!("parent pool `{parent}` does not exist")));
        }
        let pool = Pool {
            comment: args.comment.unwrap_or_default(),
            ..Pool::default()
        };
        cfg.pools.insert(id, pool);
        Ok(())
    })
}

fn modify(args: ModifyArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: PoolId = parse_id(&args.poolid)?;
    check_comment(args.comment.as_deref())?;
    let list = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .map(split_list)
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect()
    };
    let vms = list(&args.vms);
    let storage = list(&args.storage);
    for vm in &vms {
        let ok = vm
            .parse::<u32>()
            .is_ok_and(|n| (100..=999_999_999).contains(&n))
            && !vm.starts_with('0');
        if !ok {
            return Err(reject(format!("invalid VMID `{vm}`")));
        }
    }
    for s in &storage {
        if !is_storage_id(s) {
            return Err(reject(format!("invalid storage id `{s}`")));
        }
    }
    let delete = args.delete == Some(true);
    let allow_move = args.allow_move == Some(true);
    ctx.state.modify(|cfg, _| {
        if !cfg.pools.contains_key(&id) {
            return Err(no_such_pool(&id));
        }
        for vm in &vms {
            let owner = cfg.pool_of_vm(vm).cloned();
            if delete {
                if owner.as_ref() != Some(&id) {
                    return Err(reject(format!("VM {vm} is not a pool member")));
                }
            } else if let Some(other) = owner.filter(|o| *o != id) {
                if !allow_move {
                    return Err(reject(format!(
                        "VM {vm} belongs already to pool `{other}` and allow-move is not set"
                    )));
                }
                if let Some(p) = cfg.pools.get_mut(&other) {
                    p.vms.remove(vm);
                }
            }
        }
        let pool = cfg.pools.get_mut(&id).ok_or_else(|| no_such_pool(&id))?;
        if let Some(comment) = &args.comment {
            comment.clone_into(&mut pool.comment);
        }
        for vm in &vms {
            if delete {
                pool.vms.remove(vm);
            } else {
                pool.vms.insert(vm.clone());
            }
        }
        for s in &storage {
            if delete {
                if !pool.storage.remove(s) {
                    return Err(reject(format!("storage `{s}` is not a pool member")));
                }
            } else {
                pool.storage.insert(s.clone());
            }
        }
        Ok(())
    })
}

fn delete(args: DeleteArgs, ctx: &Ctx) -> Result<(), StateError> {
    let id: PoolId = parse_id(&args.poolid)?;
    ctx.state.modify(|cfg, _| {
        let pool = cfg.pools.get(&id).ok_or_else(|| no_such_pool(&id))?;
        let has_children = cfg.pools.keys().any(|p| p.parent().as_ref() == Some(&id));
        if !pool.vms.is_empty() || !pool.storage.is_empty() || has_children {
            return Err(reject(format!("pool `{id}` is not empty")));
        }
        cfg.pools.remove(&id);
        // Proxmox removes the pool's own ACL entries with it.
        if let Some(path) = AclPath::normalize(&format!("/pool/{id}")) {
            cfg.acl.remove(&path);
        }
        Ok(())
    })
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
        .map(|(id, p)| {
            let mut item = json!({ "poolid": id.as_str() });
            if !p.comment.is_empty() {
                item["comment"] = json!(p.comment);
            }
            item
        })
        .collect();
    ctx.out.list(items, POOL_COLUMNS);
    Ok(())
}

fn no_such_pool(id: &PoolId) -> StateError {
    reject(format!("pool `{id}` does not exist"))
}

fn check_comment(comment: Option<&str>) -> Result<(), StateError> {
    match comment {
        Some(c) if c.contains('\n') => Err(reject("values may not contain line breaks")),
        _ => Ok(()),
    }
}

/// `pool list` columns.
const POOL_COLUMNS: &[Column] = &[
    col("poolid", false),
    col("comment", false),
    col("members", false),
];
