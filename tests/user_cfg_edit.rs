//! The writers' model of `user.cfg` ([`UserConfigEdit`]: ACL entries compact as read, only the
//! touched paths as map nodes) against the map-shaped [`UserConfig`] it replaces in
//! `StateDir::modify` (docs/scale.md, "Writes"): on random states and random sequences of the
//! manage functions the CLI and the API call, both accept and refuse the same edits with the
//! same messages, write byte-identical files, hold the same entries, and the changes handed to
//! a gateway turn the state read into the state written.

use aclgate::config::UserConfig;
use aclgate::config::user_cfg::{AclEntries, UserConfigEdit};
use aclgate::config::{StateError, TokenShadow};
use aclgate::identity::Userid;
use aclgate::manage::acl::{AclRequest, AclUpdate};
use aclgate::manage::{group, pool, role, token, user};
use proptest::prelude::*;

const USERS: &[&str] = &["u0@pve", "u1@pve", "u2@pam", "root@pam", "ghost@pve"];
const TOKENS: &[&str] = &["u0@pve!t0", "u0@pve!t1", "u1@pve!t0", "root@pam!rt"];
const GROUPS: &[&str] = &["g0", "g1", "nogroup"];
const ROLES: &[&str] = &[
    "PVEAuditor",
    "PVEVMAdmin",
    "NoAccess",
    "R1",
    "R2",
    "Missing",
];
const PATHS: &[&str] = &[
    "/",
    "/vms",
    "/vms/100",
    "/vms//101/",
    "/vms/101",
    "/storage/local",
    "/pool/p1",
    "/pool/p2",
    "/bad path",
];

/// A random state as user.cfg text: duplicate entries, several members and roles per line,
/// two spellings of one path, undefined members, root@pam's entries (never written).
fn state() -> impl Strategy<Value = String> {
    let acl = prop::collection::vec(
        (
            0..PATHS.len(),
            prop::collection::vec(0..(USERS.len() + GROUPS.len() + TOKENS.len()), 1..3),
            prop::collection::vec(0..ROLES.len(), 1..3),
            any::<bool>(),
        ),
        0..16,
    );
    (prop::collection::vec(any::<bool>(), TOKENS.len()), acl).prop_map(|(tokens, acl)| {
        let mut text = String::new();
        for u in &USERS[..4] {
            text += &format!("user:{u}:1:0::::::\n");
        }
        for (t, on) in TOKENS.iter().zip(tokens) {
            if on {
                text += &format!("token:{t}:0:1::\n");
            }
        }
        text += "group:g0:u0@pve,u1@pve::\ngroup:g1:u2@pam::\n";
        text += "pool:p1:::\npool:p2:::\n";
        text += "role:R1:VM.Audit:\nrole:R2:Sys.Audit,VM.Console:\n";
        for (p, members, roles, propagate) in acl {
            let members: Vec<String> = members.into_iter().map(member_text).collect();
            let roles: Vec<&str> = roles.into_iter().map(|r| ROLES[r]).collect();
            text += &format!(
                "acl:{}:{}:{}:{}:\n",
                u8::from(propagate),
                PATHS[p],
                members.join(","),
                roles.join(",")
            );
        }
        text
    })
}

fn member_text(m: usize) -> String {
    if m < USERS.len() {
        USERS[m].to_owned()
    } else if m < USERS.len() + GROUPS.len() {
        format!("@{}", GROUPS[m - USERS.len()])
    } else {
        TOKENS[m - USERS.len() - GROUPS.len()].to_owned()
    }
}

/// One writer operation, as the CLI and the API run them.
#[derive(Debug, Clone)]
enum Op {
    Acl {
        path: usize,
        users: Option<usize>,
        groups: Option<usize>,
        tokens: Option<usize>,
        roles: (usize, Option<usize>),
        propagate: bool,
        delete: bool,
    },
    DeleteToken(usize),
    DeleteUser(usize),
    DeleteGroup(usize),
    DeleteRole(usize),
    DeletePool(usize),
    RemoveUserAcl(usize),
    AddToken(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let acl = (
        0..PATHS.len(),
        prop::option::of(0..USERS.len()),
        prop::option::of(0..GROUPS.len()),
        prop::option::of(0..TOKENS.len()),
        (0..ROLES.len(), prop::option::of(0..ROLES.len())),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(path, users, groups, tokens, roles, propagate, delete)| Op::Acl {
                path,
                users,
                groups,
                tokens,
                roles,
                propagate,
                delete,
            },
        );
    prop_oneof![
        4 => acl,
        1 => (0..TOKENS.len()).prop_map(Op::DeleteToken),
        1 => (0..USERS.len()).prop_map(Op::DeleteUser),
        1 => (0..GROUPS.len()).prop_map(Op::DeleteGroup),
        1 => (0..ROLES.len()).prop_map(Op::DeleteRole),
        1 => (0..2usize).prop_map(Op::DeletePool),
        1 => (0..USERS.len()).prop_map(Op::RemoveUserAcl),
        1 => (0..TOKENS.len()).prop_map(Op::AddToken),
    ]
}

/// Run `op` on either model (the same manage functions, generic over how entries are held).
fn run<A: AclEntries>(cfg: &mut UserConfig<A>, op: &Op) -> Result<(), String> {
    let mut shadow = TokenShadow::default();
    let out: Result<(), StateError> = match op {
        Op::Acl {
            path,
            users,
            groups,
            tokens,
            roles,
            propagate,
            delete,
        } => {
            let role_list = match roles.1 {
                Some(r) => format!("{},{}", ROLES[roles.0], ROLES[r]),
                None => ROLES[roles.0].to_owned(),
            };
            AclUpdate::parse(&AclRequest {
                path: PATHS[*path],
                roles: Some(&role_list),
                users: users.map(|u| USERS[u]),
                groups: groups.map(|g| GROUPS[g]),
                tokens: tokens.map(|t| TOKENS[t]),
                propagate: *propagate,
                delete: *delete,
            })
            .and_then(|update| update.apply(cfg))
        }
        Op::DeleteToken(t) => {
            let id: aclgate::identity::Tokenid = TOKENS[*t].parse().expect("token literal");
            let name = id.name().parse().expect("token name");
            token::delete_token(cfg, &mut shadow, &id.user(), &name)
        }
        Op::DeleteUser(u) => user::delete_user(cfg, &mut shadow, &userid(*u)),
        Op::DeleteGroup(g) => group::delete_group(cfg, &GROUPS[*g].parse().expect("group")),
        Op::DeleteRole(r) => role::delete_role(cfg, &ROLES[*r].parse().expect("role")),
        Op::DeletePool(p) => pool::delete_pool(cfg, &["p1", "p2"][*p].parse().expect("pool")),
        Op::RemoveUserAcl(u) => {
            cfg.remove_user_acl(&userid(*u));
            Ok(())
        }
        Op::AddToken(t) => {
            let id: aclgate::identity::Tokenid = TOKENS[*t].parse().expect("token literal");
            let name = id.name().parse().expect("token name");
            let fields = token::TokenFields {
                privsep: None,
                expire: None,
                comment: None,
                allowed_ips: None,
                rate_limit: None,
                rate_burst: None,
            };
            let mut options = Default::default();
            token::add_token(cfg, &mut shadow, &mut options, &id.user(), &name, &fields).map(|_| ())
        }
    };
    out.map_err(|e| e.to_string())
}

fn userid(u: usize) -> Userid {
    USERS[u].parse().expect("user literal")
}

/// Edit `text` both ways with `ops`; everything observable must agree.
fn same_edits(text: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut map, _) = UserConfig::parse(text);
    let (mut edit, _): (UserConfigEdit, _) = UserConfig::parse_edit(text);
    prop_assert_eq!(edit.write_edit(), map.write(), "unedited: the same text");
    let read = map.clone();
    let (bare, _, _) = UserConfig::parse_split(text);
    for (i, op) in ops.iter().enumerate() {
        let a = run(&mut map, op);
        let b = run(&mut edit, op);
        prop_assert_eq!(&a, &b, "op {} {:?}", i, op);
        prop_assert_eq!(
            edit.write_edit(),
            map.write(),
            "text after op {} {:?}",
            i,
            op
        );
    }
    prop_assert_eq!(edit.to_config(), map.clone(), "entries after {:?}", ops);
    let unedited = UserConfig::parse_edit(text).0;
    prop_assert_eq!(
        edit == unedited,
        map == read,
        "edited-or-not agrees after {:?}",
        ops
    );
    // The changes a writer hands to the gateway, from the compact entries it read.
    let changes = bare.changes_to_edit(&edit);
    let reference = read.changes_to(&map);
    prop_assert_eq!(changes.is_some(), reference.is_some());
    if let Some(changes) = changes {
        let mut applied = read.clone();
        for c in &changes {
            prop_assert!(applied.apply(c).is_ok(), "{:?} applies", c);
        }
        prop_assert_eq!(&applied, &map, "changes {:?}", changes);
        prop_assert_eq!(changes.len(), reference.map_or(0, |r| r.len()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn edit_writes_and_changes_as_the_map(text in state(), ops in prop::collection::vec(op(), 0..8)) {
        same_edits(&text, &ops)?;
    }
}

/// A file with duplicates, two spellings of a path and root@pam's entries is written the
/// canonical way from the table; one entry edited changes only its line.
#[test]
fn canonical_text_from_the_table() {
    let text = "user:u0@pve:1:0::::::\nuser:u1@pve:1:0::::::\ngroup:g0:u1@pve::\n\
                acl:1:/vms//:u0@pve,@g0:PVEAuditor,PVEVMAdmin:\nacl:0:/vms:u0@pve:PVEAuditor:\n\
                acl:1:/:root@pam,u1@pve:NoAccess:\nacl:1:/vms/100:u1@pve:PVEAuditor:\n";
    let (map, _) = UserConfig::parse(text);
    let (mut edit, _) = UserConfig::parse_edit(text);
    assert_eq!(edit.write_edit(), map.write());
    let update = AclUpdate::parse(&AclRequest {
        path: "/vms/100",
        roles: Some("PVEAuditor"),
        users: Some("u1@pve"),
        groups: None,
        tokens: None,
        propagate: true,
        delete: true,
    })
    .expect("request");
    update.apply(&mut edit).expect("applies");
    let written = edit.write_edit();
    assert!(!written.contains("/vms/100"), "{written}");
    assert_eq!(
        written.lines().filter(|l| l.starts_with("acl:")).count(),
        map.write()
            .lines()
            .filter(|l| l.starts_with("acl:"))
            .count()
            - 1
    );
}
