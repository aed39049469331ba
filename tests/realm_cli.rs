//! `realm`, `passwd` and `user add --password` through the real binary, then logins through
//! the library against what the commands wrote.

mod cli_support;

use std::os::unix::fs::PermissionsExt;

use aclgate::auth::realm::{LoginOptions, RealmError, RealmSecrets, authenticate};
use aclgate::config::StateDir;
use cli_support::State;

#[test]
fn realm_commands_edit_domains_cfg() {
    let s = State::new();
    s.ok(&[
        "realm",
        "add",
        "corp",
        "--type",
        "ldap",
        "--server1",
        "ldap.example.com",
        "--base_dn",
        "dc=example,dc=com",
        "--user_attr",
        "uid",
        "--mode",
        "ldaps",
        "--verify",
        "--password",
        "bind-secret",
        "--comment",
        "Corporate LDAP",
        "-case-sensitive",
        "0",
        "--default",
        "1",
    ]);
    let cfg = s.read("domains.cfg");
    assert!(
        cfg.contains("ldap: corp\n\tcomment Corporate LDAP\n\tbase_dn dc=example,dc=com\n"),
        "{cfg}"
    );
    assert!(
        cfg.contains("\tcase-sensitive 0\n\tdefault 1\n\tmode ldaps\n\tverify 1\n"),
        "{cfg}"
    );
    assert!(!cfg.contains("bind-secret"), "bind password in domains.cfg");
    let pw_path = s.root().join("priv/realm/corp.pw");
    assert_eq!(std::fs::read_to_string(&pw_path).unwrap(), "bind-secret\n");
    assert_eq!(
        std::fs::metadata(&pw_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The deprecated `full`/`purge` become `remove-vanished`, as Proxmox rewrites them.
    s.ok(&[
        "realm",
        "modify",
        "corp",
        "--sync-defaults-options",
        "scope=users,full=1,purge=yes",
    ]);
    let cfg = s.read("domains.cfg");
    assert!(
        cfg.contains("\tsync-defaults-options remove-vanished=entry;properties;acl,scope=users\n"),
        "{cfg}"
    );

    // Refusals change nothing.
    s.fails(&[
        "realm",
        "add",
        "corp",
        "--type",
        "ldap",
        "--server1",
        "x.example",
        "--base_dn",
        "dc=x",
        "--user_attr",
        "uid",
    ]);
    s.fails(&["realm", "add", "other", "--type", "pve"]);
    s.fails(&[
        "realm",
        "add",
        "pam",
        "--type",
        "ldap",
        "--server1",
        "x.example",
        "--base_dn",
        "dc=x",
        "--user_attr",
        "uid",
    ]);
    s.fails(&[
        "realm",
        "add",
        "nobase",
        "--type",
        "ldap",
        "--server1",
        "x.example",
        "--user_attr",
        "uid",
    ]);
    s.fails(&[
        "realm",
        "add",
        "badport",
        "--type",
        "ldap",
        "--server1",
        "x.example",
        "--base_dn",
        "dc=x",
        "--user_attr",
        "uid",
        "--port",
        "0",
    ]);
    s.fails(&[
        "realm",
        "add",
        "win",
        "--type",
        "ad",
        "--server1",
        "dc.example",
        "--domain",
        "example.com",
        "--tfa",
        "type=bad",
    ]);
    s.fails(&["realm", "delete", "pve"]);
    s.fails(&["realm", "delete", "nosuch"]);
    s.fails(&["realm", "modify", "pam", "--server1", "x.example"]);
    s.fails(&["realm", "modify", "corp", "--delete", "base_dn"]);

    // Making pve the default clears it on corp; the bind password can be removed.
    s.ok(&[
        "realm",
        "modify",
        "pve",
        "--default",
        "1",
        "--comment",
        "local users",
    ]);
    s.ok(&["realm", "modify", "corp", "--delete", "password,mode"]);
    assert!(!pw_path.exists());
    let list = s.json(&["realm", "list"]);
    let realms: Vec<(String, String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["realm"].as_str().unwrap().into(),
                r["type"].as_str().unwrap().into(),
                r.get("default").is_some(),
            )
        })
        .collect();
    assert_eq!(
        realms,
        vec![
            ("pam".into(), "pam".into(), false),
            ("pve".into(), "pve".into(), true),
            ("corp".into(), "ldap".into(), false)
        ]
    );
    assert!(!s.read("domains.cfg").contains("mode"));
    s.ok(&["realm", "delete", "corp"]);
    assert!(!s.read("domains.cfg").contains("corp"));
}

#[tokio::test]
async fn passwords_set_by_the_cli_authenticate() {
    let s = State::new();
    s.ok(&["user", "add", "joe@pve", "--password", "first-password"]);
    let shadow_path = s.root().join("priv/shadow.cfg");
    let shadow = std::fs::read_to_string(&shadow_path).unwrap();
    assert!(
        shadow.starts_with("joe:$5$") && !shadow.contains("first-password"),
        "{shadow}"
    );
    assert_eq!(
        std::fs::metadata(&shadow_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let login = |password: &'static str| {
        let root = s.root();
        async move {
            let state = StateDir::new(root);
            let (domains, _) = state.load_domains().unwrap();
            let (secrets, _) = RealmSecrets::load(&state, &domains).unwrap();
            let joe = "joe@pve".parse().unwrap();
            authenticate(&domains, &secrets, &joe, password, &LoginOptions::default()).await
        }
    };
    assert!(login("first-password").await.is_ok());
    assert!(matches!(
        login("second-password").await,
        Err(RealmError::InvalidCredentials)
    ));

    s.ok(&["passwd", "joe@pve", "--password", "second-password"]);
    assert!(login("second-password").await.is_ok());
    assert!(login("first-password").await.is_err());

    // Without --password and without a terminal, two lines of stdin are the password and its
    // confirmation (as pveum reads them); two different lines change nothing.
    let passwd_stdin = |input: &'static [u8]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("--state-dir")
            .arg(s.root())
            .args(["passwd", "joe@pve"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = passwd_stdin(b"third-password\nother-password\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Passwords do not match."));
    assert!(login("second-password").await.is_ok());
    assert!(
        passwd_stdin(b"third-password\nthird-password\n")
            .status
            .success()
    );
    assert!(login("third-password").await.is_ok());

    // Refusals: short/long passwords, unknown users, realms that keep no passwords here.
    s.fails(&["passwd", "joe@pve", "--password", "short"]);
    s.fails(&["passwd", "joe@pve", "--password", &"x".repeat(65)]);
    s.fails(&["passwd", "nobody@pve", "--password", "long-enough-pw"]);
    s.fails(&["passwd", "root@pam", "--password", "long-enough-pw"]);
    s.fails(&["user", "add", "ann@pam", "--password", "long-enough-pw"]);
    s.fails(&["user", "add", "ann@pve", "--password", "short"]);
    assert!(!s.read("user.cfg").contains("ann@"));

    // Deleting the user removes the hash.
    s.ok(&["user", "delete", "joe@pve"]);
    assert!(
        !std::fs::read_to_string(&shadow_path)
            .unwrap()
            .contains("joe:")
    );
    assert!(matches!(
        login("third-password").await,
        Err(RealmError::NoPasswordSet)
    ));
}
