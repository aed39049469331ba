//! Proxmox's `user.cfg` reader/writer cases (pve-access-control `src/test/parser_writer.pl`),
//! ported: each case is input text, the configuration Proxmox's parser yields for it (where the
//! Perl test states one), and the text Proxmox's writer produces.
//!
//! Per case, as in the Perl harness: `parse(raw) == config` (`_parse`), `write(config) ==
//! expected_raw` (`_write`) and `write(parse(raw)) == expected_raw` (`_rewrite`); also, the
//! written text is a fixed point: `write(parse(expected_raw)) == expected_raw`. Every failure of
//! every case is collected before the test fails.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::str::FromStr;

use aclgate::access::{AclPath, PrivSet};
use aclgate::config::UserConfig;
use aclgate::config::user_cfg::{AclNode, Group, Pool, Token, User};
use aclgate::identity::Userid;

// Raw lines, named as in parser_writer.pl's `$default_raw`.
const ROOT: &str = "user:root@pam:1:0::::::";
const TEST: &str = "user:test@pam:1:0::::::";
const TEST2: &str = "user:test2@pam:1:0::::::";
const TEST3: &str = "user:test3@pam:1:0::::::";
const G_EMPTY: &str = "group:testgroup:::";
const G_SINGLE: &str = "group:testgroup:test@pam::";
const G_MEMBERS: &str = "group:testgroup:test2@pam,test@pam::";
const G_MEMBERS_UNSORTED: &str = "group:testgroup:test@pam,test2@pam::";
const G_SECOND: &str = "group:another:test3@pam::";
const T_SIMPLE: &str = "token:test@pam!full:0:0::";
const T_MULTI_FULL: &str = "token:test2@pam!full:0:0::";
const T_MULTI_PRIVSEP: &str = "token:test2@pam!privsep:0:1::";
const T_MULTI_EXPIRED: &str = "token:test2@pam!expired:1:0::";
const ROLE_SINGLE: &str = "role:testrolesingle:VM.Allocate:";
const ROLE_PRIVS: &str = "role:testrole:Datastore.Audit,VM.Allocate:";
const ROLE_PRIVS_UNSORTED: &str = "role:testrole:VM.Allocate,Datastore.Audit:";
const ROLE_PRIVS_DUPLICATE: &str = "role:testrole:VM.Allocate,Datastore.Audit,VM.Allocate:";
const ROLE_PRIVS_INVALID: &str = "role:testrole:VM.Invalid,Datastore.Audit,VM.Allocate:";
const POOL_EMPTY: &str = "pool:testpool::::";
const POOL_INVALID: &str = "pool:testpool::non-numeric:inval!d:";
const POOL_MEMBERS: &str = "pool:testpool::123,1234:local,local-zfs:";
const POOL_DUP_VMS: &str = "pool:test_duplicate_vms::123,1234::";
const POOL_DUP_VMS_EXPECTED: &str = "pool:test_duplicate_vms::::";
const POOL_DUP_STORAGES: &str = "pool:test_duplicate_storages:::local,local-zfs:";
const ACL_SIMPLE_USER: &str = "acl:1:/:test@pam:PVEVMAdmin:";
const ACL_USERS_1: &str = "acl:1:/storage:test@pam:PVEDatastoreAdmin:";
const ACL_USERS_2: &str = "acl:1:/storage:test2@pam:PVEDatastoreUser:";
const ACL_SIMPLE_TOKEN: &str = "acl:1:/:test@pam!full:PVEVMAdmin:";
const ACL_TOKENS_1: &str = "acl:1:/storage:test2@pam!expired,test@pam!full:PVEDatastoreAdmin:";
const ACL_TOKENS_2: &str = "acl:1:/storage:test2@pam!privsep:PVEDatastoreUser:";
const ACL_TOKENS_1_MISSING: &str = "acl:1:/storage:test2@pam!expired:PVEDatastoreAdmin:";
const ACL_SIMPLE_GROUP: &str = "acl:1:/:@testgroup:PVEVMAdmin:";
const ACL_GROUPS_1: &str = "acl:1:/storage:@testgroup:PVEDatastoreAdmin:";
const ACL_GROUPS_2: &str = "acl:1:/storage:@another:PVEDatastoreUser:";
const ACL_SIMPLE_GROUP_NOPROP: &str = "acl:0:/:@testgroup:PVEVMAdmin:";
const ACL_GROUPS_1_NOPROP: &str = "acl:0:/storage:@testgroup:PVEDatastoreAdmin:";
const ACL_GROUPS_2_NOPROP: &str = "acl:0:/storage:@another:PVEDatastoreUser:";
const ACL_MIXED_1: &str = "acl:1:/:@testgroup,test@pam:PVEVMAdmin:";
const ACL_MIXED_2: &str = "acl:1:/storage:@testgroup,test@pam:PVEDatastoreAdmin:";
const ACL_MIXED_3: &str = "acl:1:/storage:@another,test2@pam:PVEDatastoreUser:";
const ACL_MISSING_ROLE: &str = "acl:1:/storage:test@pam:MissingRole:";

/// One parser_writer.pl case.
struct Case {
    name: &'static str,
    raw: String,
    /// What the writer must produce; `None` = the raw text itself.
    expected_raw: Option<String>,
    /// Whether the Perl case checks written text at all (`group_invalid_member` does not).
    check_write: bool,
    /// The parsed configuration (`config` / `expected_config` in Perl), if the case states one.
    config: Option<UserConfig>,
}

#[test]
fn parser_writer_cases() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        failures.extend(run(case));
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) in {} parser_writer cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `empty_config`: an empty file still gets root@pam; a configuration with nothing at all writes
/// only the four section separators.
#[test]
fn empty_config() {
    let (parsed, warnings) = UserConfig::parse("");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(parsed, cfg().user("root@pam", true, 0).done());
    assert_eq!(UserConfig::default().write(), "\n\n\n\n");
}

fn run(case: &Case) -> Vec<String> {
    let mut out = Vec::new();
    let expected_raw = case.expected_raw.as_deref().unwrap_or(&case.raw);
    let (parsed, _) = UserConfig::parse(&case.raw);
    if let Some(want) = &case.config {
        if &parsed != want {
            out.push(diff(case.name, "parse", want, &parsed));
        }
        if case.check_write {
            let written = want.write();
            if written != expected_raw {
                out.push(text_diff(case.name, "write", expected_raw, &written));
            }
        }
    }
    if case.check_write {
        let rewritten = parsed.write();
        if rewritten != expected_raw {
            out.push(text_diff(case.name, "rewrite", expected_raw, &rewritten));
        }
        let again = UserConfig::parse(expected_raw).0.write();
        if again != expected_raw {
            out.push(text_diff(case.name, "fixed point", expected_raw, &again));
        }
    }
    out
}

fn diff<T: Debug>(name: &str, what: &str, want: &T, got: &T) -> String {
    format!("{name}_{what}:\n  want {want:?}\n  got  {got:?}")
}

fn text_diff(name: &str, what: &str, want: &str, got: &str) -> String {
    format!("{name}_{what}:\n  want {want:?}\n  got  {got:?}")
}

/// Join lines as the Perl test concatenates them: each piece is taken literally.
fn text(pieces: &[&str]) -> String {
    pieces.concat()
}

fn case(name: &'static str, raw: String) -> Case {
    Case {
        name,
        raw,
        expected_raw: None,
        check_write: true,
        config: None,
    }
}

impl Case {
    fn writes(mut self, expected: String) -> Self {
        self.expected_raw = Some(expected);
        self
    }

    fn parses_to(mut self, config: B) -> Self {
        self.config = Some(config.done());
        self
    }
}

/// `default_users_with(...)` and friends: root@pam plus the named users, enabled, no expiry.
fn base() -> B {
    cfg().user("root@pam", true, 0)
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let n = "\n";
    vec![
        case("default_config", text(&[ROOT, "\n\n\n\n\n"])).parses_to(base()),
        case("group_empty", text(&[ROOT, "\n\n", G_EMPTY, "\n\n", "\n\n"]))
        .parses_to(base().group("testgroup", &[])),
        case(
            "group_inexisting_member",
            text(&[ROOT, "\n\n", "group:testgroup:does_not_exist::", "\n\n\n\n"]),
        )
        .writes(text(&[ROOT, "\n\n", G_EMPTY, "\n\n", "\n\n"]))
        .parses_to(base().group("testgroup", &[])),
        Case {
            check_write: false,
            ..case(
                "group_invalid_member",
                text(&[ROOT, "\n\n", "group:inval!d:root@pam:", "\n\n"]),
            )
            .parses_to(base())
        },
        case("group_with_one_member", text(&[ROOT, n, TEST, "\n\n", G_SINGLE, "\n\n", "\n\n"]))
        .parses_to(base() .user("test@pam", true, 0) .group("testgroup", &["test@pam"]),),
        case(
            "group_with_members",
            text(&[ROOT, n, TEST2, n, TEST, "\n\n", G_MEMBERS, "\n\n", "\n\n"]),
        )
        .parses_to(
            base()
                .user("test@pam", true, 0)
                .user("test2@pam", true, 0)
                .group("testgroup", &["test@pam", "test2@pam"]),
        ),
        case("token_simple", text(&[ROOT, n, TEST, n, T_SIMPLE, "\n\n\n\n\n"]))
        .parses_to(base() .user("test@pam", true, 0) .token("test@pam!full", 0, false),),
        case(
            "token_multi",
            text(&[ROOT, n, TEST2, n, T_MULTI_EXPIRED, n, T_MULTI_FULL, n, T_MULTI_PRIVSEP, n,
                TEST, n, T_SIMPLE, n, "\n\n\n\n"]),
        )
        .parses_to(multi_tokens(base().user("test@pam", true, 0)).token(
            "test@pam!full",
            0,
            false,
        )),
        case("custom_role_with_single_priv", text(&[ROOT, "\n\n\n\n", ROLE_SINGLE, "\n\n"]))
        .parses_to(base().role("testrolesingle", &["VM.Allocate"])),
        case("custom_role_with_privs", text(&[ROOT, "\n\n\n\n", ROLE_PRIVS, "\n\n"]))
        .parses_to(base().role("testrole", &["VM.Allocate", "Datastore.Audit"])),
        case(
            "custom_role_with_duplicate_privs",
            text(&[ROOT, "\n\n\n\n", ROLE_PRIVS_DUPLICATE, "\n\n"]),
        )
        .writes(text(&[ROOT, "\n\n\n\n", ROLE_PRIVS, "\n\n"]))
        .parses_to(base().role("testrole", &["VM.Allocate", "Datastore.Audit"])),
        case("custom_role_with_invalid_priv", text(&[ROOT, "\n\n\n\n", ROLE_PRIVS_INVALID, "\n\n"]))
        .writes(text(&[ROOT, "\n\n\n\n", ROLE_PRIVS, "\n\n"]))
        .parses_to(base().role("testrole", &["VM.Allocate", "Datastore.Audit"])),
        case("pool_empty", text(&[ROOT, "\n\n\n", POOL_EMPTY, "\n\n\n"])).parses_to(base().pool(
            "testpool",
            &[],
            &[],
        )),
        case("pool_invalid", text(&[ROOT, "\n\n\n", POOL_INVALID, "\n\n\n"]))
        .writes(text(&[ROOT, "\n\n\n", POOL_EMPTY, "\n\n\n"]))
        .parses_to(base().pool("testpool", &[], &[])),
        case("pool_members", text(&[ROOT, "\n\n\n", POOL_MEMBERS, "\n\n\n"]))
        .parses_to(base().pool("testpool", &["123", "1234"], &["local", "local-zfs"])),
        case(
            "pool_duplicate_members",
            text(&[ROOT, "\n\n\n", POOL_MEMBERS, n, POOL_DUP_VMS, n, POOL_DUP_STORAGES, n]),
        )
        .writes(text(&[ROOT, "\n\n\n", POOL_DUP_STORAGES, n, POOL_DUP_VMS_EXPECTED, n,
            POOL_MEMBERS, "\n\n\n"]))
        .parses_to(
            base()
                .pool("testpool", &["123", "1234"], &["local", "local-zfs"])
                .pool("test_duplicate_vms", &[], &[])
                .pool("test_duplicate_storages", &[], &["local", "local-zfs"]),
        ),
        case("acl_simple_user", text(&[ROOT, n, TEST, "\n\n\n\n\n", ACL_SIMPLE_USER, n]))
        .parses_to(base().user("test@pam", true, 0).acl(
            "/",
            "test@pam",
            "PVEVMAdmin",
            true,
        )),
        case(
            "acl_complex_users",
            text(&[ROOT, n, TEST2, n, TEST, "\n\n\n\n\n", ACL_SIMPLE_USER, n, ACL_USERS_1, n,
                ACL_USERS_2, n]),
        )
        .parses_to(acl_complex_users(base().user("test@pam", true, 0).user(
            "test2@pam",
            true,
            0,
        ))),
        // An ACL entry for a user that is not defined is kept.
        case(
            "acl_complex_missing_user",
            text(&[ROOT, n, TEST2, "\n\n\n\n\n", ACL_SIMPLE_USER, n, ACL_USERS_1, n, ACL_USERS_2,
                n]),
        )
        .parses_to(acl_complex_users(base().user("test2@pam", true, 0))),
        case(
            "acl_simple_group",
            text(&[ROOT, n, TEST, "\n\n", G_SINGLE, "\n\n\n\n", ACL_SIMPLE_GROUP, n]),
        )
        .parses_to(
            base()
                .user("test@pam", true, 0)
                .group("testgroup", &["test@pam"])
                .acl("/", "@testgroup", "PVEVMAdmin", true),
        ),
        case(
            "acl_complex_groups",
            text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, n, G_MEMBERS, "\n\n\n\n",
                ACL_SIMPLE_GROUP, n, ACL_GROUPS_1, n, ACL_GROUPS_2, n]),
        )
        .parses_to(acl_complex_groups(three_users_two_groups(), true)),
        // An ACL entry for a group that is not defined is kept.
        case(
            "acl_complex_missing_group",
            text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, n, ACL_SIMPLE_GROUP, n,
                ACL_GROUPS_1, n, ACL_GROUPS_2, n]),
        )
        .writes(text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, "\n\n\n\n",
            ACL_SIMPLE_GROUP, n, ACL_GROUPS_1, n, ACL_GROUPS_2, n]))
        .parses_to(acl_complex_groups(
            three_users().group("another", &["test3@pam"]),
            true,
        )),
        case(
            "acl_simple_token",
            text(&[ROOT, n, TEST, n, T_SIMPLE, "\n\n\n\n\n", ACL_SIMPLE_TOKEN, n]),
        )
        .parses_to(
            base()
                .user("test@pam", true, 0)
                .token("test@pam!full", 0, false)
                .acl("/", "test@pam!full", "PVEVMAdmin", true),
        ),
        case(
            "acl_complex_tokens",
            text(&[ROOT, n, TEST2, n, T_MULTI_EXPIRED, n, T_MULTI_FULL, n, T_MULTI_PRIVSEP, n,
                TEST, n, T_SIMPLE, "\n\n\n\n\n", ACL_SIMPLE_TOKEN, n, ACL_TOKENS_1, n,
                ACL_TOKENS_2, n]),
        )
        .parses_to(
            multi_tokens(base().user("test@pam", true, 0))
                .token("test@pam!full", 0, false)
                .acl("/", "test@pam!full", "PVEVMAdmin", true)
                .acl("/storage", "test2@pam!privsep", "PVEDatastoreUser", true)
                .acl("/storage", "test2@pam!expired", "PVEDatastoreAdmin", true)
                .acl("/storage", "test@pam!full", "PVEDatastoreAdmin", true),
        ),
        // ACL entries for a token that is not defined are dropped.
        case(
            "acl_complex_missing_token",
            text(&[ROOT, n, TEST2, n, T_MULTI_EXPIRED, n, T_MULTI_FULL, n, T_MULTI_PRIVSEP, n,
                TEST, n, ACL_SIMPLE_TOKEN, n, ACL_TOKENS_1, n, ACL_TOKENS_2, n]),
        )
        .writes(text(&[ROOT, n, TEST2, n, T_MULTI_EXPIRED, n, T_MULTI_FULL, n, T_MULTI_PRIVSEP,
            n, TEST, "\n\n\n\n\n", ACL_TOKENS_1_MISSING, n, ACL_TOKENS_2, n]))
        .parses_to(
            multi_tokens(base().user("test@pam", true, 0))
                .acl("/storage", "test2@pam!expired", "PVEDatastoreAdmin", true)
                .acl("/storage", "test2@pam!privsep", "PVEDatastoreUser", true),
        ),
        // An ACL role that is not defined is dropped.
        case(
            "acl_missing_role",
            text(&[ROOT, n, TEST, "\n\n\n\n\n", ACL_SIMPLE_USER, n, ACL_MISSING_ROLE, n]),
        )
        .writes(text(&[ROOT, n, TEST, "\n\n\n\n\n", ACL_SIMPLE_USER, n]))
        .parses_to(base().user("test@pam", true, 0).acl(
            "/",
            "test@pam",
            "PVEVMAdmin",
            true,
        )),
        // Members with identical role lists at a path share one line.
        case(
            "acl_complex_mixed",
            text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, n, G_MEMBERS, "\n\n\n\n",
                ACL_SIMPLE_GROUP, n, ACL_GROUPS_1, n, ACL_GROUPS_2, n, ACL_SIMPLE_USER, n,
                ACL_USERS_1, n, ACL_USERS_2, n]),
        )
        .writes(mixed_expected())
        .parses_to(acl_complex_users(acl_complex_groups(
            three_users_two_groups(),
            true,
        ))),
        // propagate=0 and propagate=1 lists never merge; per path, 0 lines come first.
        case(
            "acl_complex_mixed_prop_noprop_no_merge_sort_by_path",
            text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, n, G_MEMBERS, "\n\n\n\n",
                ACL_SIMPLE_GROUP_NOPROP, n, ACL_SIMPLE_USER, n, ACL_GROUPS_1_NOPROP, n,
                ACL_GROUPS_2_NOPROP, n, ACL_USERS_1, n, ACL_USERS_2, n]),
        )
        .parses_to(acl_complex_users(acl_complex_groups(
            three_users_two_groups(),
            false,
        ))),
        case(
            "sort_roles_and_privs",
            text(&[ROOT, n, ROLE_SINGLE, "\n\n", ROLE_PRIVS_UNSORTED, "\n\n"]),
        )
        .writes(text(&[ROOT, "\n\n\n\n", ROLE_PRIVS, n, ROLE_SINGLE, "\n\n"])),
        case(
            "sort_users_and_group_members",
            text(&[TEST2, n, ROOT, n, TEST, "\n\n", G_MEMBERS_UNSORTED, "\n\n", "\n\n"]),
        )
        .writes(text(&[ROOT, n, TEST2, n, TEST, "\n\n", G_MEMBERS, "\n\n", "\n\n"])),
        case(
            "sort_user_groups_and_acls",
            text(&[TEST2, n, ROOT, n, TEST, "\n\n", TEST3, n, G_MEMBERS_UNSORTED, "\n\n\n\n",
                G_SECOND, n, ACL_SIMPLE_USER, n, ACL_SIMPLE_GROUP, n, ACL_USERS_1, n,
                ACL_USERS_2, n, ACL_GROUPS_1, n, ACL_GROUPS_2, n]),
        )
        .writes(mixed_expected()),
        // Bare lines: missing fields read as empty, so `user:root@pam` is a *disabled* root.
        case(
            "default_values",
            text(&["user:root@pam\n", "user:test@pam\n", "token:test@pam!test\n\n",
                "group:testgroup\n\n", "pool:testpool\n\n", "role:testrole\n\n", "acl::/:"]),
        )
        .writes(text(&["user:root@pam:0:0::::::\n", "user:test@pam:0:0::::::\n",
            "token:test@pam!test:0:0::\n\n", "group:testgroup:::\n\n", "pool:testpool::::\n\n",
            "role:testrole::\n\n"]))
        .parses_to(
            cfg()
                .user("root@pam", false, 0)
                .user("test@pam", false, 0)
                .token("test@pam!test", 0, false)
                .role("testrole", &[])
                .group("testgroup", &[])
                .pool("testpool", &[], &[]),
        ),
    ]
}

fn multi_tokens(b: B) -> B {
    b.user("test2@pam", true, 0)
        .token("test2@pam!full", 0, false)
        .token("test2@pam!privsep", 0, true)
        .token("test2@pam!expired", 1, false)
}

fn three_users() -> B {
    base()
        .user("test@pam", true, 0)
        .user("test2@pam", true, 0)
        .user("test3@pam", true, 0)
}

fn three_users_two_groups() -> B {
    three_users()
        .group("testgroup", &["test@pam", "test2@pam"])
        .group("another", &["test3@pam"])
}

fn acl_complex_users(b: B) -> B {
    b.acl("/", "test@pam", "PVEVMAdmin", true)
        .acl("/storage", "test2@pam", "PVEDatastoreUser", true)
        .acl("/storage", "test@pam", "PVEDatastoreAdmin", true)
}

fn acl_complex_groups(b: B, propagate: bool) -> B {
    b.acl("/", "@testgroup", "PVEVMAdmin", propagate)
        .acl("/storage", "@testgroup", "PVEDatastoreAdmin", propagate)
        .acl("/storage", "@another", "PVEDatastoreUser", propagate)
}

#[rustfmt::skip]
fn mixed_expected() -> String {
    let n = "\n";
    text(&[ROOT, n, TEST2, n, TEST3, n, TEST, "\n\n", G_SECOND, n, G_MEMBERS, "\n\n\n\n",
        ACL_MIXED_1, n, ACL_MIXED_2, n, ACL_MIXED_3, n])
}

// === expected configurations ===

/// Builds the configuration a case expects, like parser_writer.pl's `default_*_with` helpers.
struct B(UserConfig);

fn cfg() -> B {
    B(UserConfig::default())
}

fn id<T: FromStr>(s: &str) -> T
where
    T::Err: Debug,
{
    // INVARIANT: every id in this file is a literal valid id.
    s.parse().expect("valid id literal")
}

impl B {
    fn user(mut self, userid: &str, enable: bool, expire: u64) -> Self {
        self.0.users.insert(
            id(userid),
            User {
                enable,
                expire,
                ..User::new()
            },
        );
        self
    }

    fn token(mut self, tokenid: &str, expire: u64, privsep: bool) -> Self {
        let (owner, name) = tokenid.split_once('!').unwrap_or((tokenid, ""));
        let user = self.0.users.entry(id::<Userid>(owner)).or_default();
        user.tokens.insert(
            id(name),
            Token {
                expire,
                privsep,
                comment: String::new(),
            },
        );
        self
    }

    fn group(mut self, groupid: &str, members: &[&str]) -> Self {
        let members = members.iter().map(|m| id(m)).collect();
        self.0.groups.insert(
            id(groupid),
            Group {
                members,
                comment: String::new(),
            },
        );
        self
    }

    fn pool(mut self, poolid: &str, vms: &[&str], storage: &[&str]) -> Self {
        self.0.pools.insert(
            id(poolid),
            Pool {
                comment: String::new(),
                vms: vms.iter().map(|v| v.to_string()).collect(),
                storage: storage.iter().map(|s| s.to_string()).collect(),
            },
        );
        self
    }

    fn role(mut self, roleid: &str, privs: &[&str]) -> Self {
        // INVARIANT: privilege names in this file are literal valid names.
        let set = PrivSet::from_names(privs.iter().copied()).expect("valid privilege literal");
        self.0.roles.insert(id(roleid), set);
        self
    }

    /// `member` as written in an acl line: `@group`, `user@realm` or `user@realm!token`.
    fn acl(mut self, path: &str, member: &str, role: &str, propagate: bool) -> Self {
        // INVARIANT: paths in this file are literal valid paths.
        let path = AclPath::normalize(path).expect("valid path literal");
        let node: &mut AclNode = self.0.acl.entry(path).or_default();
        let roles: &mut BTreeMap<_, _> = if let Some(g) = member.strip_prefix('@') {
            node.groups.entry(id(g)).or_default()
        } else if member.contains('!') {
            node.tokens.entry(id(member)).or_default()
        } else {
            node.users.entry(id(member)).or_default()
        };
        roles.insert(id(role), propagate);
        self
    }

    fn done(self) -> UserConfig {
        self.0
    }
}

/// Proxmox's `parse_user_config` calls `userconfig_force_defaults` *before* the first line, so
/// root@pam exists while the file is read: a `token:root@pam!…` line needs no `user:root@pam`
/// line above it, and an ACL line can then name that token (spec §2.1 item 5).
#[test]
fn root_token_needs_no_root_user_line() {
    let (parsed, warnings) =
        UserConfig::parse("token:root@pam!tok::1:\nacl:1:/vms:root@pam!tok:PVEAuditor:\n");
    let want = cfg()
        .user("root@pam", true, 0)
        .token("root@pam!tok", 0, true)
        .acl("/vms", "root@pam!tok", "PVEAuditor", true)
        .done();
    assert_eq!(parsed, want, "warnings: {warnings:?}");
}
