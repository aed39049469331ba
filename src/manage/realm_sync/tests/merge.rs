//! `merge`: what a sync does to user.cfg, by scope and `remove-vanished`.

use super::{corp, entry, interpret};
use crate::config::UserConfig;
use crate::manage::realm_sync::directory::Synced;
use crate::manage::realm_sync::merge::{self, Outcome};
use crate::manage::realm_sync::options::{RemoveVanished, Scope, SyncOptions};

const BEFORE: &str = "\
user:alice@corp:1:0:Alice:Old:old@x.example:local note::
token:alice@corp!t1:0:1::
user:gone@corp:1:0:::::
token:gone@corp!tk:0:1::
user:joe@pve:1:0:::::
user:root@pam:1:0:::::
group:admins-corp:alice@corp,gone@corp:LDAP admins:
group:local:gone@corp,joe@pve::
group:old-corp:gone@corp::
acl:1:/vms:@old-corp,gone@corp,gone@corp!tk,joe@pve:PVEAuditor:
";

fn synced() -> Synced {
    let users = [
        entry(
            "uid=alice,dc=x",
            &[
                ("uid", "alice"),
                ("firstname", "Alice"),
                ("lastname", "Liddell"),
            ],
        ),
        entry(
            "uid=bob,dc=x",
            &[("uid", "bob"), ("mail", "bob@corp.example")],
        ),
    ];
    let groups = [
        entry(
            "cn=admins,dc=x",
            &[("member", "uid=alice,dc=x"), ("member", "uid=bob,dc=x")],
        ),
        entry("cn=devs,dc=x", &[("member", "uid=bob,dc=x")]),
    ];
    interpret("\tsync_attributes email=mail\n", &users, &groups)
}

fn run(before: &str, synced: &Synced, opts: SyncOptions) -> (String, Outcome) {
    let (mut cfg, _) = UserConfig::parse(before);
    let outcome = merge::merge(&mut cfg, &corp(), synced, &opts);
    (cfg.write(), outcome)
}

fn opts(scope: Scope, rv: &str, enable_new: bool) -> SyncOptions {
    SyncOptions {
        scope,
        remove_vanished: rv.parse::<RemoveVanished>().unwrap(),
        enable_new,
        dry_run: false,
    }
}

/// Merge [`synced`] into [`BEFORE`] and compare the whole user.cfg text.
fn check(scope: Scope, rv: &str, enable_new: bool, want: &str) {
    let (got, _) = run(BEFORE, &synced(), opts(scope, rv, enable_new));
    assert_eq!(
        got, want,
        "scope {scope:?}, remove-vanished {rv}, enable-new {enable_new}"
    );
    // Idempotent: a second run changes nothing.
    let (again, _) = run(&got, &synced(), opts(scope, rv, enable_new));
    assert_eq!(
        again, got,
        "second run: scope {scope:?}, remove-vanished {rv}"
    );
}

#[test]
fn merge_fixture_parses_cleanly() {
    let (_, warnings) = UserConfig::parse(BEFORE);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn merge_follows_remove_vanished() {
    check(
        Scope::Both,
        "none",
        true,
        "\
user:alice@corp:1:0:Alice:Liddell:old@x.example:local note::
token:alice@corp!t1:0:1::
user:bob@corp:1:0:::bob@corp.example:::
user:gone@corp:1:0::::::
token:gone@corp!tk:0:1::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp,bob@corp:LDAP admins:
group:devs-corp:bob@corp::
group:local:gone@corp,joe@pve::
group:old-corp:gone@corp::



acl:1:/vms:@old-corp,gone@corp,gone@corp!tk,joe@pve:PVEAuditor:
",
    );
    check(
        Scope::Both,
        "acl",
        false,
        "\
user:alice@corp:1:0:Alice:Liddell:old@x.example:local note::
token:alice@corp!t1:0:1::
user:bob@corp:0:0:::bob@corp.example:::
user:gone@corp:1:0::::::
token:gone@corp!tk:0:1::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp,bob@corp:LDAP admins:
group:devs-corp:bob@corp::
group:local:gone@corp,joe@pve::
group:old-corp:gone@corp::



acl:1:/vms:gone@corp!tk,joe@pve:PVEAuditor:
",
    );
    check(
        Scope::Both,
        "entry",
        true,
        "\
user:alice@corp:1:0:Alice:Liddell:old@x.example:local note::
token:alice@corp!t1:0:1::
user:bob@corp:1:0:::bob@corp.example:::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp,bob@corp:LDAP admins:
group:devs-corp:bob@corp::
group:local:joe@pve::



acl:1:/vms:@old-corp,gone@corp,joe@pve:PVEAuditor:
",
    );
    check(
        Scope::Both,
        "acl;entry;properties",
        true,
        "\
user:alice@corp:1:0:Alice:Liddell::::
token:alice@corp!t1:0:1::
user:bob@corp:1:0:::bob@corp.example:::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp,bob@corp::
group:devs-corp:bob@corp::
group:local:joe@pve::



acl:1:/vms:joe@pve:PVEAuditor:
",
    );
}

#[test]
fn merge_keeps_to_its_scope() {
    // Users only: groups stay as they were, even vanished ones.
    check(
        Scope::Users,
        "acl;entry",
        true,
        "\
user:alice@corp:1:0:Alice:Liddell:old@x.example:local note::
token:alice@corp!t1:0:1::
user:bob@corp:1:0:::bob@corp.example:::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp:LDAP admins:
group:local:joe@pve::
group:old-corp:::



acl:1:/vms:@old-corp,joe@pve:PVEAuditor:
",
    );
    // Groups only: users stay as they were; members need not exist yet.
    check(
        Scope::Groups,
        "acl;entry",
        true,
        "\
user:alice@corp:1:0:Alice:Old:old@x.example:local note::
token:alice@corp!t1:0:1::
user:gone@corp:1:0::::::
token:gone@corp!tk:0:1::
user:joe@pve:1:0::::::
user:root@pam:1:0::::::

group:admins-corp:alice@corp,bob@corp:LDAP admins:
group:devs-corp:bob@corp::
group:local:gone@corp,joe@pve::



acl:1:/vms:gone@corp,gone@corp!tk,joe@pve:PVEAuditor:
",
    );
}

#[test]
fn merge_reports_what_changed() {
    let (_, out) = run(BEFORE, &synced(), opts(Scope::Both, "acl;entry", true));
    let ids = |v: &[crate::identity::Userid]| v.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&out.users.added), ["bob@corp"]);
    assert_eq!(ids(&out.users.updated), ["alice@corp"]);
    assert_eq!(ids(&out.users.removed), ["gone@corp"]);
    assert_eq!(ids(&out.users.acl_removed), ["gone@corp"]);
    assert_eq!(
        out.removed_tokens
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        ["gone@corp!tk"]
    );
    let gids = |v: &[crate::identity::GroupId]| v.iter().map(|g| g.to_string()).collect::<Vec<_>>();
    assert_eq!(gids(&out.groups.added), ["devs-corp"]);
    assert_eq!(gids(&out.groups.updated), ["admins-corp"]);
    assert_eq!(gids(&out.groups.removed), ["old-corp"]);
    assert_eq!(
        out.log,
        [
            "syncing users (remove-vanished opts: acl;entry)",
            "deleting outdated existing users first",
            "remove user 'gone@corp'",
            "purge users 'gone@corp' ACL entries",
            "updating user 'alice@corp'",
            "adding user 'bob@corp'",
            "syncing groups (remove-vanished opts: acl;entry)",
            "deleting outdated existing groups first",
            "remove group 'old-corp'",
            "purge groups 'old-corp' ACL entries",
            "updating group 'admins-corp'",
            "adding group 'devs-corp'",
        ]
    );
    // Run again on the result: nothing to do.
    let (after, _) = run(BEFORE, &synced(), opts(Scope::Both, "acl;entry", true));
    let (_, again) = run(&after, &synced(), opts(Scope::Both, "acl;entry", true));
    assert_eq!(ids(&again.users.unchanged), ["alice@corp", "bob@corp"]);
    assert!(
        again.users.updated.is_empty() && again.users.removed.is_empty(),
        "{again:?}"
    );
}

#[test]
fn merge_keeps_enable_and_tokens_of_existing_users() {
    let before = "user:alice@corp:0:0:::::\ntoken:alice@corp!t1:0:1::\nuser:root@pam:1:0:::::\n";
    // LDAP says enable=1 and expire=5: with `properties` the stored enable is kept, expire
    // comes from the directory; without it both come from the directory.
    let users = [entry(
        "uid=alice,dc=x",
        &[("uid", "alice"), ("enable", "1"), ("expire", "5")],
    )];
    let synced = interpret("", &users, &[]);
    let (props, _) = run(before, &synced, opts(Scope::Users, "properties", true));
    assert!(
        props.starts_with("user:alice@corp:0:5::::::\ntoken:alice@corp!t1:0:1::\n"),
        "{props}"
    );
    let (plain, _) = run(before, &synced, opts(Scope::Users, "none", true));
    assert!(
        plain.starts_with("user:alice@corp:1:5::::::\ntoken:alice@corp!t1:0:1::\n"),
        "{plain}"
    );
    // A new user gets enable-new, whatever the directory's enable says.
    let (new, _) = run(
        "user:root@pam:1:0:::::\n",
        &synced,
        opts(Scope::Users, "none", false),
    );
    assert!(new.starts_with("user:alice@corp:0:5::::::\n"), "{new}");
}

#[test]
fn merge_matches_userids_exactly_even_in_case_insensitive_realms() {
    // `case-sensitive 0` only affects the login lookup: the sync takes the directory's
    // spelling and a stored user differing only in case is another user, i.e. vanished.
    let before = "user:Alice@corp:1:0:::::\ntoken:Alice@corp!tk:0:1::\nuser:BOB@corp:1:0:::::\nuser:root@pam:1:0:::::\nacl:1:/:Alice@corp,Alice@corp!tk:PVEAuditor:\n";
    let users = [
        entry("uid=ALICE,dc=x", &[("uid", "ALICE"), ("firstname", "A")]),
        entry("uid=bob,dc=x", &[("uid", "bob")]),
    ];
    let groups = [entry("cn=g,dc=x", &[("member", "uid=alice,dc=x")])];
    let synced = interpret("\tcase-sensitive 0\n", &users, &groups);
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "none",
            "\
user:ALICE@corp:1:0:A:::::
user:Alice@corp:1:0::::::
token:Alice@corp!tk:0:1::
user:BOB@corp:1:0::::::
user:bob@corp:1:0::::::
user:root@pam:1:0::::::

group:g-corp:ALICE@corp::



acl:1:/:Alice@corp,Alice@corp!tk:PVEAuditor:
",
            &[],
        ),
        (
            "acl;entry",
            "\
user:ALICE@corp:1:0:A:::::
user:bob@corp:1:0::::::
user:root@pam:1:0::::::

group:g-corp:ALICE@corp::



",
            &["Alice@corp", "BOB@corp"],
        ),
    ];
    for (rv, want, removed) in cases {
        let (got, out) = run(before, &synced, opts(Scope::Both, rv, true));
        assert_eq!(&got, want, "remove-vanished {rv}");
        let ids: Vec<String> = out.users.removed.iter().map(|u| u.to_string()).collect();
        assert_eq!(ids, *removed, "removed users, remove-vanished {rv}");
        let added: Vec<String> = out.users.added.iter().map(|u| u.to_string()).collect();
        assert_eq!(added, ["ALICE@corp", "bob@corp"], "remove-vanished {rv}");
    }
}
