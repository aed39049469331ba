//! Merging what the directory says into user.cfg (`$update_users` / `$update_groups` of
//! `PVE::API2::Domains`). Pure: a [`UserConfig`] in, the same config changed, plus an
//! [`Outcome`] saying what changed and the log lines Proxmox's sync task prints.
//!
//! Users of the realm the directory no longer returns ("vanished"): `entry` removes them with
//! their tokens (whose secrets the caller removes), their tokens' ACL entries and their group
//! memberships; `acl` removes their own ACL entries. Synced users: a new one is created with
//! the directory's fields and `enable` = `enable-new`; an existing one gets the directory's
//! fields over its own, or with `properties` exactly the directory's fields (keeping only its
//! `enable` and tokens). Groups named `*-<realm>` likewise: vanished ones lose the entry and/or
//! their ACL entries; synced ones get the directory's members (and with `properties` lose their
//! comment). Users of other realms, `root@pam` and everything else in the file are untouched.
//! Userids match exactly, as in Proxmox, whatever the realm's `case-sensitive` says: a stored
//! `Alice@corp` is a different user from the directory's `alice@corp` (it is vanished).

use super::directory::{Synced, SyncedUser};
use super::options::SyncOptions;
use crate::config::UserConfig;
use crate::config::user_cfg::AclEntries;
use crate::config::user_cfg::{Group, User};
use crate::identity::{GroupId, Realm, Tokenid, Userid};

/// What a merge changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Users of the realm.
    pub users: Changes<Userid>,
    /// Groups of the realm.
    pub groups: Changes<GroupId>,
    /// Tokens removed with their (vanished) owners: their secrets must go too.
    pub removed_tokens: Vec<Tokenid>,
    /// The lines Proxmox's sync task prints, in order.
    pub log: Vec<String>,
}

/// Ids by what happened to them, each list sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<T> {
    /// Created.
    pub added: Vec<T>,
    /// Existing, and changed.
    pub updated: Vec<T>,
    /// Existing, and already as the directory says.
    pub unchanged: Vec<T>,
    /// Vanished and removed (`entry`).
    pub removed: Vec<T>,
    /// Vanished, and their ACL entries removed (`acl`).
    pub acl_removed: Vec<T>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Changes {
            added: Vec::new(),
            updated: Vec::new(),
            unchanged: Vec::new(),
            removed: Vec::new(),
            acl_removed: Vec::new(),
        }
    }
}

/// Merge `synced` (read for `realm`) into `cfg` as `opts` say.
pub fn merge<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    realm: &Realm,
    synced: &Synced,
    opts: &SyncOptions,
) -> Outcome {
    let mut out = Outcome::default();
    if opts.scope.users() {
        merge_users(cfg, realm, synced, opts, &mut out);
    }
    if opts.scope.groups() {
        merge_groups(cfg, realm, synced, opts, &mut out);
    }
    cfg.acl.prune();
    out
}

fn merge_users<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    realm: &Realm,
    synced: &Synced,
    opts: &SyncOptions,
    out: &mut Outcome,
) {
    let rv = opts.remove_vanished;
    out.log
        .push(format!("syncing users (remove-vanished opts: {rv})"));
    if rv.entry {
        out.log
            .push("deleting outdated existing users first".into());
    }
    let vanished: Vec<Userid> = cfg
        .users
        .keys()
        .filter(|u| u.realm() == realm.as_str() && !synced.users.contains_key(*u))
        .cloned()
        .collect();
    for userid in vanished {
        if rv.entry {
            out.log.push(format!("remove user '{userid}'"));
            // The one place where a sync removes users (per-user state kept outside
            // user.cfg is cleaned up by the caller from `removed_tokens`).
            out.removed_tokens
                .extend(cfg.remove_user(&userid).unwrap_or_default());
            out.users.removed.push(userid.clone());
        }
        if rv.acl {
            out.log.push(format!("purge users '{userid}' ACL entries"));
            cfg.remove_user_acl(&userid);
            out.users.acl_removed.push(userid);
        }
    }
    for (userid, fields) in &synced.users {
        let old = cfg.users.get(userid);
        let new = match old {
            Some(old) if !rv.properties => {
                out.log.push(format!("updating user '{userid}'"));
                overlay(old.clone(), fields)
            }
            _ => {
                out.log.push(match old {
                    Some(_) => format!("overwriting user '{userid}'"),
                    None => format!("adding user '{userid}'"),
                });
                let mut user = overlay(User::new(), fields);
                user.expire = fields.expire.unwrap_or(0);
                user.enable = old.map_or(opts.enable_new, |o| o.enable);
                user.tokens = old.map(|o| o.tokens.clone()).unwrap_or_default();
                user
            }
        };
        let list = match old {
            None => &mut out.users.added,
            Some(old) if *old == new => &mut out.users.unchanged,
            Some(_) => &mut out.users.updated,
        };
        list.push(userid.clone());
        cfg.users.insert(userid.clone(), new);
    }
}

fn merge_groups<A: AclEntries>(
    cfg: &mut UserConfig<A>,
    realm: &Realm,
    synced: &Synced,
    opts: &SyncOptions,
    out: &mut Outcome,
) {
    let rv = opts.remove_vanished;
    out.log
        .push(format!("syncing groups (remove-vanished opts: {rv})"));
    if rv.entry {
        out.log
            .push("deleting outdated existing groups first".into());
    }
    let suffix = format!("-{realm}");
    let vanished: Vec<GroupId> = cfg
        .groups
        .keys()
        .filter(|g| g.as_str().ends_with(&suffix) && !synced.groups.contains_key(*g))
        .cloned()
        .collect();
    for groupid in vanished {
        if rv.entry {
            out.log.push(format!("remove group '{groupid}'"));
            cfg.groups.remove(&groupid);
            out.groups.removed.push(groupid.clone());
        }
        if rv.acl {
            out.log
                .push(format!("purge groups '{groupid}' ACL entries"));
            cfg.remove_group_acl(&groupid);
            out.groups.acl_removed.push(groupid);
        }
    }
    for (groupid, members) in &synced.groups {
        let members = members.clone();
        let old = cfg.groups.get(groupid);
        let new = match old {
            Some(old) if !rv.properties => {
                out.log.push(format!("updating group '{groupid}'"));
                Group {
                    members,
                    comment: old.comment.clone(),
                }
            }
            _ => {
                out.log.push(match old {
                    Some(_) => format!("overwriting group '{groupid}'"),
                    None => format!("adding group '{groupid}'"),
                });
                Group {
                    members,
                    comment: String::new(),
                }
            }
        };
        let list = match old {
            None => &mut out.groups.added,
            Some(old) if *old == new => &mut out.groups.unchanged,
            Some(_) => &mut out.groups.updated,
        };
        list.push(groupid.clone());
        cfg.groups.insert(groupid.clone(), new);
    }
}

/// The directory's fields over `user`'s (absent ones leave `user`'s value).
fn overlay(mut user: User, fields: &SyncedUser) -> User {
    if let Some(v) = fields.enable {
        user.enable = v;
    }
    if let Some(v) = fields.expire {
        user.expire = v;
    }
    for (slot, value) in [
        (&mut user.firstname, &fields.firstname),
        (&mut user.lastname, &fields.lastname),
        (&mut user.email, &fields.email),
        (&mut user.comment, &fields.comment),
        (&mut user.keys, &fields.keys),
    ] {
        if let Some(v) = value {
            v.clone_into(slot);
        }
    }
    user
}
