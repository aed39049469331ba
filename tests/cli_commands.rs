//! Every management command's happy path and its validation failures (non-zero exit, message,
//! files byte-identical), through the real binary.

mod cli_support;

use serde_json::json;

use cli_support::State;

/// A state with joe@pve, group admins, custom role R1, pool p1 and joe's token `mon`.
fn base() -> State {
    let s = State::new();
    s.ok(&["group", "add", "admins", "--comment", "The admins"]);
    s.ok(&[
        "user",
        "add",
        "joe@pve",
        "--groups",
        "admins",
        "--email",
        "joe@example.com",
        "--firstname",
        "Joe",
    ]);
    s.ok(&["role", "add", "R1", "--privs", "VM.Audit,VM.Console"]);
    s.ok(&["pool", "add", "p1", "--comment", "pool one"]);
    s.json(&["user", "token", "add", "joe@pve", "mon"]);
    s
}

#[test]
fn user_commands() {
    let s = base();
    let users = s.json(&["user", "list", "--full", "1"]);
    let joe = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userid"] == "joe@pve")
        .unwrap();
    assert_eq!(joe["groups"], "admins");
    assert_eq!(joe["email"], "joe@example.com");
    assert_eq!(joe["firstname"], "Joe");
    assert_eq!(joe["enable"], 1);
    assert_eq!(joe["realm-type"], "pve");
    assert_eq!(
        joe["tokens"],
        json!([{"tokenid": "mon", "expire": 0, "privsep": 1}])
    );

    s.ok(&["usermod", "joe@pve", "-enable", "no", "-comment", "away"]);
    let enabled = s.json(&["user", "list", "--enabled", "1"]);
    assert!(
        enabled
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["userid"] != "joe@pve")
    );
    let disabled = s.json(&["user", "list", "--enabled", "false"]);
    assert_eq!(disabled[0]["comment"], "away");

    s.ok(&["group", "add", "ops"]);
    s.ok(&[
        "user", "modify", "joe@pve", "--groups", "ops", "--append", "1",
    ]);
    assert!(s.read("user.cfg").contains("group:admins:joe@pve:"));
    assert!(s.read("user.cfg").contains("group:ops:joe@pve:"));
    s.ok(&["user", "modify", "joe@pve", "--groups", "ops"]);
    assert!(s.read("user.cfg").contains("group:admins::"));

    s.ok(&["aclmod", "/vms", "-users", "joe@pve", "-roles", "R1"]);
    s.ok(&["aclmod", "/vms", "-tokens", "joe@pve!mon", "-roles", "R1"]);
    s.ok(&["userdel", "joe@pve"]);
    let cfg = s.read("user.cfg");
    assert!(!cfg.contains("joe@pve"), "{cfg}");
    assert!(!s.read("priv/token.shadow").contains("joe@pve"));
}

#[test]
fn user_validation() {
    let s = base();
    for (args, message) in [
        (&["useradd", "joe@pve"][..], "already exists"),
        (&["useradd", "a,b@pve"], "cannot be listed"),
        (&["useradd", "a;b@pve"], "cannot be listed"),
        (&["useradd", "nobody"], "user name"),
        (&["useradd", "x@pve", "--groups", "nosuch"], "no such group"),
        (
            &["useradd", "x@pve", "--email", "not-an-email"],
            "invalid email",
        ),
        (&["useradd", "x@pve", "--enable", "maybe"], "boolean"),
        (&["useradd", "x@pve", "--expire", "-5"], ""),
        (
            &["usermod", "ghost@pve", "--comment", "x"],
            "does not exist",
        ),
        (&["usermod", "joe@pve", "--append", "1"], "groups"),
        (&["userdel", "ghost@pve"], "does not exist"),
        (&["userdel", "root@pam"], "root@pam"),
        (&["user", "list", "--bogus"], ""),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn token_commands() {
    let s = base();
    let list = s.json(&["user", "token", "list", "joe@pve"]);
    assert_eq!(list, json!([{"tokenid": "mon", "expire": 0, "privsep": 1}]));

    let added = s.json(&[
        "user",
        "token",
        "add",
        "joe@pve",
        "full",
        "--privsep",
        "0",
        "--expire",
        "4102444800",
        "--comment",
        "all of joe",
    ]);
    assert_eq!(
        added["info"],
        json!({"privsep": 0, "expire": 4102444800u64, "comment": "all of joe"})
    );
    assert_eq!(added["value"].as_str().unwrap().len(), 36);

    let modified = s.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "full",
        "--privsep",
        "1",
        "--delete",
        "comment",
    ]);
    assert_eq!(modified, json!({"expire": 4102444800u64, "privsep": 1}));

    let regenerated = s.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "full",
        "--regenerate",
        "1",
    ]);
    assert_eq!(regenerated["full-tokenid"], "joe@pve!full");
    assert_ne!(regenerated["value"], added["value"]);

    // Text format shows the secret in pveum's key/value table.
    let text = s.ok(&["user", "token", "add", "joe@pve", "third"]);
    assert!(text.contains("│ full-tokenid │ joe@pve!third"), "{text}");
    assert!(text.contains("│ value        │ "), "{text}");

    s.ok(&["user", "token", "remove", "joe@pve", "full"]);
    s.ok(&["user", "token", "delete", "joe@pve", "third"]);
    let list = s.json(&["user", "token", "list", "joe@pve"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!s.read("priv/token.shadow").contains("joe@pve!full"));
}

#[test]
fn token_validation() {
    let s = base();
    for (args, message) in [
        (
            &["user", "token", "add", "joe@pve", "mon"][..],
            "already exists",
        ),
        (
            &["user", "token", "add", "ghost@pve", "mon"],
            "does not exist",
        ),
        (&["user", "token", "add", "joe@pve", "1bad"], "token name"),
        (
            &["user", "token", "add", "joe@pve", "x", "--privsep", "2"],
            "boolean",
        ),
        (
            &[
                "user",
                "token",
                "modify",
                "joe@pve",
                "nosuch",
                "--comment",
                "x",
            ],
            "no such token",
        ),
        (
            &[
                "user", "token", "modify", "joe@pve", "mon", "--delete", "privsep",
            ],
            "cannot delete",
        ),
        (
            &["user", "token", "remove", "joe@pve", "nosuch"],
            "no such token",
        ),
        (&["user", "token", "list", "ghost@pve"], "does not exist"),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn group_commands_and_validation() {
    let s = base();
    let groups = s.json(&["group", "list"]);
    assert_eq!(
        groups,
        json!([{"groupid": "admins", "comment": "The admins", "users": "joe@pve"}])
    );
    s.ok(&["groupmod", "admins", "-comment", "new"]);
    s.ok(&["aclmod", "/", "-group", "admins", "-role", "PVEAuditor"]);
    assert!(s.read("user.cfg").contains("@admins"));
    for (args, message) in [
        (&["groupadd", "admins"][..], "already exists"),
        (&["groupadd", "bad/id"], "invalid group id"),
        (&["groupmod", "nosuch", "--comment", "x"], "does not exist"),
        (&["groupdel", "nosuch"], "does not exist"),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    s.ok(&["groupdel", "admins"]);
    let cfg = s.read("user.cfg");
    assert!(!cfg.contains("admins"), "{cfg}");
}

#[test]
fn role_commands_and_validation() {
    let s = base();
    let roles = s.json(&["role", "list"]);
    let roles = roles.as_array().unwrap();
    assert_eq!(roles.len(), 18);
    let r1 = roles.iter().find(|r| r["roleid"] == "R1").unwrap();
    assert_eq!(r1, &json!({"roleid": "R1", "privs": "VM.Audit,VM.Console"}));
    let admin = roles.iter().find(|r| r["roleid"] == "NoAccess").unwrap();
    assert_eq!(admin["special"], 1);

    s.ok(&["rolemod", "R1", "-privs", "Sys.Audit", "-append", "1"]);
    assert!(
        s.read("user.cfg")
            .contains("role:R1:Sys.Audit,VM.Audit,VM.Console:")
    );
    s.ok(&["rolemod", "R1", "-privs", "Sys.Audit"]);
    assert!(s.read("user.cfg").contains("role:R1:Sys.Audit:"));

    for (args, message) in [
        (&["roleadd", "R1"][..], "already exists"),
        (&["roleadd", "Administrator"], "already exists"),
        (&["roleadd", "PVE_Power-only"], "reserved"),
        (&["roleadd", "pveX"], "reserved"),
        (
            &["roleadd", "R2", "--privs", "VM.Fly"],
            "invalid privilege 'VM.Fly'",
        ),
        (
            &["rolemod", "PVEAdmin", "--privs", "VM.Audit"],
            "predefined",
        ),
        (
            &["rolemod", "nosuch", "--privs", "VM.Audit"],
            "does not exist",
        ),
        (&["rolemod", "R1", "--privs", "Nope"], "invalid privilege"),
        (&["roledel", "Administrator"], "predefined"),
        (&["roledel", "nosuch"], "does not exist"),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    s.ok(&["aclmod", "/vms", "-users", "joe@pve", "-roles", "R1"]);
    s.ok(&["roledel", "R1"]);
    let cfg = s.read("user.cfg");
    assert!(!cfg.contains("R1"), "{cfg}");
}

#[test]
fn acl_commands_and_validation() {
    let s = base();
    s.ok(&[
        "acl",
        "modify",
        "/vms/100",
        "--users",
        "joe@pve",
        "--roles",
        "R1,PVEAuditor",
        "--propagate",
        "0",
    ]);
    s.ok(&[
        "acl",
        "modify",
        "/storage",
        "--groups",
        "admins",
        "--roles",
        "PVEDatastoreUser",
    ]);
    s.ok(&[
        "acl",
        "modify",
        "/",
        "--users",
        "root@pam",
        "--roles",
        "Administrator",
    ]);
    let acl = s.json(&["acl", "list"]);
    assert_eq!(
        acl,
        json!([
            {"path": "/storage", "type": "group", "ugid": "admins", "roleid": "PVEDatastoreUser", "propagate": 1},
            {"path": "/vms/100", "type": "user", "ugid": "joe@pve", "roleid": "PVEAuditor", "propagate": 0},
            {"path": "/vms/100", "type": "user", "ugid": "joe@pve", "roleid": "R1", "propagate": 0},
        ])
    );
    assert!(!s.read("user.cfg").contains("root@pam:Administrator"));
    for (args, message) in [
        (&["aclmod", "/vms", "-roles", "R1"][..], "required"),
        (
            &["aclmod", "/vms/99", "-users", "joe@pve", "-roles", "R1"],
            "invalid ACL path",
        ),
        (
            &["aclmod", "/kvm", "-users", "joe@pve", "-roles", "R1"],
            "invalid ACL path",
        ),
        (
            &["aclmod", "/vms", "-users", "ghost@pve", "-roles", "R1"],
            "does not exist",
        ),
        (
            &["aclmod", "/vms", "-groups", "ghosts", "-roles", "R1"],
            "does not exist",
        ),
        (
            &["aclmod", "/vms", "-tokens", "joe@pve!ghost", "-roles", "R1"],
            "no such token",
        ),
        (
            &["aclmod", "/vms", "-users", "joe@pve", "-roles", "Nope"],
            "does not exist",
        ),
        (&["aclmod", "/vms", "-users", "joe@pve"], "roles"),
        (
            &["acldel", "/vms", "-users", "ghost@pve", "-roles", "R1"],
            "does not exist",
        ),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    s.ok(&[
        "acldel",
        "/vms/100",
        "-users",
        "joe@pve",
        "-roles",
        "R1;PVEAuditor",
    ]);
    s.ok(&[
        "acl",
        "delete",
        "/storage",
        "--groups",
        "admins",
        "--roles",
        "PVEDatastoreUser",
    ]);
    assert_eq!(s.json(&["acl", "list"]), json!([]));
}

#[test]
fn pool_commands_and_validation() {
    let s = base();
    s.ok(&["pool", "add", "p1/sub"]);
    s.ok(&[
        "pool",
        "modify",
        "p1",
        "--vms",
        "100,101",
        "--storage",
        "local",
    ]);
    s.ok(&["pool", "add", "p2"]);
    s.ok(&[
        "aclmod",
        "/pool/p2",
        "-users",
        "joe@pve",
        "-roles",
        "PVEAuditor",
    ]);
    let pools = s.json(&["pool", "list"]);
    assert_eq!(
        pools,
        json!([{"poolid": "p1", "comment": "pool one"}, {"poolid": "p1/sub"}, {"poolid": "p2"}])
    );
    for (args, message) in [
        (&["pool", "add", "p1"][..], "already exists"),
        (&["pool", "add", "nope/sub"], "parent pool"),
        (&["pool", "add", "1abc"], "start with a letter"),
        (&["pool", "add", "a/b/c/d"], "invalid pool id"),
        (&["pool", "modify", "p2", "--vms", "100"], "allow-move"),
        (&["pool", "modify", "p2", "--vms", "99"], "invalid VMID"),
        (
            &["pool", "modify", "p2", "--storage", "x"],
            "invalid storage id",
        ),
        (
            &["pool", "modify", "p2", "--vms", "100", "--delete", "1"],
            "not a pool member",
        ),
        (
            &["pool", "modify", "nosuch", "--comment", "x"],
            "does not exist",
        ),
        (&["pool", "delete", "p1"], "not empty"),
        (&["pool", "delete", "nosuch"], "does not exist"),
    ] {
        let err = s.fails(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    s.ok(&["pool", "modify", "p2", "--vms", "100", "--allow-move", "1"]);
    let cfg = s.read("user.cfg");
    assert!(cfg.contains("pool:p1:pool one:101:local:"), "{cfg}");
    assert!(cfg.contains("pool:p2::100::"), "{cfg}");
    // Pool roles reach members: joe sees VM.Audit on /vms/100 via /pool/p2.
    let perms = s.json(&["user", "permissions", "joe@pve"]);
    assert_eq!(perms["/vms/100"]["VM.Audit"], 0);
    s.ok(&["pool", "modify", "p2", "--vms", "100", "--delete", "1"]);
    s.ok(&["pool", "delete", "p2"]);
    assert!(!s.read("user.cfg").contains("/pool/p2"));
}

#[test]
fn output_formats() {
    let s = base();
    let pretty = s.ok(&["group", "list", "--output-format", "json-pretty"]);
    assert_eq!(
        pretty,
        "[\n   {\n      \"comment\" : \"The admins\",\n      \"groupid\" : \"admins\",\n      \"users\" : \"joe@pve\"\n   }\n]\n"
    );
    let compact = s.ok(&["group", "list", "--output-format", "json"]);
    assert_eq!(
        compact,
        "[{\"comment\":\"The admins\",\"groupid\":\"admins\",\"users\":\"joe@pve\"}]\n"
    );
    let text = s.ok(&["group", "list"]);
    assert_eq!(
        text,
        "\
┌─────────┬────────────┬─────────┐
│ groupid │ comment    │ users   │
╞═════════╪════════════╪═════════╡
│ admins  │ The admins │ joe@pve │
└─────────┴────────────┴─────────┘
"
    );
    let plain = s.ok(&["group", "list", "--noborder", "1", "--noheader", "1"]);
    assert_eq!(plain, "admins  The admins joe@pve\n");
    // Global options are accepted before the subcommand too, and by prefix.
    let early = s.ok(&["--output-format", "json", "group", "list"]);
    assert_eq!(early, compact);
    let prefix = s.ok(&["group", "list", "-output", "json"]);
    assert_eq!(prefix, compact);
}
