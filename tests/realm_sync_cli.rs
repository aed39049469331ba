//! `aclgate realm sync` (the real binary) against a real slapd over StartTLS: a realm made with
//! `realm add`, a dry run that writes nothing, `sync-defaults-options` as the defaults, text
//! and JSON output, byte-identical re-syncs, pveum-style options, and refusals.

mod cli_support;
#[allow(dead_code, reason = "the LDAP fixture serves several test files")]
mod support_ldap;

use cli_support::State;
use support_ldap::{ADMIN_DN, ADMIN_PW, BASE_DN, GROUP_BASE_DN, SYNC_LDIF, Slapd};

#[test]
fn cli_syncs_a_realm() {
    let slapd = Slapd::start();
    slapd.add(SYNC_LDIF);
    let s = State::new();
    let port = slapd.ldap_port.to_string();
    let ca = slapd.ca_file.display().to_string();
    s.ok(&[
        "realm",
        "add",
        "dir",
        "--type",
        "ldap",
        "--server1",
        "127.0.0.1",
        "--port",
        &port,
        "--mode",
        "ldap+starttls",
        "--verify",
        "1",
        "--capath",
        &ca,
        "--base_dn",
        BASE_DN,
        "--user_attr",
        "uid",
        "--bind_dn",
        ADMIN_DN,
        "--password",
        ADMIN_PW,
        "--group_dn",
        GROUP_BASE_DN,
        "--sync_attributes",
        "email=mail,firstname=givenName",
        "--sync-defaults-options",
        "scope=both,enable-new=0",
    ]);

    // Dry run: the log on stdout, nothing written.
    let before = cli_support::snapshot(&s.root());
    let out = s.ok(&["realm", "sync", "dir", "--dry-run"]);
    for line in [
        "(dry test run) starting sync for realm dir\n",
        "syncing users (remove-vanished opts: none)\n",
        "adding user 'carol@dir'\n",
        "adding group 'admins-dir'\n",
        "NOTE: Dry test run, changes were NOT written to the configuration.\n",
    ] {
        assert!(out.contains(line), "dry-run output lacks {line:?}:\n{out}");
    }
    assert_eq!(
        cli_support::snapshot(&s.root()),
        before,
        "a dry run wrote files"
    );

    // The realm's sync-defaults-options apply: both scopes, new users disabled.
    let report = s.json(&["realm", "sync", "dir"]);
    assert_eq!(report["scope"], "both", "{report}");
    assert_eq!(report["enable-new"], 0, "{report}");
    assert_eq!(report["changed"], 1, "{report}");
    let cfg = s.read("user.cfg");
    for line in [
        "user:alice@dir:0:0::::::\n",
        "user:carol@dir:0:0:Carol::carol@example.com:::\n",
        "group:admins-dir:alice@dir,carol@dir::\n",
        "group:devs-dir:bob@dir::\n",
    ] {
        assert!(cfg.contains(line), "user.cfg lacks {line:?}:\n{cfg}");
    }

    // Again: byte-identical.
    let out = s.ok(&["realm", "sync", "dir"]);
    assert!(
        out.contains("successfully updated users and groups configuration"),
        "{out}"
    );
    assert_eq!(s.read("user.cfg"), cfg, "re-sync changed user.cfg");

    // pveum-style options override the defaults; bob vanishes and is removed.
    slapd.delete(&format!("uid=bob,{BASE_DN}"));
    let report = s.json(&[
        "realm",
        "sync",
        "dir",
        "-scope",
        "users",
        "-remove-vanished",
        "acl;entry",
        "-enable-new",
        "1",
    ]);
    assert_eq!(report["users"]["removed"][0], "bob@dir", "{report}");
    let cfg = s.read("user.cfg");
    assert!(!cfg.contains("user:bob@dir"), "{cfg}");
    assert!(
        cfg.contains("group:devs-dir:::\n"),
        "scope users leaves groups to the next group sync, minus the removed member:\n{cfg}"
    );

    // Refusals change nothing.
    let err = s.fails(&["realm", "sync", "pve", "--scope", "both"]);
    assert!(err.contains("Only LDAP/AD realms can be synced."), "{err}");
    let err = s.fails(&["realm", "sync", "dir", "--scope", "all"]);
    assert!(err.contains("scope"), "{err}");
    let err = s.fails(&["realm", "sync", "nosuch", "--scope", "both"]);
    assert!(err.contains("does not exist"), "{err}");
    s.ok(&[
        "realm",
        "modify",
        "dir",
        "--delete",
        "sync-defaults-options",
    ]);
    let err = s.fails(&["realm", "sync", "dir"]);
    assert!(
        err.contains("scope"),
        "without defaults scope is required: {err}"
    );
    s.ok(&["realm", "modify", "dir", "--delete", "password"]);
    let err = s.fails(&["realm", "sync", "dir", "--scope", "both"]);
    assert!(err.contains("missing password"), "{err}");
}

#[test]
fn cli_syncs_an_ad_realm_with_its_naming_context() {
    // slapd stands in for AD: the sync binds with the service account (no UPN bind).
    let slapd = Slapd::start();
    let s = State::new();
    let port = slapd.ldap_port.to_string();
    s.ok(&[
        "realm",
        "add",
        "win",
        "--type",
        "ad",
        "--server1",
        "127.0.0.1",
        "--port",
        &port,
        "--domain",
        "example.com",
        "--bind_dn",
        ADMIN_DN,
        "--password",
        ADMIN_PW,
        "--user_attr",
        "uid",
        "--base_dn",
        BASE_DN,
    ]);
    let report = s.json(&["realm", "sync", "win", "--scope", "users", "--dry-run"]);
    assert_eq!(
        report["users"]["added"],
        serde_json::json!(["alice@win", "bob@win"]),
        "{report}"
    );
    // Without base_dn an AD realm searches the root DSE's defaultNamingContext, which slapd
    // does not publish: the sync fails and writes nothing.
    s.ok(&["realm", "modify", "win", "--delete", "base_dn"]);
    let err = s.fails(&["realm", "sync", "win", "--scope", "users"]);
    assert!(err.contains("defaultNamingContext"), "{err}");
}
