//! An etcd watch response as `Change`s (src/store/edit.rs), without etcd: two versions of
//! `user.cfg` are split into keys as etcd holds them, the keys that differ are turned into an
//! edit, and the edit applied to the first version must give the second — or the edit must
//! be refused (the follower then loads in full). The same through a real etcd and gateway:
//! tests/etcd_fleet.rs.

use std::collections::BTreeMap;

use aclgate::config::UserConfig;
use aclgate::store::edit::edit;
use aclgate::store::objects::Objects;
use aclgate::store::user_keys::encode;

const BASE: &str = "user:joe@pve:1:0:Joe:Doe:joe@example.com::\n\
    token:joe@pve!ci:0:1::\n\
    token:joe@pve!old:0:0:an old one:\n\
    user:ann@pve:1:0::::::\n\
    user:root@pam:1:0::::::\n\
    \n\
    group:ops:ann@pve,joe@pve::\n\
    \n\
    pool:p1::100::\n\
    \n\
    role:Custom:VM.Audit:\n\
    \n\
    acl:1:/vms:@ops:PVEAuditor:\n\
    acl:1:/vms/100:joe@pve!ci:Custom:\n\
    acl:0:/storage:ann@pve:PVEDatastoreUser:\n";

fn objects(text: &str) -> (UserConfig, Objects) {
    // Only BASE must be clean: some refused edits leave lines a reader warns about.
    let (cfg, warnings) = UserConfig::parse(text);
    assert!(text != BASE || warnings.is_empty(), "{warnings:?}");
    let mut out = Objects::new();
    encode(&cfg, &mut out);
    (cfg, out)
}

/// The previous value of every key that differs, as the follower collects them.
fn before(old: &Objects, new: &Objects) -> BTreeMap<String, Option<Vec<u8>>> {
    old.keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| (k.clone(), old.get(k).cloned()))
        .collect()
}

/// `BASE` with each `(from, to)` replaced: applied as changes (`Ok(number of changes)`, and
/// the changes applied to `BASE` give the new text's configuration) or refused (`Err`).
fn check(edits: &[(&str, &str)]) -> Result<usize, String> {
    let mut text = BASE.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    let (old_cfg, old) = objects(BASE);
    let (new_cfg, new) = objects(&text);
    let edit = edit(&before(&old, &new), &new)?;
    let mut cfg = old_cfg;
    for change in &edit.changes {
        cfg.apply(change)
            .unwrap_or_else(|e| panic!("{edits:?}: {change:?}: {e}"));
    }
    assert_eq!(cfg, new_cfg, "{edits:?}: {:?}", edit.changes);
    Ok(edit.changes.len())
}

#[test]
fn entries_a_change_can_say_are_applied_as_changes() {
    // (edits of the text, number of changes)
    let cases: &[(&[(&str, &str)], usize)] = &[
        // A token revoked, with its entry.
        (
            &[
                ("token:joe@pve!ci:0:1::\n", ""),
                ("acl:1:/vms/100:joe@pve!ci:Custom:\n", ""),
            ],
            2,
        ),
        // A user disabled, expired.
        (&[("user:ann@pve:1:0::", "user:ann@pve:0:0::")], 1),
        (&[("user:ann@pve:1:0::", "user:ann@pve:1:1900000000::")], 1),
        // Group memberships removed and added (a new group with its first member).
        (&[("group:ops:ann@pve,joe@pve::", "group:ops:joe@pve::")], 1),
        (
            &[(
                "group:ops:ann@pve,joe@pve::",
                "group:ops:ann@pve::\ngroup:dev:joe@pve::",
            )],
            2,
        ),
        // ACL entries deleted, changed, set.
        (&[("acl:0:/storage:ann@pve:PVEDatastoreUser:\n", "")], 1),
        (&[("acl:0:/storage:ann@pve:", "acl:1:/storage:ann@pve:")], 1),
        (
            &[(
                "acl:1:/vms:@ops:PVEAuditor:\n",
                "acl:1:/vms:@ops:PVEAuditor:\nacl:1:/nodes:@ops,joe@pve:Custom:\n",
            )],
            2,
        ),
        // A role's privileges.
        (
            &[("role:Custom:VM.Audit:", "role:Custom:VM.Audit,VM.Console:")],
            1,
        ),
        // A new user with a token, in one transaction.
        (
            &[(
                "user:root@pam:1:0::::::\n",
                "user:root@pam:1:0::::::\nuser:new@pve:1:0::::::\ntoken:new@pve!tk:0:1::\n",
            )],
            2,
        ),
        // A user removed with her memberships and entries.
        (
            &[
                ("user:ann@pve:1:0::::::\n", ""),
                ("ann@pve,joe@pve", "joe@pve"),
                ("acl:0:/storage:ann@pve:PVEDatastoreUser:\n", ""),
            ],
            3,
        ),
    ];
    for (edits, n) in cases {
        assert_eq!(check(edits), Ok(*n), "{edits:?}");
    }
}

#[test]
fn what_a_change_cannot_say_is_refused() {
    let cases: &[&[(&str, &str)]] = &[
        // A pool, a user's names, a token's comment, a group's comment.
        &[("pool:p1::100::", "pool:p1::100,101::")],
        &[("user:joe@pve:1:0:Joe:", "user:joe@pve:1:0:Jo:")],
        &[(
            "token:joe@pve!old:0:0:an old one:",
            "token:joe@pve!old:0:0:new:",
        )],
        &[(
            "group:ops:ann@pve,joe@pve::",
            "group:ops:ann@pve,joe@pve:c:",
        )],
        // A group created empty, a group removed, a role removed.
        &[(
            "group:ops:ann@pve,joe@pve::",
            "group:ops:ann@pve,joe@pve::\ngroup:e:::",
        )],
        &[
            ("acl:1:/vms:@ops:PVEAuditor:\n", ""),
            ("group:ops:ann@pve,joe@pve::\n", ""),
        ],
        &[
            ("acl:1:/vms/100:joe@pve!ci:Custom:\n", ""),
            ("role:Custom:VM.Audit:\n", ""),
        ],
        // A user removed who is still in a group (another writer's doing).
        &[("user:ann@pve:1:0::::::\n", "")],
    ];
    for edits in cases {
        assert!(check(edits).is_err(), "{edits:?} must be refused");
    }
    // A realm, a password hash, the ticket keys, a pool: not what changes say.
    let (_, old) = objects(BASE);
    for key in [
        "file/domains.cfg",
        "password-hash/joe@pve",
        "file/priv/authkey.ring",
        "pool/p2",
    ] {
        let mut new = old.clone();
        new.insert(key.to_owned(), b"x\n".to_vec());
        assert!(edit(&before(&old, &new), &new).is_err(), "{key}");
    }
    // A token removed whose entry stays in etcd (a file reader would skip the entry).
    let mut new = old.clone();
    new.remove("token/joe@pve!ci");
    assert!(edit(&before(&old, &new), &new).is_err(), "token entry left");
    // Too many keys at once.
    let mut new = old.clone();
    for i in 0..=aclgate::store::edit::MAX_KEYS {
        new.insert(
            aclgate::store::user_keys::acl_key("ann@pve", "PVEAuditor", &format!("/vms/{i}")),
            format!("acl:1:/vms/{i}:ann@pve:PVEAuditor:\n").into_bytes(),
        );
    }
    assert!(edit(&before(&old, &new), &new).is_err(), "bulk");
}

#[test]
fn token_and_logout_files_come_along() {
    let (_, mut old) = objects(BASE);
    old.insert(
        "token-hash/joe@pve!ci".to_owned(),
        b"joe@pve!ci sha256$a$b\n".to_vec(),
    );
    let mut new = old.clone();
    new.remove("token-hash/joe@pve!ci");
    new.insert(
        "logout/joe@pve".to_owned(),
        b"joe@pve 1700000000\n".to_vec(),
    );
    let e = edit(&before(&old, &new), &new).unwrap();
    assert!(e.changes.is_empty());
    assert_eq!(e.token_shadow.as_deref(), Some(""));
    assert_eq!(e.logout.as_deref(), Some("joe@pve 1700000000\n"));
    // Untouched files are not read again.
    let mut other = old.clone();
    other.insert(
        "token-hash/ann@pve!x".to_owned(),
        b"ann@pve!x sha256$a$b\n".to_vec(),
    );
    let e = edit(&before(&old, &other), &other).unwrap();
    assert!(e.token_shadow.unwrap().contains("ann@pve!x"));
    assert!(e.logout.is_none());
}
