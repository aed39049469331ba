//! Property: any configuration Proxmox can represent survives write → read unchanged, and the
//! written text is a fixed point (write → read → write gives the same bytes).
//!
//! "Can represent" excludes what Proxmox's own format loses: text fields with leading or
//! trailing whitespace (fields are trimmed on read) or equal to "0" (Perl-falsy), raw fields
//! containing `:`, and ids containing list separators.

use std::collections::{BTreeMap, BTreeSet};

use aclgate::access::{AclPath, PrivSet, Privilege};
use aclgate::config::UserConfig;
use aclgate::config::user_cfg::{AclNode, Group, Pool, Token, User};
use aclgate::identity::{GroupId, PoolId, RoleId, TokenName, Tokenid, Userid};
use proptest::prelude::*;

/// Text Proxmox round-trips: any printable or non-ASCII text without edge whitespace, not "0".
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 %:äöü€\t.@_-]{0,12}"
        .prop_map(|s| s.trim_matches(|c: char| c.is_ascii_whitespace()).to_owned())
        .prop_filter("Perl-falsy", |s| s != "0")
}

/// Raw fields (email, keys) are written unencoded: no `:` and no whitespace at the edges.
fn raw_text() -> impl Strategy<Value = String> {
    "[a-z0-9.@+_-]{0,10}".prop_filter("Perl-falsy", |s| s != "0")
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{1,6}"
}

fn userid() -> impl Strategy<Value = Userid> {
    (
        name(),
        prop::sample::select(vec!["pve", "pam", "ldap", "ad-corp"]),
    )
        .prop_map(|(n, r)| Userid::from_parts(&n, r).expect("generated userid"))
}

fn role_map(roles: Vec<RoleId>) -> impl Strategy<Value = BTreeMap<RoleId, bool>> {
    prop::collection::btree_map(prop::sample::select(roles), any::<bool>(), 1..3)
}

fn config() -> impl Strategy<Value = UserConfig> {
    let users = prop::collection::btree_map(
        userid(),
        (
            any::<bool>(),
            0u64..5_000_000_000,
            (text(), text(), raw_text(), text(), raw_text()),
            prop::collection::btree_map(name(), (0u64..100, any::<bool>(), text()), 0..3),
        ),
        1..6,
    );
    let groups = prop::collection::btree_map(name(), (text(), 0..4usize), 0..4);
    let pools = prop::collection::btree_map(
        name(),
        (
            text(),
            prop::collection::btree_set(100u32..130, 0..4),
            prop::collection::btree_set("[a-z][a-z0-9_.-]{0,5}[a-z0-9]", 0..3),
        ),
        0..3,
    );
    let roles = prop::collection::btree_map(
        "[A-Z][a-z]{2,6}",
        prop::collection::btree_set(0..Privilege::NAMES.len(), 0..5),
        0..3,
    );
    (users, groups, pools, roles, any::<u64>())
        .prop_flat_map(|(users, groups, pools, roles, seed)| {
            let mut cfg = UserConfig::default();
            for (id, (enable, expire, (first, last, email, comment, keys), tokens)) in users {
                let tokens = tokens
                    .into_iter()
                    .map(|(n, (expire, privsep, comment))| {
                        (
                            n.parse::<TokenName>().expect("token name"),
                            Token {
                                expire,
                                privsep,
                                comment,
                            },
                        )
                    })
                    .collect();
                let user = User {
                    enable,
                    expire,
                    firstname: first,
                    lastname: last,
                    email,
                    comment,
                    keys,
                    tokens,
                };
                cfg.users.insert(id, user);
            }
            cfg.users
                .entry("root@pam".parse().expect("root"))
                .or_default();
            let members: Vec<Userid> = cfg.users.keys().cloned().collect();
            for (i, (gid, (comment, n))) in groups.into_iter().enumerate() {
                let picked = members
                    .iter()
                    .cycle()
                    .skip(i + seed as usize % 7)
                    .take(n)
                    .cloned();
                let group = Group {
                    members: picked.collect(),
                    comment,
                };
                cfg.groups
                    .insert(gid.parse::<GroupId>().expect("group id"), group);
            }
            let mut claimed = BTreeSet::new();
            for (pid, (comment, vms, storage)) in pools {
                let vms = vms
                    .into_iter()
                    .map(|v| v.to_string())
                    .filter(|v| claimed.insert(v.clone()))
                    .collect();
                let pool = Pool {
                    comment,
                    vms,
                    storage,
                };
                cfg.pools
                    .insert(pid.parse::<PoolId>().expect("pool id"), pool);
            }
            for (rid, privs) in roles {
                let set: PrivSet = privs
                    .into_iter()
                    .map(|i| Privilege::NAMES[i].parse::<Privilege>().expect("priv"))
                    .collect();
                cfg.roles
                    .insert(rid.parse::<RoleId>().expect("role id"), set);
            }
            let all_roles: Vec<RoleId> = ["PVEAuditor", "NoAccess", "Administrator"]
                .into_iter()
                .map(|r| r.parse().expect("role"))
                .chain(cfg.roles.keys().cloned())
                .collect();
            let tokens: Vec<Tokenid> = cfg
                .users
                .iter()
                .flat_map(|(u, user)| user.tokens.keys().map(move |t| Tokenid::new(u, t)))
                .collect();
            let paths = prop::sample::select(vec![
                "/",
                "/vms",
                "/vms/100",
                "/vms-x",
                "/storage/local",
                "/pool/p1/sub",
            ]);
            let acl_entries = prop::collection::vec(
                (
                    paths,
                    0..3usize,
                    prop::sample::select(members.clone()),
                    prop::sample::select(if tokens.is_empty() {
                        members.iter().map(|m| m.to_string()).collect::<Vec<_>>()
                    } else {
                        tokens.iter().map(|t| t.to_string()).collect()
                    }),
                    name(),
                    role_map(all_roles),
                ),
                0..8,
            );
            (Just(cfg), acl_entries)
        })
        .prop_map(|(mut cfg, entries)| {
            for (path, kind, user, token, group, roles) in entries {
                let node: &mut AclNode = cfg
                    .acl
                    .entry(AclPath::normalize(path).expect("path"))
                    .or_default();
                match kind {
                    0 if !user.is_root() => node.users.entry(user).or_default().extend(roles),
                    1 => match token.parse::<Tokenid>() {
                        Ok(t) => node.tokens.entry(t).or_default().extend(roles),
                        Err(_) => continue,
                    },
                    _ => node
                        .groups
                        .entry(group.parse().expect("group"))
                        .or_default()
                        .extend(roles),
                }
            }
            cfg.acl.retain(|_, n| !n.is_empty());
            cfg
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn write_then_read_is_identity(cfg in config()) {
        let text = cfg.write();
        let (back, _warnings) = UserConfig::parse(&text);
        prop_assert_eq!(&back, &cfg, "written text:\n{}", text);
        prop_assert_eq!(back.write(), text);
    }
}
