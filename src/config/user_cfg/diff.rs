//! [`UserConfig::changes_to`]: the [`Change`]s that turn one configuration into another, so a
//! writer can hand its edit to a running gateway whatever manage function made it. Applying the
//! answered changes in order to `self` gives `new` (tests/incremental_diff.rs checks this on
//! random pairs; entries deleted and set commute, so their order within the ACL part is free); an edit a `Change` cannot say (a pool, a comment, a user's names or e-mail, a
//! group or role removed) answers `None`, and the reader then loads the files again.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::{AclMember, AclNode, AclTable, Change, Group, User, UserConfig, UserConfigEdit};
use crate::identity::RoleId;

impl UserConfig {
    /// The changes from `self` to `new`, in an order that applies (roles and accounts before
    /// the entries naming them, removals last); `None` if the edit is more than changes say.
    pub fn changes_to(&self, new: &UserConfig) -> Option<Vec<Change>> {
        changes_with(self, new, |out| acl(&self.acl, &new.acl, out))
    }

    /// [`UserConfig::changes_to`] from a configuration read without its ACL map (`self`, as
    /// [`UserConfig::parse_split`] answers it) to a writer's edit of it, `new`, whose entries
    /// know what was read: only the paths the edit touched are compared.
    pub fn changes_to_edit(&self, new: &UserConfigEdit) -> Option<Vec<Change>> {
        changes_with(self, new, |out| new.acl.changes(out))
    }

    /// [`UserConfig::changes_to`] from a configuration read without its ACL map (`self`, as
    /// [`UserConfig::parse_split`] answers it) and its entries in compact form, `acl`: what a
    /// writer compares against instead of a copy of a million-entry map.
    pub fn changes_from_table(&self, acl: &AclTable, new: &UserConfig) -> Option<Vec<Change>> {
        changes_with(self, new, |out| acl_from_table(acl, &new.acl, out))
    }
}

fn changes_with<A, B>(
    old: &UserConfig<A>,
    new: &UserConfig<B>,
    acl: impl FnOnce(&mut Vec<Change>),
) -> Option<Vec<Change>> {
    if old.pools != new.pools {
        return None;
    }
    let mut out = Vec::new();
    roles(old, new, &mut out)?;
    let removals = users(old, new, &mut out)?;
    groups(old, new, &mut out)?;
    acl(&mut out);
    out.extend(removals);
    Some(out)
}

fn roles<A, B>(old: &UserConfig<A>, new: &UserConfig<B>, out: &mut Vec<Change>) -> Option<()> {
    if old.roles.keys().any(|r| !new.roles.contains_key(r)) {
        return None;
    }
    for (id, privs) in &new.roles {
        if old.roles.get(id) != Some(privs) {
            out.push(Change::RoleSet {
                id: id.clone(),
                privs: *privs,
            });
        }
    }
    Some(())
}

/// Users and tokens set (pushed to `out`), and the removals (answered, to go last).
fn users<A, B>(
    old: &UserConfig<A>,
    new: &UserConfig<B>,
    out: &mut Vec<Change>,
) -> Option<Vec<Change>> {
    let fresh = User::new();
    let mut removals = Vec::new();
    for (id, user) in &new.users {
        let before = old.users.get(id).unwrap_or(&fresh);
        if !same_details(before, user) {
            return None;
        }
        if !old.users.contains_key(id)
            || before.enable != user.enable
            || before.expire != user.expire
        {
            out.push(Change::UserSet {
                id: id.clone(),
                enable: user.enable,
                expire: user.expire,
            });
        }
        for (name, token) in &user.tokens {
            let had = before.tokens.get(name);
            // A new token starts with no comment.
            if had.map_or(!token.comment.is_empty(), |t| t.comment != token.comment) {
                return None;
            }
            if had.is_none_or(|t| t.expire != token.expire || t.privsep != token.privsep) {
                out.push(Change::TokenSet {
                    id: crate::identity::Tokenid::new(id, name),
                    expire: token.expire,
                    privsep: token.privsep,
                });
            }
        }
        for name in before.tokens.keys() {
            if !user.tokens.contains_key(name) {
                removals.push(Change::TokenRemove(crate::identity::Tokenid::new(id, name)));
            }
        }
    }
    for id in old.users.keys() {
        if !new.users.contains_key(id) {
            removals.push(Change::UserRemove(id.clone()));
        }
    }
    Some(removals)
}

/// The fields a [`Change`] does not carry.
fn same_details(a: &User, b: &User) -> bool {
    a.firstname == b.firstname
        && a.lastname == b.lastname
        && a.email == b.email
        && a.comment == b.comment
        && a.keys == b.keys
}

fn groups<A, B>(old: &UserConfig<A>, new: &UserConfig<B>, out: &mut Vec<Change>) -> Option<()> {
    if old.groups.keys().any(|g| !new.groups.contains_key(g)) {
        return None;
    }
    let empty = Group::default();
    for (id, group) in &new.groups {
        let before = old.groups.get(id);
        // A group comes into being with its first member and without a comment.
        if before.map_or(group.members.is_empty(), |_| false)
            || before.unwrap_or(&empty).comment != group.comment
        {
            return None;
        }
        let before = before.unwrap_or(&empty);
        for user in group.members.difference(&before.members) {
            out.push(Change::GroupMember {
                group: id.clone(),
                user: user.clone(),
                member: true,
            });
        }
        for user in before.members.difference(&group.members) {
            out.push(Change::GroupMember {
                group: id.clone(),
                user: user.clone(),
                member: false,
            });
        }
    }
    Some(())
}

pub(super) fn acl(
    old: &BTreeMap<crate::vocabulary::AclPath, AclNode>,
    new: &BTreeMap<crate::vocabulary::AclPath, AclNode>,
    out: &mut Vec<Change>,
) {
    let empty = AclNode::default();
    let paths = old
        .keys()
        .chain(new.keys().filter(|p| !old.contains_key(*p)));
    for path in paths {
        let (a, b) = (
            old.get(path).unwrap_or(&empty),
            new.get(path).unwrap_or(&empty),
        );
        if a == b {
            continue;
        }
        let mut entry = |member: AclMember, role: &RoleId, propagate: Option<bool>| {
            out.push(Change::Acl {
                path: path.clone(),
                member,
                role: role.clone(),
                propagate,
            });
        };
        members(&a.users, &b.users, |m, r, p| {
            entry(AclMember::User(m.clone()), r, p);
        });
        members(&a.groups, &b.groups, |m, r, p| {
            entry(AclMember::Group(m.clone()), r, p);
        });
        members(&a.tokens, &b.tokens, |m, r, p| {
            entry(AclMember::Token(m.clone()), r, p);
        });
    }
}

/// Call `f` for every (member, role) whose entry differs: deleted (`None`) or set.
fn members<M: Ord>(
    old: &BTreeMap<M, BTreeMap<RoleId, bool>>,
    new: &BTreeMap<M, BTreeMap<RoleId, bool>>,
    mut f: impl FnMut(&M, &RoleId, Option<bool>),
) {
    let none = BTreeMap::new();
    for (m, roles) in old {
        let now = new.get(m).unwrap_or(&none);
        for role in roles.keys() {
            if !now.contains_key(role) {
                f(m, role, None);
            }
        }
    }
    for (m, roles) in new {
        let was = old.get(m).unwrap_or(&none);
        for (role, propagate) in roles {
            if was.get(role) != Some(propagate) {
                f(m, role, Some(*propagate));
            }
        }
    }
}

/// The ACL changes from the entries of `old` (as read, compact) to `new`'s map: one hash
/// lookup per entry instead of a copy of a million-entry map to compare against.
fn acl_from_table(
    old: &AclTable,
    new: &BTreeMap<crate::vocabulary::AclPath, AclNode>,
    out: &mut Vec<Change>,
) {
    // (path, member, role) → propagate; a later grant replaces an earlier one, as on load.
    let mut was: FxHashMap<(u32, u32, u32), bool> = FxHashMap::default();
    was.reserve(old.grants.len());
    for g in &old.grants {
        was.insert((g.path, g.member, g.role), g.propagate);
    }
    let paths: FxHashMap<&str, u32> = index(old.paths.iter().map(|p| p.as_str()));
    let roles: FxHashMap<&str, u32> = index(old.roles.iter().map(|r| r.as_str()));
    let members: FxHashMap<(usize, &str), u32> = old
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.key(), i as u32))
        .collect();
    for (path, node) in new {
        let p = paths.get(path.as_str()).copied();
        let mut visit = |member: AclMember, roles_of: &BTreeMap<RoleId, bool>| {
            let m = members.get(&member.key()).copied();
            for (role, &propagate) in roles_of {
                let key = p.zip(m).zip(roles.get(role.as_str()).copied());
                let before = key.and_then(|((p, m), r)| was.remove(&(p, m, r)));
                if before != Some(propagate) {
                    out.push(Change::Acl {
                        path: path.clone(),
                        member: member.clone(),
                        role: role.clone(),
                        propagate: Some(propagate),
                    });
                }
            }
        };
        for (u, r) in &node.users {
            visit(AclMember::User(u.clone()), r);
        }
        for (g, r) in &node.groups {
            visit(AclMember::Group(g.clone()), r);
        }
        for (t, r) in &node.tokens {
            visit(AclMember::Token(t.clone()), r);
        }
    }
    let mut gone: Vec<(u32, u32, u32)> = was.into_keys().collect();
    gone.sort_unstable();
    for (p, m, r) in gone {
        out.push(Change::Acl {
            path: old.paths[p as usize].clone(),
            member: old.members[m as usize].clone(),
            role: old.roles[r as usize].clone(),
            propagate: None,
        });
    }
}

fn index<'a>(texts: impl Iterator<Item = &'a str>) -> FxHashMap<&'a str, u32> {
    texts.enumerate().map(|(i, t)| (t, i as u32)).collect()
}
