//! Pools (pve-manager `/pools`, `pveum pool`): create (nested up to three levels), update the
//! comment and the VM / storage members, delete empty pools, list items.

use serde_json::{Value, json};

use super::group::check_comment;
use super::value::{reject, split_list};
use crate::access::AclPath;
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::Pool;
use crate::config::{StateError, UserConfig};
use crate::identity::{PoolId, is_storage_id};

/// A change to one pool's comment and members.
#[derive(Debug, Clone, Default)]
pub struct PoolChange {
    /// New comment.
    pub comment: Option<String>,
    /// VMIDs to add (or remove with `delete`).
    pub vms: Vec<String>,
    /// Storage ids to add (or remove with `delete`).
    pub storage: Vec<String>,
    /// Remove the listed members instead of adding them.
    pub delete: bool,
    /// Move VMs that are members of another pool into this one.
    pub allow_move: bool,
}

/// Parse a `vms` list: every item a VMID (100 ..= 999999999, no leading zero).
pub fn parse_vms(list: Option<&str>) -> Result<Vec<String>, StateError> {
    let vms: Vec<String> = list
        .map(split_list)
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    for vm in &vms {
        let ok = vm
            .parse::<u32>()
            .is_ok_and(|n| (100..=999_999_999).contains(&n))
            && !vm.starts_with('0');
        if !ok {
            return Err(reject(format!("invalid VMID '{vm}'")));
        }
    }
    Ok(vms)
}

/// Parse a `storage` list: every item a storage id.
pub fn parse_storage(list: Option<&str>) -> Result<Vec<String>, StateError> {
    let storage: Vec<String> = list
        .map(split_list)
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    if let Some(bad) = storage.iter().find(|s| !is_storage_id(s)) {
        return Err(reject(format!("invalid storage id '{bad}'")));
    }
    Ok(storage)
}

/// Create pool `id`; the leaf name must start with a letter and a nested pool's parent exist.
pub fn insert_pool<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &PoolId,
    comment: Option<&str>,
) -> Result<(), StateError> {
    check_new_poolid(id)?;
    check_comment(comment)?;
    if cfg.pools.contains_key(id) {
        return Err(reject(format!("pool '{id}' already exists")));
    }
    if let Some(parent) = id.parent()
        && !cfg.pools.contains_key(&parent)
    {
        return Err(reject(format!("parent pool '{parent}' does not exist")));
    }
    let pool = Pool {
        comment: comment.unwrap_or_default().to_owned(),
        ..Pool::default()
    };
    cfg.pools.insert(id.clone(), pool);
    Ok(())
}

/// The leaf name of a new pool must start with a letter.
pub fn check_new_poolid(id: &PoolId) -> Result<(), StateError> {
    let leaf = id.as_str().rsplit('/').next().unwrap_or_default();
    if !leaf.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(reject(format!(
            "invalid pool id '{id}': the name must start with a letter"
        )));
    }
    Ok(())
}

/// Apply `change` to pool `id`: a VM in another pool moves only with `allow_move`; adding a
/// member that is already in the pool, or removing one that is not, is refused (Proxmox).
pub fn update_pool<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    id: &PoolId,
    change: &PoolChange,
) -> Result<(), StateError> {
    check_comment(change.comment.as_deref())?;
    if !cfg.pools.contains_key(id) {
        return Err(no_such_pool(id));
    }
    for vm in &change.vms {
        let owner = cfg.pool_of_vm(vm).cloned();
        if change.delete {
            if owner.as_ref() != Some(id) {
                return Err(reject(format!("VM {vm} is not a pool member")));
            }
        } else if owner.as_ref() == Some(id) {
            return Err(reject(format!("VM {vm} is already a pool member")));
        } else if let Some(other) = owner {
            if !change.allow_move {
                return Err(reject(format!(
                    "VM {vm} belongs already to pool '{other}' and 'allow-move' is not set"
                )));
            }
            if let Some(p) = cfg.pools.get_mut(&other) {
                p.vms.remove(vm);
            }
        }
    }
    let pool = cfg.pools.get_mut(id).ok_or_else(|| no_such_pool(id))?;
    if let Some(comment) = &change.comment {
        comment.clone_into(&mut pool.comment);
    }
    for vm in &change.vms {
        if change.delete {
            pool.vms.remove(vm);
        } else {
            pool.vms.insert(vm.clone());
        }
    }
    for s in &change.storage {
        if change.delete {
            if !pool.storage.remove(s) {
                return Err(reject(format!("Storage '{s}' is not a pool member")));
            }
        } else if !pool.storage.insert(s.clone()) {
            return Err(reject(format!("Storage '{s}' is already a pool member")));
        }
    }
    Ok(())
}

/// Delete pool `id` if it has no members and no sub-pools, with its own ACL entries.
pub fn delete_pool<A: AclEntries>(cfg: &mut UserConfig<A>, id: &PoolId) -> Result<(), StateError> {
    let pool = cfg.pools.get(id).ok_or_else(|| no_such_pool(id))?;
    let has_children = cfg.pools.keys().any(|p| p.parent().as_ref() == Some(id));
    if !pool.vms.is_empty() || !pool.storage.is_empty() || has_children {
        return Err(reject(format!("pool '{id}' is not empty")));
    }
    cfg.pools.remove(id);
    // Proxmox removes the pool's own ACL entries with it.
    if let Some(path) = AclPath::normalize(&format!("/pool/{id}")) {
        cfg.acl.remove_path(&path);
    }
    Ok(())
}

/// One item of the pool list: `poolid`, `comment` when set.
pub fn pool_item(id: &PoolId, pool: &Pool) -> Value {
    let mut item = json!({ "poolid": id.as_str() });
    if !pool.comment.is_empty() {
        item["comment"] = json!(pool.comment);
    }
    item
}

/// The members of a pool when the cluster's resources are not known (the `pool` command, an
/// upstream that cannot be asked): `{id: "vms/<vmid>", vmid, type: "vm"}` and
/// `{id: "storage/<storage>", storage, type: "storage"}`.
pub fn pool_members(pool: &Pool) -> Vec<Value> {
    let vms = pool.vms.iter().map(|vm| {
        let vmid: Value = vm.parse::<u64>().map_or_else(|_| json!(vm), |n| json!(n));
        json!({ "id": format!("vms/{vm}"), "vmid": vmid, "type": "vm" })
    });
    let storage = pool
        .storage
        .iter()
        .map(|s| json!({ "id": format!("storage/{s}"), "storage": s, "type": "storage" }));
    vms.chain(storage).collect()
}

/// The members of a pool as Proxmox lists them, from the cluster's `/cluster/resources`:
/// each guest's resource (`{id: "qemu/100", type: "qemu"|"lxc", vmid, node, name, status,
/// ...}`), each storage's resource on one node, the first by name (`{id:
/// "storage/<node>/<storage>", type: "storage", storage, node, ...}`). Members the cluster
/// does not know (destroyed guests, removed storage) are left out, as Proxmox does.
pub fn pool_members_in(pool: &Pool, resources: &[Value]) -> Vec<Value> {
    let guest = |vm: &str| {
        resources.iter().find(|r| {
            matches!(r["type"].as_str(), Some("qemu" | "lxc"))
                && r["vmid"].as_u64().map(|n| n.to_string()).as_deref() == Some(vm)
        })
    };
    let storage = |id: &str| {
        resources
            .iter()
            .filter(|r| r["type"] == "storage" && r["storage"] == id)
            .min_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()))
    };
    let vms = pool.vms.iter().filter_map(|vm| guest(vm));
    let stores = pool.storage.iter().filter_map(|s| storage(s));
    vms.chain(stores).cloned().collect()
}

/// The error for an unknown pool.
pub fn no_such_pool(id: &PoolId) -> StateError {
    reject(format!("pool '{id}' does not exist"))
}
