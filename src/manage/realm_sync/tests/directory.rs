//! `plan` (the searches) and `interpret` (reading the entries).

use super::{entry, interpret, realm, user};
use crate::config::DomainsConfig;
use crate::manage::realm_sync::directory;
use crate::manage::realm_sync::options::Scope;

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
        &realm(
            "\tsync_attributes email=mail, nick=displayName, username=cn, lastname=a(b, comment=userPassword\n",
        ),
        Scope::Users,
    )
    .unwrap();
    assert_eq!(
        plan.warnings,
        [
            "skipping bad 'sync_attributes' entry: 'nick' is not a valid target attribute",
            "skipping bad 'sync_attributes' entry: 'a(b' is not an attribute name",
            "skipping 'sync_attributes' entry: 'userPassword' holds passwords",
        ]
    );
    assert!(
        plan.users.attrs.contains(&"cn".to_owned()),
        "username=cn widens the search"
    );
    assert!(directory::plan(&realm("\tuser_classes person\n\tfilter x\n"), Scope::Users).is_ok());
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
        "skipping attribute mapping 'expire' for user 'alice@corp': not a non-negative integer",
        "skipping attribute mapping 'mail' for user 'bob@corp': not an email address",
        "entry 'cn=nouid,ou=people,dc=example,dc=com' has no 'uid': skipped",
        "user name 'a b@corp' is not a valid userid: skipped",
        "user name 'c;d@corp' is not a valid userid: skipped",
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
    let synced = interpret(
        "\tgroup_name_attr displayName\n\tcase-sensitive 0\n",
        &users,
        &groups,
    );
    let ids: Vec<&str> = synced.users.keys().map(|u| u.as_str()).collect();
    assert_eq!(
        ids,
        ["Alice@corp", "bob@corp"],
        "the directory's spelling is kept, also with case-sensitive 0"
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
                vec!["Alice@corp".to_owned(), "bob@corp".to_owned()]
            ),
            ("developers-corp".to_owned(), vec!["bob@corp".to_owned()]),
        ]
    );
    assert!(
        synced
            .warnings
            .contains(&"group name 'bad name-corp' is not a valid group id: skipped".to_owned()),
        "{:?}",
        synced.warnings
    );
    assert!(
        synced
            .warnings
            .contains(&"group 'cn=toplevel' has no name: skipped".to_owned()),
        "{:?}",
        synced.warnings
    );
}
