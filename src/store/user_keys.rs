//! `user.cfg` as one etcd object per entry (docs/etcd.md, "Key layout"): a user, a token, a
//! group, a pool, a custom role, and a single (path, member, role) ACL entry each get a key
//! whose value is that entry written as a `user.cfg` line. A change touches only its keys, and
//! no value grows with the state.
//!
//! Decoding concatenates the lines (users, then tokens, groups, pools, roles, ACL entries),
//! reads them with the same lenient parser as the file and writes the canonical file, so a
//! canonical `user.cfg` survives files → etcd → files byte for byte.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::UserConfig;
use crate::config::text::encode_text;

/// Key kinds (the first key component under `<prefix>/v1/`) that make up `user.cfg`, in the
/// order their lines are read back.
pub const KINDS: [&str; 6] = ["user", "token", "group", "pool", "role", "acl"];

/// The objects of `cfg`: relative key → the entry's `user.cfg` line.
pub fn encode(cfg: &UserConfig, out: &mut BTreeMap<String, Vec<u8>>) {
    for (userid, u) in &cfg.users {
        let fields = [
            userid.as_str(),
            flag(u.enable),
            &u.expire.to_string(),
            &encode_text(&u.firstname),
            &encode_text(&u.lastname),
            &u.email,
            &encode_text(&u.comment),
            &u.keys,
        ];
        out.insert(format!("user/{userid}"), line("user", &fields));
        for (name, t) in &u.tokens {
            let id = format!("{}!{}", userid.as_str(), name.as_str());
            let fields = [
                id.as_str(),
                &t.expire.to_string(),
                flag(t.privsep),
                &encode_text(&t.comment),
            ];
            out.insert(format!("token/{id}"), line("token", &fields));
        }
    }
    for (id, g) in &cfg.groups {
        let members = join(g.members.iter().map(|m| m.as_str()));
        let fields = [id.as_str(), &members, &encode_text(&g.comment)];
        out.insert(format!("group/{id}"), line("group", &fields));
    }
    for (id, p) in &cfg.pools {
        let vms = join(p.vms.iter().map(String::as_str));
        let storage = join(p.storage.iter().map(String::as_str));
        let fields = [id.as_str(), &encode_text(&p.comment), &vms, &storage];
        out.insert(format!("pool/{id}"), line("pool", &fields));
    }
    for (id, privs) in &cfg.roles {
        let fields = [id.as_str(), &privs.to_string()];
        out.insert(format!("role/{id}"), line("role", &fields));
    }
    for (path, node) in &cfg.acl {
        let members = node
            .groups
            .iter()
            .map(|(g, r)| (format!("@{g}"), r))
            // root@pam passes every check anyway; the file writer never writes its entries.
            .chain(
                node.users
                    .iter()
                    .filter(|(u, _)| !u.is_root())
                    .map(|(u, r)| (u.to_string(), r)),
            )
            .chain(node.tokens.iter().map(|(t, r)| (t.to_string(), r)));
        for (member, roles) in members {
            for (role, propagate) in roles {
                let value = format!("acl:{}:{path}:{member}:{role}:\n", flag(*propagate));
                out.insert(
                    acl_key(&member, role.as_str(), path.as_str()),
                    value.into_bytes(),
                );
            }
        }
    }
}

/// `acl/<bucket>/<member>/<role><path>`: one member's entries share a bucket (two hex digits
/// of a hash of the member), so a load reads 256 ranges of bounded size (docs/etcd.md).
pub fn acl_key(member: &str, role: &str, path: &str) -> String {
    format!("acl/{}/{member}/{role}{path}", bucket(member))
}

/// The bucket of an ACL member (`@group`, `user@realm`, `user@realm!token`).
pub fn bucket(member: &str) -> String {
    let digest = Sha256::digest(member.as_bytes());
    format!("{:02x}", digest[0])
}

/// Whether `objects` hold any `user.cfg` entry.
pub fn present(objects: &BTreeMap<String, Vec<u8>>) -> bool {
    KINDS.iter().any(|kind| {
        let start = format!("{kind}/");
        objects
            .range(start.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&start))
    })
}

/// The `user.cfg` lines held by `objects`, in reading order (users before their tokens, roles
/// before the ACL entries that name them).
pub fn lines(objects: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut text = Vec::new();
    for kind in KINDS {
        let start = format!("{kind}/");
        for (_, value) in objects
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
        {
            text.extend_from_slice(value);
        }
    }
    text
}

/// The canonical `user.cfg` held by `objects` (lines the lenient reader skips are dropped, as a
/// file's would be).
pub fn decode(objects: &BTreeMap<String, Vec<u8>>) -> String {
    let text = lines(objects);
    let (cfg, _) = UserConfig::parse(&String::from_utf8_lossy(&text));
    cfg.write()
}

fn line(kind: &str, fields: &[&str]) -> Vec<u8> {
    let mut out = String::from(kind);
    out.push(':');
    for f in fields {
        out.push_str(f);
        out.push(':');
    }
    out.push('\n');
    out.into_bytes()
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = "user:joe@pve:1:0:J%C3%B6e:Doe:joe@example.com:a%3Ab::\n\
        token:joe@pve!ci:0:1:for CI:\n\
        user:root@pam:1:0::::::\n\
        \n\
        group:ops:joe@pve::\n\
        \n\
        pool:p1::100,101:local:\n\
        \n\
        role:Custom:VM.Audit,VM.PowerMgmt:\n\
        \n\
        acl:0:/:@ops:Custom:\n\
        acl:1:/vms:joe@pve!ci:Custom:\n\
        acl:1:/vms:@ops,joe@pve:PVEAuditor:\n";

    #[test]
    fn canonical_file_round_trips_byte_for_byte() {
        let (cfg, warnings) = UserConfig::parse(CANONICAL);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.write(), CANONICAL, "the fixture is canonical");
        let mut objects = BTreeMap::new();
        encode(&cfg, &mut objects);
        // One object per entry: 2 users, 1 token, 1 group, 1 pool, 1 role, 4 ACL entries.
        assert_eq!(
            objects.len(),
            10,
            "{:?}",
            objects.keys().collect::<Vec<_>>()
        );
        assert!(objects.contains_key("token/joe@pve!ci"));
        assert!(objects.contains_key(&acl_key("@ops", "PVEAuditor", "/vms")));
        assert_eq!(decode(&objects), CANONICAL);
    }

    #[test]
    fn an_acl_entry_for_a_deleted_role_is_skipped_as_in_a_file() {
        let (cfg, _) = UserConfig::parse(CANONICAL);
        let mut objects = BTreeMap::new();
        encode(&cfg, &mut objects);
        objects.remove("role/Custom");
        let text = decode(&objects);
        assert!(!text.contains("Custom"), "{text}");
        assert!(
            text.contains("acl:1:/vms:@ops,joe@pve:PVEAuditor:"),
            "{text}"
        );
    }
}
