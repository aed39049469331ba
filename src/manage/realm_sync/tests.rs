//! Table tests of the pure sync pipeline: the searches a realm asks for ([`directory::plan`]),
//! how entries are read ([`directory::interpret`]) and how the result is merged into user.cfg
//! ([`merge::merge`]), checked against the user.cfg text Proxmox would write.

use super::directory::{self, Synced, SyncedUser};
use super::merge::{self, Outcome};
use super::options::{RemoveVanished, Scope, SyncOptions};
use crate::auth::realm::ldap_sync::DirectoryEntry;
use crate::config::{DomainsConfig, RealmConfig, UserConfig};
use crate::identity::Realm;

fn realm(extra: &str) -> RealmConfig {
    let text = format!(
        "ldap: corp\n\tserver1 127.0.0.1\n\tbase_dn ou=people,dc=example,dc=com\n\tuser_attr uid\n{extra}\n"
    );
    let (cfg, warnings) = DomainsConfig::parse(&text);
    assert!(warnings.is_empty(), "{text}: {warnings:?}");
    cfg.realm("corp").cloned().unwrap()
}

fn entry(dn: &str, attrs: &[(&str, &str)]) -> DirectoryEntry {
    let mut e = DirectoryEntry {
        dn: dn.to_owned(),
        ..DirectoryEntry::default()
    };
    for (k, v) in attrs {
        e.attrs
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push((*v).to_owned());
    }
    e
}

fn corp() -> Realm {
    "corp".parse().unwrap()
}

// === plan ===

#[test]
fn plan_builds_proxmox_filters() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("", "(&(|(comment=*)(email=*)(enable=*)(expire=*)(firstname=*)(keys=*)(lastname=*)(uid=*))(|(objectclass=inetorgperson)(objectclass=posixaccount)(objectclass=person)(objectclass=user)))",
            Some("(|(objectclass=groupOfNames)(objectclass=group)(objectclass=univentionGroup)(objectclass=ipausergroup))")),
        ("\tfilter memberOf=cn=x\n\tuser_classes inetOrgPerson\n\tgroup_classes groupOfUniqueNames\n\tgroup_filter (cn=a*)\n",
            "(&(memberOf=cn=x)(&(|(comment=*)(email=*)(enable=*)(expire=*)(firstname=*)(keys=*)(lastname=*)(uid=*))(|(objectclass=inetOrgPerson))))",
            Some("(&(cn=a*)(|(objectclass=groupOfUniqueNames)))")),
        ("\tsync_attributes email=mail,firstname=givenName\n\tfilter (uid=a*)\n",
            "(&(uid=a*)(&(|(comment=*)(email=*)(enable=*)(expire=*)(firstname=*)(givenname=*)(keys=*)(lastname=*)(mail=*)(uid=*))(|(objectclass=inetorgperson)(objectclass=posixaccount)(objectclass=person)(objectclass=user))))",
            Some("(|(objectclass=groupOfNames)(objectclass=group)(objectclass=univentionGroup)(objectclass=ipausergroup))")),
    ];
    for (extra, users, groups) in cases {
        let plan = directory::plan(&realm(extra), Scope::Both).unwrap();
        assert_eq!(plan.users.filter, *users, "user filter of {extra:?}");
        assert_eq!(
            plan.groups.as_ref().map(|q| q.filter.as_str()),
            *groups,
            "group filter of {extra:?}"
        );
        assert_eq!(plan.users.base, None, "user base of {extra:?}");
    }
    let plan = directory::plan(&realm("\tgroup_dn ou=groups,dc=x\n"), Scope::Users).unwrap();
    assert_eq!(plan.groups, None, "scope users searches no groups");
    let plan = directory::plan(
        &realm("\tgroup_dn ou=groups,dc=x\n\tgroup_name_attr cn\n"),
        Scope::Groups,
    )
    .unwrap();
    let groups = plan.groups.unwrap();
    assert_eq!(groups.base.as_deref(), Some("ou=groups,dc=x"));
    assert_eq!(groups.attrs, ["member", "uniquemember", "cn"]);
}

#[test]
fn plan_reads_ad_and_sync_attributes() {
    let (cfg, _) = DomainsConfig::parse("ad: win\n\tserver1 dc1\n\tdomain example.com\n\n");
    let plan = directory::plan(cfg.realm("win").unwrap(), Scope::Users).unwrap();
    assert!(
        plan.users.filter.contains("(samaccountname=*)"),
        "ad default user_attr: {}",
        plan.users.filter
    );
    let plan = directory::plan(
        &realm("\tsync_attributes email=mail, nick=displayName, username=cn, lastname=a(b\n"),
        Scope::Users,
    )
    .unwrap();
    assert_eq!(
        plan.warnings,
        [
            "skipping bad `sync_attributes` entry: `nick` is not a valid target attribute",
            "skipping bad `sync_attributes` entry: `a(b` is not an attribute name",
        ]
    );
    assert!(
        plan.users.attrs.contains(&"cn".to_owned()),
        "username=cn widens the search"
    );
    assert!(directory::plan(&realm("\tuser_classes person\n\tfilter x\n"), Scope::Users).is_ok());
}

// === interpret ===

/// Read `users` and `groups` with the plan of a realm with `extra` options.
fn interpret(
    extra: &str,
    case_sensitive: bool,
    users: &[DirectoryEntry],
    groups: &[DirectoryEntry],
) -> Synced {
    let plan = directory::plan(&realm(extra), Scope::Both).unwrap();
    directory::interpret(&plan, &corp(), case_sensitive, users, groups)
}

fn user(synced: &Synced, id: &str) -> SyncedUser {
    synced
        .users
        .get(&id.parse().unwrap())
        .cloned()
        .unwrap_or_else(|| panic!("{id} not synced: {synced:?}"))
}

#[test]
fn interpret_maps_attributes_and_skips_bad_values() {
    let users = [
        entry(
            "uid=alice,ou=people,dc=example,dc=com",
            &[
                ("uid", "alice"),
                ("givenName", "Alice"),
                ("sn", "Liddell"),
                ("mail", "alice@corp.example"),
                ("email", "other@corp.example"),
                ("expire", "not-a-number"),
                ("enable", "FALSE"),
            ],
        ),
        entry(
            "uid=bob,ou=people,dc=example,dc=com",
            &[("uid", "bob"), ("mail", "not an email"), ("enable", "0")],
        ),
        entry("cn=nouid,ou=people,dc=example,dc=com", &[("cn", "x")]),
        entry("uid=a b,ou=people,dc=example,dc=com", &[("uid", "a b")]),
        entry("uid=c;d,ou=people,dc=example,dc=com", &[("uid", "c;d")]),
    ];
    let synced = interpret(
        "\tsync_attributes email=mail,firstname=givenName,lastname=sn\n",
        true,
        &users,
        &[],
    );
    let alice = user(&synced, "alice@corp");
    assert_eq!(alice.firstname.as_deref(), Some("Alice"));
    assert_eq!(alice.lastname.as_deref(), Some("Liddell"));
    assert_eq!(
        alice.email.as_deref(),
        Some("alice@corp.example"),
        "the explicit mapping wins over a same-named attribute"
    );
    assert_eq!(alice.expire, None);
    assert_eq!(
        alice.enable,
        Some(true),
        "Perl truth: any text but \"\" and \"0\""
    );
    let bob = user(&synced, "bob@corp");
    assert_eq!(bob.email, None, "an invalid mail is skipped, not stored");
    assert_eq!(bob.enable, Some(false));
    assert_eq!(synced.users.len(), 2, "{synced:?}");
    for want in [
        "skipping attribute mapping `expire` for user `alice@corp`: not a non-negative integer",
        "skipping attribute mapping `mail` for user `bob@corp`: not an email address",
        "entry `cn=nouid,ou=people,dc=example,dc=com` has no `uid`: skipped",
        "user name `a b@corp` is not a valid userid: skipped",
        "user name `c;d@corp` is not a valid userid: skipped",
    ] {
        assert!(
            synced.warnings.iter().any(|w| w == want),
            "warning {want:?} in {:?}",
            synced.warnings
        );
    }
    assert_eq!(synced.warnings.len(), 5, "{:?}", synced.warnings);
}

#[test]
fn interpret_names_groups_and_resolves_members() {
    let users = [
        entry("uid=Alice,ou=People,dc=example,dc=com", &[("uid", "Alice")]),
        entry("uid=bob,ou=people,dc=example,dc=com", &[("uid", "bob")]),
    ];
    let groups = [
        entry(
            "cn=admins,ou=groups,dc=example,dc=com",
            &[
                ("member", "uid=alice,ou=people,dc=example,dc=com"),
                ("member", "uid=bob,ou=people,dc=example,dc=com"),
                ("member", "uid=stranger,ou=people,dc=example,dc=com"),
            ],
        ),
        entry(
            "cn=devs,ou=groups,dc=example,dc=com",
            &[
                ("displayName", "developers"),
                ("uniqueMember", "UID=BOB,OU=PEOPLE,DC=EXAMPLE,DC=COM"),
            ],
        ),
        entry("cn=bad name,ou=groups,dc=example,dc=com", &[]),
        entry("cn=toplevel", &[]),
    ];
    let synced = interpret("\tgroup_name_attr displayName\n", false, &users, &groups);
    let ids: Vec<&str> = synced.users.keys().map(|u| u.as_str()).collect();
    assert_eq!(
        ids,
        ["alice@corp", "bob@corp"],
        "case-sensitive 0 lower-cases names"
    );
    let groups: Vec<(String, Vec<String>)> = synced
        .groups
        .iter()
        .map(|(g, m)| (g.to_string(), m.iter().map(|u| u.to_string()).collect()))
        .collect();
    assert_eq!(
        groups,
        [
            (
                "admins-corp".to_owned(),
                vec!["alice@corp".to_owned(), "bob@corp".to_owned()]
            ),
            ("developers-corp".to_owned(), vec!["bob@corp".to_owned()]),
        ]
    );
    assert!(
        synced
            .warnings
            .contains(&"group name `bad name-corp` is not a valid group id: skipped".to_owned()),
        "{:?}",
        synced.warnings
    );
    assert!(
        synced
            .warnings
            .contains(&"group `cn=toplevel` has no name: skipped".to_owned()),
        "{:?}",
        synced.warnings
    );
}

// === merge ===

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
    interpret("\tsync_attributes email=mail\n", true, &users, &groups)
}

fn run(
    before: &str,
    synced: &Synced,
    opts: SyncOptions,
    case_sensitive: bool,
) -> (String, Outcome) {
    let (mut cfg, _) = UserConfig::parse(before);
    let outcome = merge::merge(&mut cfg, &corp(), synced, &opts, case_sensitive);
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
    let (got, _) = run(BEFORE, &synced(), opts(scope, rv, enable_new), true);
    assert_eq!(
        got, want,
        "scope {scope:?}, remove-vanished {rv}, enable-new {enable_new}"
    );
    // Idempotent: a second run changes nothing.
    let (again, _) = run(&got, &synced(), opts(scope, rv, enable_new), true);
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
    let (_, out) = run(
        BEFORE,
        &synced(),
        opts(Scope::Both, "acl;entry", true),
        true,
    );
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
    let (after, _) = run(
        BEFORE,
        &synced(),
        opts(Scope::Both, "acl;entry", true),
        true,
    );
    let (_, again) = run(
        &after,
        &synced(),
        opts(Scope::Both, "acl;entry", true),
        true,
    );
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
    let synced = interpret("", true, &users, &[]);
    let (props, _) = run(
        before,
        &synced,
        opts(Scope::Users, "properties", true),
        true,
    );
    assert!(
        props.starts_with("user:alice@corp:0:5::::::\ntoken:alice@corp!t1:0:1::\n"),
        "{props}"
    );
    let (plain, _) = run(before, &synced, opts(Scope::Users, "none", true), true);
    assert!(
        plain.starts_with("user:alice@corp:1:5::::::\ntoken:alice@corp!t1:0:1::\n"),
        "{plain}"
    );
    // A new user gets enable-new, whatever the directory's enable says.
    let (new, _) = run(
        "user:root@pam:1:0:::::\n",
        &synced,
        opts(Scope::Users, "none", false),
        true,
    );
    assert!(new.starts_with("user:alice@corp:0:5::::::\n"), "{new}");
}

#[test]
fn merge_matches_stored_spelling_in_case_insensitive_realms() {
    let before = "user:Alice@corp:1:0:::::\ntoken:Alice@corp!tk:0:1::\nuser:BOB@corp:1:0:::::\nuser:Bob@corp:1:0:::::\nuser:root@pam:1:0:::::\nacl:1:/:Alice@corp:PVEAuditor:\n";
    let users = [
        entry("uid=ALICE,dc=x", &[("uid", "ALICE"), ("firstname", "A")]),
        entry("uid=bob,dc=x", &[("uid", "bob")]),
    ];
    let groups = [entry("cn=g,dc=x", &[("member", "uid=alice,dc=x")])];
    let plan = directory::plan(&realm("\tcase-sensitive 0\n"), Scope::Both).unwrap();
    let synced = directory::interpret(&plan, &corp(), false, &users, &groups);
    let (got, _) = run(before, &synced, opts(Scope::Both, "acl;entry", true), false);
    assert_eq!(
        got,
        "\
user:Alice@corp:1:0:A:::::
token:Alice@corp!tk:0:1::
user:bob@corp:1:0::::::
user:root@pam:1:0::::::

group:g-corp:Alice@corp::



acl:1:/:Alice@corp:PVEAuditor:
",
        "the one case-insensitive match keeps its spelling; two matches give way to the lower-case name"
    );
}
