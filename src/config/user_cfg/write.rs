//! Proxmox's canonical `user.cfg` writer (spec §2.1, `PVE::AccessControl::write_user_config`).
//!
//! Same order and encoding as Proxmox, so a canonical file round-trips byte for byte and Proxmox
//! tooling reads what we write: users (each followed by its tokens), groups, pools, custom roles,
//! then ACL lines in tree order, each section closed by a blank line.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{AclEdit, AclNode, UserConfig};
use crate::config::text::encode_text;
use crate::identity::{RoleId, Userid};

pub(super) fn write(cfg: &UserConfig) -> String {
    let mut out = write_head(cfg);
    for (path, node) in &cfg.acl {
        write_acl_node(&mut out, path.as_str(), node);
    }
    out
}

/// The same text from a writer's edit: the entries it did not touch are written straight
/// from the table as read.
pub(super) fn write_edit(cfg: &UserConfig<AclEdit>) -> String {
    let mut out = write_head(cfg);
    cfg.acl.write(&mut out);
    out
}

/// Every section but the `acl` lines, each closed by its blank line.
fn write_head<A>(cfg: &UserConfig<A>) -> String {
    let mut out = String::new();
    for (userid, u) in &cfg.users {
        line(
            &mut out,
            &[
                "user",
                userid.as_str(),
                flag(u.enable),
                &u.expire.to_string(),
                &encode_text(&u.firstname),
                &encode_text(&u.lastname),
                &u.email,
                &encode_text(&u.comment),
                &u.keys,
            ],
        );
        for (name, t) in &u.tokens {
            let id = format!("{}!{}", userid.as_str(), name.as_str());
            line(
                &mut out,
                &[
                    "token",
                    &id,
                    &t.expire.to_string(),
                    flag(t.privsep),
                    &encode_text(&t.comment),
                ],
            );
        }
    }
    out.push('\n');
    for (id, g) in &cfg.groups {
        let members = join(g.members.iter().map(Userid::as_str));
        line(
            &mut out,
            &["group", id.as_str(), &members, &encode_text(&g.comment)],
        );
    }
    out.push('\n');
    for (id, p) in &cfg.pools {
        let vms = join(p.vms.iter().map(String::as_str));
        let storage = join(p.storage.iter().map(String::as_str));
        line(
            &mut out,
            &[
                "pool",
                id.as_str(),
                &encode_text(&p.comment),
                &vms,
                &storage,
            ],
        );
    }
    out.push('\n');
    for (id, privs) in &cfg.roles {
        line(&mut out, &["role", id.as_str(), &privs.to_string()]);
    }
    out.push('\n');
    out
}

/// The `acl` lines of one path: members sharing an identical role list share a line; all
/// non-propagating lines first, then propagating ones, each ordered by role-list text.
pub(super) fn write_acl_node(out: &mut String, path: &str, node: &AclNode) {
    let mut members: Vec<(Member<'_>, &BTreeMap<RoleId, bool>)> = Vec::with_capacity(node.len());
    for (g, roles) in &node.groups {
        members.push((Member("@", g.as_str()), roles));
    }
    for (u, roles) in &node.users {
        // root@pam passes every check anyway; Proxmox never writes its entries.
        if !u.is_root() {
            members.push((Member("", u.as_str()), roles));
        }
    }
    for (t, roles) in &node.tokens {
        members.push((Member("", t.as_str()), roles));
    }
    write_grants(out, path, &members, |roles| {
        roles.iter().map(|(r, p)| (r.as_str(), *p))
    });
}

/// The `acl` lines of one path from its members, each with a key that `roles_of` turns into
/// the member's (role name, propagate) pairs in role order — a map node's, or the compact
/// table's ([`super::AclEdit`]): both write the same text.
///
/// Written without a string per member: a member is its (prefix, id) pair, a role list
/// borrows the role's name when it has one role (the usual case at a million entries).
pub(super) fn write_grants<'a, K: Copy, I>(
    out: &mut String,
    path: &str,
    members: &[(Member<'a>, K)],
    roles_of: impl Fn(K) -> I,
) where
    I: Iterator<Item = (&'a str, bool)> + Clone,
{
    // (propagate, role-list text, member) for every member with roles of that flag.
    let mut lines: Vec<(bool, Cow<'a, str>, Member<'a>)> = Vec::with_capacity(members.len());
    for &(member, key) in members {
        collect(&mut lines, member, roles_of(key));
    }
    lines.sort_unstable();
    let mut i = 0;
    while i < lines.len() {
        let (propagate, roles) = (lines[i].0, &lines[i].1);
        out.push_str("acl:");
        out.push_str(if propagate { "1" } else { "0" });
        out.push(':');
        out.push_str(path);
        out.push(':');
        let mut first = true;
        while i < lines.len() && lines[i].0 == propagate && lines[i].1 == *roles {
            if !first {
                out.push(',');
            }
            first = false;
            let Member(prefix, id) = lines[i].2;
            out.push_str(prefix);
            out.push_str(id);
            i += 1;
        }
        out.push(':');
        out.push_str(roles);
        out.push_str(":\n");
    }
}

/// Push `member`'s lines: its non-propagating roles, then its propagating ones.
fn collect<'a>(
    lines: &mut Vec<(bool, Cow<'a, str>, Member<'a>)>,
    member: Member<'a>,
    roles: impl Iterator<Item = (&'a str, bool)> + Clone,
) {
    for propagate in [false, true] {
        let matching = roles
            .clone()
            .filter(|(_, p)| *p == propagate)
            .map(|(r, _)| r);
        let mut peek = matching.clone();
        let Some(first) = peek.next() else {
            continue;
        };
        let list = match peek.next() {
            None => Cow::Borrowed(first),
            Some(_) => Cow::Owned(join(matching)),
        };
        lines.push((propagate, list, member));
    }
}

/// An acl line's member as written: `@` and a group id, or a user or token id. Orders as its
/// text does (byte order), as Proxmox sorts the written member texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member<'a>(pub(super) &'static str, pub(super) &'a str);

impl Ord for Member<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let mine = self.0.bytes().chain(self.1.bytes());
        mine.cmp(other.0.bytes().chain(other.1.bytes()))
    }
}

impl PartialOrd for Member<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn line(out: &mut String, fields: &[&str]) {
    for f in fields {
        out.push_str(f);
        out.push(':');
    }
    out.push('\n');
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(encode_text("Müller"), "M%C3%BCller");
        assert_eq!(encode_text("a: 100%"), "a%3A 100%25");
        assert_eq!(encode_text("tab\there"), "tab%09here");
    }
}
