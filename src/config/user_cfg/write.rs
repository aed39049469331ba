//! Proxmox's canonical `user.cfg` writer (spec §2.1, `PVE::AccessControl::write_user_config`).
//!
//! Same order and encoding as Proxmox, so a canonical file round-trips byte for byte and Proxmox
//! tooling reads what we write: users (each followed by its tokens), groups, pools, custom roles,
//! then ACL lines in tree order, each section closed by a blank line.

use std::collections::{BTreeMap, BTreeSet};

use super::{AclNode, UserConfig};
use crate::config::text::encode_text;
use crate::identity::{RoleId, Userid};

pub(super) fn write(cfg: &UserConfig) -> String {
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
    for (path, node) in &cfg.acl {
        write_acl_node(&mut out, path.as_str(), node);
    }
    out
}

/// The `acl` lines of one path: members sharing an identical role list share a line; all
/// non-propagating lines first, then propagating ones, each ordered by role-list text.
fn write_acl_node(out: &mut String, path: &str, node: &AclNode) {
    // [propagate] role-list text → member texts (sorted as written, `@` prefix included).
    let mut lines: [BTreeMap<String, BTreeSet<String>>; 2] = Default::default();
    let mut collect = |member: String, roles: &BTreeMap<RoleId, bool>| {
        for propagate in [false, true] {
            let list = join(
                roles
                    .iter()
                    .filter(|(_, p)| **p == propagate)
                    .map(|(r, _)| r.as_str()),
            );
            if !list.is_empty() {
                lines[usize::from(propagate)]
                    .entry(list)
                    .or_default()
                    .insert(member.clone());
            }
        }
    };
    for (g, roles) in &node.groups {
        collect(format!("@{}", g.as_str()), roles);
    }
    for (u, roles) in &node.users {
        // root@pam passes every check anyway; Proxmox never writes its entries.
        if !u.is_root() {
            collect(u.as_str().to_owned(), roles);
        }
    }
    for (t, roles) in &node.tokens {
        collect(t.as_str().to_owned(), roles);
    }
    for (propagate, by_roles) in lines.iter().enumerate() {
        for (roles, members) in by_roles {
            let members = join(members.iter().map(String::as_str));
            line(out, &["acl", &propagate.to_string(), path, &members, roles]);
        }
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
