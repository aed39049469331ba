//! pveum's output and error habits, compared with pve-common's `CLIFormatter`/`JSONSchema`:
//! the header rule `╞═╪═╡` (`+=+=+` in ASCII), right-aligned integer columns, every schema
//! column (`realm list` has `tfa`), `--output-format yaml`, `--human-readable`, repeated list
//! options, syntax errors with exit 255 and pveum's wording, `pool modify` refusing a member
//! twice, `user list --full` without tokens as null.

mod cli_support;

use std::process::Command;

use cli_support::State;

/// Run with a non-UTF-8 locale (CLIFormatter then draws ASCII).
fn ascii(s: &State, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(s.root())
        .args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Run, expecting pveum's exit code 255; stderr.
fn syntax_error(s: &State, args: &[&str]) -> String {
    let out = s.run(args);
    assert_eq!(out.status.code(), Some(255), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn tables_as_cliformatter_draws_them() {
    let s = State::new();
    s.ok(&[
        "useradd",
        "joe@pve",
        "-expire",
        "1700000000",
        "-comment",
        "Joe",
    ]);
    s.ok(&["useradd", "ann@pve", "-expire", "0"]);
    let text = s.ok(&["user", "list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("│ userid   │ comment │ email │ enable │     expire │"),
        "{text}"
    );
    assert!(lines[2].starts_with("╞══════════╪═════════╪"), "{text}");
    assert!(lines[2].ends_with('╡'), "{text}");
    // Integers are right-aligned, the rest left.
    assert!(
        lines[3].starts_with("│ ann@pve  │         │       │ 1      │          0 │"),
        "{text}"
    );
    assert!(
        lines[5].starts_with("│ joe@pve  │ Joe     │       │ 1      │ 1700000000 │"),
        "{text}"
    );

    let text = ascii(&s, &["group", "list"]);
    assert_eq!(text, "");
    s.ok(&["groupadd", "ops", "-comment", "Operators"]);
    assert_eq!(
        ascii(&s, &["group", "list"]),
        "+---------+-----------+-------+\n\
         | groupid | comment   | users |\n\
         +=========+===========+=======+\n\
         | ops     | Operators |       |\n\
         +---------+-----------+-------+\n"
    );

    // Every column of the schema: realm, type, then the optional comment and tfa.
    let realms = s.ok(&["realm", "list"]);
    assert!(
        realms
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("│ realm │ type │ comment"),
        "{realms}"
    );
    assert!(
        realms.lines().nth(1).unwrap().ends_with("│ tfa │"),
        "{realms}"
    );
}

#[test]
fn yaml_and_human_readable() {
    let s = State::new();
    s.ok(&["groupadd", "ops", "-comment", "#1: it's ops"]);
    s.ok(&["useradd", "joe@pve", "-groups", "ops"]);
    assert_eq!(
        s.ok(&["group", "list", "--output-format", "yaml"]),
        "---\n- comment: '#1: it''s ops'\n  groupid: ops\n  users: joe@pve\n"
    );
    assert_eq!(
        s.ok(&["role", "list", "--output-format", "yaml", "--noheader"])
            .lines()
            .next(),
        Some("---")
    );
    let plain = s.ok(&["group", "list", "--human-readable", "0"]);
    assert_eq!(plain, s.ok(&["group", "list", "--human-readable", "1"]));
    let json = s.json(&["user", "list", "--full", "1"]);
    assert_eq!(json[0]["tokens"], serde_json::Value::Null, "{json}");
    s.ok(&["user", "token", "add", "joe@pve", "t1"]);
    let json = s.json(&["user", "list", "--full", "1"]);
    assert_eq!(json[0]["tokens"][0]["tokenid"], "t1", "{json}");
}

#[test]
fn list_options_repeat() {
    let s = State::new();
    s.ok(&["groupadd", "g1"]);
    s.ok(&["groupadd", "g2"]);
    s.ok(&["useradd", "joe@pve", "-group", "g1", "-group", "g2"]);
    assert!(
        s.read("user.cfg")
            .contains("group:g1:joe@pve::\ngroup:g2:joe@pve::")
    );
    s.ok(&["roleadd", "R", "-privs", "VM.Audit", "-privs", "VM.Console"]);
    assert!(
        s.read("user.cfg").contains("role:R:VM.Audit,VM.Console:"),
        "{}",
        s.read("user.cfg")
    );
    s.ok(&["pool", "add", "p"]);
    s.ok(&[
        "pool", "modify", "p", "-vms", "110", "-vms", "111", "-storage", "local",
    ]);
    assert!(
        s.read("user.cfg").contains("pool:p::110,111:local:"),
        "{}",
        s.read("user.cfg")
    );
    s.ok(&[
        "aclmod",
        "/vms",
        "-groups",
        "g1",
        "-groups",
        "g2",
        "-roles",
        "PVEAuditor",
    ]);
    assert!(
        s.read("user.cfg")
            .contains("acl:1:/vms:@g1,@g2:PVEAuditor:"),
        "{}",
        s.read("user.cfg")
    );

    // A member added twice is refused, as Proxmox refuses it.
    let err = s.fails(&["pool", "modify", "p", "-vms", "110"]);
    assert!(err.contains("VM 110 is already a pool member"), "{err}");
    let err = s.fails(&["pool", "modify", "p", "-storage", "local"]);
    assert!(
        err.contains("Storage 'local' is already a pool member"),
        "{err}"
    );
}

#[test]
fn syntax_errors_as_pveum_words_them() {
    let s = State::new();
    for (args, want) in [
        (&["user", "add"][..], "400 not enough arguments\n"),
        (&["user", "add", "x@pve", "y"], "400 too many arguments\n"),
        (
            &["user", "add", "x@pve", "--foo", "1"],
            "Unknown option: foo\n400 unable to parse option\n",
        ),
        (
            &["user", "add", "x@pve", "--enable", "maybe"],
            "400 Parameter verification failed.\nenable: type check ('boolean') failed - got 'maybe'\n",
        ),
        (
            &["user", "list", "--output-format", "xml"],
            "400 Parameter verification failed.\noutput-format: value 'xml' does not have a value in the enumeration 'text, json, json-pretty, yaml'\n",
        ),
    ] {
        let err = syntax_error(&s, args);
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
    // No command at all, or a group without its subcommand: pveum's line, then the usage.
    for args in [&[][..], &["user"], &["user", "token"]] {
        let err = syntax_error(&s, args);
        assert!(
            err.starts_with("ERROR: no command specified\n") && err.contains("Usage: aclgate"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn permissions_list_every_node_of_the_acl_tree() {
    let s = State::new();
    s.ok(&["useradd", "joe@pve"]);
    s.ok(&["useradd", "ann@pve"]);
    s.ok(&["aclmod", "/", "-users", "joe@pve", "-roles", "PVEAuditor"]);
    for path in ["/mapping/pci/gpu", "/sdn/zones/z1", "/access/realm/pve"] {
        s.ok(&["aclmod", path, "-users", "ann@pve", "-roles", "NoAccess"]);
    }
    let perms = s.json(&["user", "permissions", "joe@pve"]);
    let paths: Vec<&str> = perms
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for want in [
        "/",
        "/access/realm",
        "/access/realm/pve",
        "/mapping",
        "/mapping/pci",
        "/mapping/pci/gpu",
        "/sdn/zones",
        "/sdn/zones/z1",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    // ann has no privilege anywhere: nothing is listed.
    assert_eq!(
        s.json(&["user", "permissions", "ann@pve"]),
        serde_json::json!({})
    );
}

/// Run with `input` on stdin: (exit code, stdout, stderr).
fn with_stdin(s: &State, args: &[&str], input: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(s.root())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn out_ticket(run: &(Option<i32>, String, String)) -> String {
    assert_eq!(run.0, Some(0), "{}", run.2);
    run.1.trim().to_owned()
}

#[test]
fn ticket_checks_privileges_and_realms_check_their_connection() {
    let s = State::new();
    let (code, _, err) = with_stdin(
        &s,
        &["useradd", "joe@pve", "-password"],
        "joe-pw-1234\njoe-pw-1234\n",
    );
    assert_eq!(code, Some(0), "{err}");
    s.ok(&[
        "aclmod",
        "/vms",
        "-users",
        "joe@pve",
        "-roles",
        "PVEAuditor",
    ]);
    let ticket = |extra: &[&str]| {
        let mut args = vec!["ticket", "joe@pve"];
        args.extend_from_slice(extra);
        with_stdin(&s, &args, "joe-pw-1234\n")
    };
    let (code, out, err) = ticket(&["--new-format", "1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("PVE:joe@pve:"), "{out}");
    let (code, out, err) = ticket(&["--path", "/vms/100", "--privs", "VM.Audit"]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let (code, _, err) = ticket(&["--path", "/vms", "--privs", "VM.Audit,VM.Allocate"]);
    assert_eq!(code, Some(255));
    // Proxmox's verify mode answers every refusal as a failed login.
    assert!(err.contains("authentication failure"), "{err}");
    // The credential may also be a ticket of the same user (Proxmox's verify_auth).
    let full = out_ticket(&ticket(&[]));
    let (code, _, err) = with_stdin(
        &s,
        &[
            "ticket", "joe@pve", "--path", "/vms/100", "--privs", "VM.Audit",
        ],
        &format!("{full}\n"),
    );
    assert_eq!(code, Some(0), "{err}");

    // A directory that cannot be reached: with --check-connection nothing is saved.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let add = [
        "realm",
        "add",
        "corp",
        "--type",
        "ldap",
        "--server1",
        "127.0.0.1",
        "--port",
        &port,
        "--base_dn",
        "dc=example,dc=com",
        "--user_attr",
        "uid",
    ];
    let mut checked = add.to_vec();
    checked.extend(["--check-connection", "1"]);
    let err = s.fails(&checked);
    assert!(err.contains("connection check failed"), "{err}");
    assert!(!s.read("domains.cfg").contains("corp"));
    s.ok(&add);
    assert!(s.read("domains.cfg").contains("ldap: corp"));
}
