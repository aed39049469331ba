//! One table row per rule of the permission algorithm (spec §4.3–§4.8), in the style of the
//! worked examples of spec §4.10: a small `user.cfg`, an authid, a path, and the exact expected
//! `{privilege: propagate flag}` map (or `roles()` map). The configurations go through the real
//! reader, so a row also pins down how the file's lines turn into entries.

use std::collections::BTreeMap;

use aclgate::access::{Engine, PrivSet};
use aclgate::config::UserConfig;
use aclgate::identity::Authid;

/// What a row expects.
#[derive(Clone, Copy)]
enum Want {
    /// `privs(authid, path)`: privilege → flag (0/1); anything not listed must be absent.
    Privs(&'static [(&'static str, u8)]),
    /// `roles(authid, path)`: role → flag.
    Roles(&'static [(&'static str, u8)]),
    /// Every one of the 47 privileges, each with flag 1.
    All,
}
use Want::{All, Privs, Roles};

/// The `user.cfg` from spec §4.10 "Extra example", one line per record.
const EXTRA: &str = "\
user:ann@pve:1:0::::::
token:ann@pve!ro::1::
group:ops:ann@pve:
role:R1:VM.Audit,VM.PowerMgmt:
role:R2:VM.Console:
role:R3:VM.Audit:
acl:1:/vms:ann@pve:R1:
acl:1:/vms/100:@ops:R2:
acl:0:/vms/200:ann@pve:R2:
acl:0:/storage:ann@pve:PVEDatastoreUser:
acl:1:/storage/local:@ops:R3:
acl:1:/:ann@pve!ro:PVEAuditor:
";

/// Users and roles shared by most rows: R1 = VM.Audit, R2 = VM.Console, R12 = both.
const BASE: &str = "\
user:u@pve:1:
group:g:u@pve:
group:g2:u@pve:
role:R1:VM.Audit:
role:R2:VM.Console:
role:R12:VM.Audit,VM.Console:
";

#[test]
fn spec_4_10_extra_example() {
    let rows: &[(&str, &str, Want)] = &[
        // The deeper group entry replaces the inherited user entry R1.
        ("ann@pve", "/vms/100", Privs(&[("VM.Console", 1)])),
        ("ann@pve", "/vms/200", Privs(&[("VM.Console", 0)])),
        (
            "ann@pve",
            "/vms/200/x",
            Privs(&[("VM.Audit", 1), ("VM.PowerMgmt", 1)]),
        ),
        (
            "ann@pve",
            "/storage",
            Privs(&[("Datastore.AllocateSpace", 0), ("Datastore.Audit", 0)]),
        ),
        ("ann@pve", "/storage/other", Privs(&[])),
        ("ann@pve!ro", "/vms/101", Privs(&[("VM.Audit", 1)])),
        // The owner lacks VM.Audit there.
        ("ann@pve!ro", "/vms/100", Privs(&[])),
        // 1 AND 0.
        ("ann@pve!ro", "/storage", Privs(&[("Datastore.Audit", 0)])),
    ];
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|&(who, path, want)| check("extra example", EXTRA, who, path, want))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rules() {
    let failures: Vec<String> = cases()
        .into_iter()
        .filter_map(|c| check(c.name, &c.cfg, c.authid, c.path, c.want))
        .collect();
    assert!(
        failures.is_empty(),
        "{} rule row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct Case {
    name: &'static str,
    cfg: String,
    authid: &'static str,
    path: &'static str,
    want: Want,
}

/// A row on `BASE` plus `extra` lines.
fn on(
    name: &'static str,
    extra: &str,
    authid: &'static str,
    path: &'static str,
    want: Want,
) -> Case {
    Case {
        name,
        cfg: format!("{BASE}{extra}"),
        authid,
        path,
        want,
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let tokens = "\
token:u@pve!full::0:
token:u@pve!sep::1:
acl:1:/vms:u@pve:R12:
acl:0:/vms/100:u@pve:R12:
acl:1:/vms:u@pve!full:Administrator:
acl:1:/vms:u@pve!sep:Administrator:
acl:0:/vms/200:u@pve!sep:R1:
";
    let root_tokens = "\
user:root@pam:1:
token:root@pam!full::0:
token:root@pam!sep::1:
acl:1:/vms:root@pam!sep:R1:
acl:1:/:root@pam:NoAccess:
";
    let pool = "pool:p::100:local:\n";
    let nested = "pool:a::100::\npool:a/b::200::\n";
    vec![
        // §4.3 rule 2: propagate=0 applies at its exact path only.
        on("acl:0 exact", "acl:0:/vms:u@pve:R1:\n", "u@pve", "/vms", Privs(&[("VM.Audit", 0)])),
        on("acl:0 not below", "acl:0:/vms:u@pve:R1:\n", "u@pve", "/vms/100", Privs(&[])),
        on("acl:0 not above", "acl:0:/vms:u@pve:R1:\n", "u@pve", "/", Privs(&[])),
        // ... and is invisible at intermediate nodes: inherited roles continue below it.
        on("acl:0 replaces at exact path", "acl:1:/:u@pve:R1:\nacl:0:/vms:u@pve:R2:\n",
           "u@pve", "/vms", Privs(&[("VM.Console", 0)])),
        on("acl:0 invisible to inherited", "acl:1:/:u@pve:R1:\nacl:0:/vms:u@pve:R2:\n",
           "u@pve", "/vms/100", Privs(&[("VM.Audit", 1)])),
        // ... and, not being applicable there, lets the node's group entries count.
        on("acl:0 user at exact beats group", "acl:0:/vms:u@pve:R2:\nacl:1:/vms:@g:R1:\n",
           "u@pve", "/vms", Privs(&[("VM.Console", 0)])),
        on("acl:0 user invisible, group counts", "acl:0:/vms:u@pve:R2:\nacl:1:/vms:@g:R1:\n",
           "u@pve", "/vms/100", Privs(&[("VM.Audit", 1)])),
        // §4.3 rule 4: the root node is final, so acl:0:/ applies to / only.
        on("acl:0:/ at /", "acl:0:/:u@pve:R1:\n", "u@pve", "/", Privs(&[("VM.Audit", 0)])),
        on("acl:0:/ not below", "acl:0:/:u@pve:R1:\n", "u@pve", "/vms", Privs(&[])),
        // §4.6: a privilege's flag is 1 if any role giving it propagates (acl:0 + acl:1 combine).
        on("flags OR across roles", "acl:0:/vms:u@pve:R12:\nacl:1:/vms:u@pve:R1:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1), ("VM.Console", 0)])),
        // §4.3 rule 3: user beats group at the same node.
        on("user beats group", "acl:1:/vms:@g:R1:\nacl:1:/vms:u@pve:R2:\n",
           "u@pve", "/vms/1", Privs(&[("VM.Console", 1)])),
        // §4.3 rule 1: a deeper group entry replaces an inherited user entry.
        on("deeper group replaces user", "acl:1:/vms:u@pve:R1:\nacl:1:/vms/100:@g:R2:\n",
           "u@pve", "/vms/100", Privs(&[("VM.Console", 1)])),
        on("sibling keeps inherited user", "acl:1:/vms:u@pve:R1:\nacl:1:/vms/100:@g:R2:\n",
           "u@pve", "/vms/101", Privs(&[("VM.Audit", 1)])),
        // Several groups at one node are unioned.
        on("union of groups", "acl:1:/vms:@g:R1:\nacl:1:/vms:@g2:R2:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1), ("VM.Console", 1)])),
        on("union of groups, flags kept apart", "acl:1:/vms:@g:R1:\nacl:0:/vms:@g2:R2:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1), ("VM.Console", 0)])),
        on("union of groups below: only propagating ones", "acl:1:/vms:@g:R1:\nacl:0:/vms:@g2:R2:\n",
           "u@pve", "/vms/1", Privs(&[("VM.Audit", 1)])),
        // Same role from two groups with different flags: PVE keeps either; we OR them.
        on("same role two groups: flags OR", "acl:1:/vms:@g:R1:\nacl:0:/vms:@g2:R1:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1)])),
        // §4.4 NoAccess.
        on("user NoAccess beats group role at same node", "acl:1:/vms:@g:R1:\nacl:1:/vms:u@pve:NoAccess:\n",
           "u@pve", "/vms/1", Privs(&[])),
        on("group NoAccess at deeper node", "acl:1:/:u@pve:PVEAuditor:\nacl:1:/vms:@g:NoAccess:\n",
           "u@pve", "/vms", Privs(&[])),
        on("NoAccess cancels roles beside it", "acl:1:/vms:u@pve:NoAccess,R12:\n",
           "u@pve", "/vms", Privs(&[])),
        on("NoAccess propagates", "acl:1:/:u@pve:R1:\nacl:1:/vms:u@pve:NoAccess:\n",
           "u@pve", "/vms/101", Privs(&[])),
        on("NoAccess roles() map", "acl:1:/:u@pve:R1:\nacl:1:/vms:u@pve:NoAccess,R2:\n",
           "u@pve", "/vms/101", Roles(&[("NoAccess", 1)])),
        on("deeper grant re-opens", "acl:1:/vms:u@pve:NoAccess:\nacl:1:/vms/100:u@pve:R1:\n",
           "u@pve", "/vms/100", Privs(&[("VM.Audit", 1)])),
        on("acl:0 NoAccess only at its path", "acl:1:/:u@pve:R1:\nacl:0:/vms:u@pve:NoAccess:\n",
           "u@pve", "/vms/1", Privs(&[("VM.Audit", 1)])),
        on("acl:0 NoAccess at its path", "acl:1:/:u@pve:R1:\nacl:0:/vms:u@pve:NoAccess:\n",
           "u@pve", "/vms", Privs(&[])),
        // §4.5 pools: exact member paths only, never propagating.
        on("pool role on member VM", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100", Privs(&[("VM.Console", 0)])),
        on("pool role on member storage", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/storage/local", Privs(&[("VM.Console", 0)])),
        on("pool role on the pool path itself", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/pool/p", Privs(&[("VM.Console", 1)])),
        on("no pool role on /vms", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms", Privs(&[])),
        on("no pool role below member path", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100/x", Privs(&[])),
        on("no pool role on non-member", &format!("{pool}acl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/101", Privs(&[])),
        on("pool roles join normal roles, never propagating", &format!("{pool}acl:1:/vms:u@pve:R1:\nacl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100", Privs(&[("VM.Audit", 1), ("VM.Console", 0)])),
        on("pool role already set keeps its flag", &format!("{pool}acl:1:/vms:u@pve:R2:\nacl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100", Privs(&[("VM.Console", 1)])),
        on("roles() leaves pool roles out", &format!("{pool}acl:1:/vms:u@pve:R1:\nacl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100", Roles(&[("R1", 1)])),
        on("pool NoAccess beats normal roles", &format!("{pool}acl:1:/vms:u@pve:R1:\nacl:1:/pool/p:u@pve:NoAccess:\n"),
           "u@pve", "/vms/100", Privs(&[])),
        on("pool NoAccess only on members", &format!("{pool}acl:1:/vms:u@pve:R1:\nacl:1:/pool/p:u@pve:NoAccess:\n"),
           "u@pve", "/vms/101", Privs(&[("VM.Audit", 1)])),
        on("normal NoAccess beats pool roles", &format!("{pool}acl:1:/vms:u@pve:NoAccess:\nacl:1:/pool/p:u@pve:R2:\n"),
           "u@pve", "/vms/100", Privs(&[])),
        on("nested pool: propagated parent role reaches child members", &format!("{nested}acl:1:/pool/a:u@pve:R1:\n"),
           "u@pve", "/vms/200", Privs(&[("VM.Audit", 0)])),
        on("nested pool: child role does not reach parent members", &format!("{nested}acl:1:/pool/a/b:u@pve:R2:\n"),
           "u@pve", "/vms/100", Privs(&[])),
        on("nested pool: child role on child member", &format!("{nested}acl:1:/pool/a/b:u@pve:R2:\n"),
           "u@pve", "/vms/200", Privs(&[("VM.Console", 0)])),
        on("nested pool: acl:0 on parent stays with parent", &format!("{nested}acl:0:/pool/a:u@pve:R1:\n"),
           "u@pve", "/vms/200", Privs(&[])),
        on("nested pool: acl:0 on parent reaches its own members", &format!("{nested}acl:0:/pool/a:u@pve:R1:\n"),
           "u@pve", "/vms/100", Privs(&[("VM.Audit", 0)])),
        on("storage in two pools: union", "pool:p1:::s1:\npool:p2:::s1:\nacl:1:/pool/p1:u@pve:R1:\nacl:1:/pool/p2:u@pve:R2:\n",
           "u@pve", "/storage/s1", Privs(&[("VM.Audit", 0), ("VM.Console", 0)])),
        on("storage in two pools: NoAccess in one wins", "pool:p1:::s1:\npool:p2:::s1:\nacl:1:/pool/p1:u@pve:R1:\nacl:1:/pool/p2:u@pve:NoAccess:\n",
           "u@pve", "/storage/s1", Privs(&[])),
        // §4.7 tokens.
        on("privsep 0 mirrors owner, own ACL ignored", tokens,
           "u@pve!full", "/vms", Privs(&[("VM.Audit", 1), ("VM.Console", 1)])),
        on("privsep 0 mirrors owner's acl:0", tokens,
           "u@pve!full", "/vms/100", Privs(&[("VM.Audit", 0), ("VM.Console", 0)])),
        on("privsep 0 roles() = owner's", tokens, "u@pve!full", "/vms", Roles(&[("R12", 1)])),
        on("privsep 1: intersection with owner", tokens,
           "u@pve!sep", "/vms", Privs(&[("VM.Audit", 1), ("VM.Console", 1)])),
        on("privsep 1: flag = token AND owner (owner 0)", tokens,
           "u@pve!sep", "/vms/100", Privs(&[("VM.Audit", 0), ("VM.Console", 0)])),
        on("privsep 1: flag = token AND owner (token 0)", tokens,
           "u@pve!sep", "/vms/200", Privs(&[("VM.Audit", 0)])),
        on("privsep 1: roles() = own roles only", tokens,
           "u@pve!sep", "/vms", Roles(&[("Administrator", 1)])),
        on("privsep 1: own pool roles, then intersection",
           &format!("token:u@pve!sep::1:\n{pool}acl:1:/vms:u@pve:R12:\nacl:1:/pool/p:u@pve!sep:R1:\n"),
           "u@pve!sep", "/vms/100", Privs(&[("VM.Audit", 0)])),
        on("unknown token", tokens, "u@pve!nope", "/vms", Privs(&[])),
        on("unknown token roles()", tokens, "u@pve!nope", "/vms", Roles(&[])),
        on("token of unknown user", tokens, "x@pve!full", "/vms", Privs(&[])),
        on("root@pam privsep 0 token: everything", root_tokens, "root@pam!full", "/", All),
        on("root@pam privsep 0 token: everything anywhere", root_tokens,
           "root@pam!full", "/nodes/x/y", All),
        on("root@pam privsep 1 token: own ACLs", root_tokens,
           "root@pam!sep", "/vms/1", Privs(&[("VM.Audit", 1)])),
        on("root@pam privsep 1 token: nothing elsewhere", root_tokens,
           "root@pam!sep", "/", Privs(&[])),
        // §4.8 root@pam: all 47, flag 1, whatever the ACLs say.
        on("root@pam everything", "", "root@pam", "/", All),
        on("root@pam despite NoAccess entry", root_tokens, "root@pam", "/vms/100", All),
        on("root@pam on unknown path", "", "root@pam", "/no/such/path", All),
        on("root@pam roles()", "", "root@pam", "/", Roles(&[("Administrator", 1)])),
        // §4.3 rule 5: ACLs of undefined or disabled users still count.
        on("undefined user", "acl:1:/vms:ghost@pve:R1:\n",
           "ghost@pve", "/vms/1", Privs(&[("VM.Audit", 1)])),
        on("undefined user in a group", "group:g3:ghost@pve:\nacl:1:/vms:@g3:R1:\n",
           "ghost@pve", "/vms", Privs(&[("VM.Audit", 1)])),
        on("disabled user", "user:off@pve:0:\nacl:1:/vms:off@pve:R1:\n",
           "off@pve", "/vms", Privs(&[("VM.Audit", 1)])),
        on("user nobody mentions", "acl:1:/:u@pve:R1:\n", "who@pve", "/", Privs(&[])),
        // §4.6: roles the ACL names but the role table lacks add nothing.
        on("undefined role dropped beside a defined one", "acl:1:/vms:u@pve:Missing,R1:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1)])),
        on("undefined role does not replace inherited", "acl:1:/:u@pve:R1:\nacl:1:/vms:u@pve:Missing:\n",
           "u@pve", "/vms", Privs(&[("VM.Audit", 1)])),
        on("role defined after the acl line is dropped", "acl:1:/vms:u@pve:Late:\nrole:Late:VM.Audit:\n",
           "u@pve", "/vms", Privs(&[])),
    ]
}

/// Evaluate one row; `None` when it holds, else a message naming every input.
fn check(name: &str, cfg: &str, authid: &str, path: &str, want: Want) -> Option<String> {
    let (config, _) = UserConfig::parse(cfg);
    let engine = Engine::build(&config);
    let id: Authid = match authid.parse() {
        Ok(id) => id,
        Err(e) => return Some(format!("{name}: bad authid `{authid}`: {e}")),
    };
    let (want, got) = match want {
        Privs(w) => (owned(w), privs_map(&engine, &id, path)),
        All => (
            PrivSet::ALL
                .iter()
                .map(|p| (p.name().to_owned(), 1))
                .collect(),
            privs_map(&engine, &id, path),
        ),
        Roles(w) => (
            owned(w),
            engine
                .roles(&id, path)
                .into_iter()
                .map(|(r, f)| (r, u8::from(f)))
                .collect(),
        ),
    };
    (want != got).then(|| {
        format!(
            "{name}: authid={authid} path=`{path}`\n  want {want:?}\n  got  {got:?}\n  cfg:\n{cfg}"
        )
    })
}

fn privs_map(engine: &Engine, id: &Authid, path: &str) -> BTreeMap<String, u8> {
    let privs = engine.privs(id, path);
    privs
        .granted
        .iter()
        .map(|p| (p.name().to_owned(), u8::from(privs.propagate.contains(p))))
        .collect()
}

fn owned(w: &[(&str, u8)]) -> BTreeMap<String, u8> {
    w.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn all_is_47_privileges() {
    assert_eq!(PrivSet::ALL.len(), 47);
}

/// Proxmox's `roles()` splits the raw path on `/`: `""` gives no nodes at all and a relative
/// `"vms"` starts at the `vms` child, skipping `/`. Every caller normalises first (spec §4.2), so
/// this only matters for unnormalised input.
#[test]
fn unnormalised_paths_as_proxmox() {
    let cfg = format!("{BASE}acl:0:/:u@pve:R1:\nacl:1:/:g2@pve:R1:\n");
    let failures: Vec<String> = [
        ("u@pve", "", Privs(&[])),
        ("u@pve", "", Roles(&[])),
        ("g2@pve", "vms", Privs(&[])),
    ]
    .into_iter()
    .filter_map(|(who, path, want)| check("unnormalised", &cfg, who, path, want))
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
