//! The state directory through the real binary: file modes, no plaintext secret anywhere,
//! token.shadow round trip and regeneration, the writers' lock, `import-pve`, and where the
//! state directory comes from.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use aclgate::config::{StateDir, TokenShadow};
use cli_support::{State, all_bytes, contains};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn token_secrets_are_hashed_private_and_verifiable() {
    let s = State::new();
    s.ok(&["useradd", "joe@pve"]);
    let added = s.json(&["user", "token", "add", "joe@pve", "mon"]);
    let secret = added["value"].as_str().unwrap().to_owned();

    assert_eq!(mode(&s.root().join("priv")), 0o700);
    assert_eq!(mode(&s.root().join("priv/token.shadow")), 0o600);
    assert!(
        !contains(&all_bytes(&s.root()), &secret),
        "plaintext secret stored"
    );

    let state = StateDir::new(s.root()).load().unwrap();
    assert!(state.token_warnings.is_empty());
    assert!(state.tokens.verify("joe@pve!mon", &secret));
    assert!(!state.tokens.verify("joe@pve!mon", "wrong"));

    let again = s.json(&[
        "user",
        "token",
        "modify",
        "joe@pve",
        "mon",
        "--regenerate",
        "1",
    ]);
    let new_secret = again["value"].as_str().unwrap();
    let tokens = StateDir::new(s.root()).load().unwrap().tokens;
    assert!(
        !tokens.verify("joe@pve!mon", &secret),
        "old secret still works"
    );
    assert!(tokens.verify("joe@pve!mon", new_secret));
    assert!(!contains(&all_bytes(&s.root()), new_secret));

    s.ok(&["user", "token", "remove", "joe@pve", "mon"]);
    let tokens = StateDir::new(s.root()).load().unwrap().tokens;
    assert!(!tokens.verify("joe@pve!mon", new_secret));
}

#[test]
fn concurrent_writers_are_serialised() {
    let s = State::new();
    let children: Vec<_> = (0..20)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_aclgate"))
                .arg("--state-dir")
                .arg(s.root())
                .args(["useradd", &format!("user{i}@pve")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let cfg = StateDir::new(s.root()).load().unwrap().user_cfg;
    for i in 0..20 {
        let id = format!("user{i}@pve").parse().unwrap();
        assert!(cfg.users.contains_key(&id), "user{i}@pve lost");
    }
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(s.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
}

#[test]
fn state_dir_from_env_flag_position_and_default() {
    let dir = tempfile::tempdir().unwrap();
    let env_root = dir.path().join("from-env");
    let run = |args: &[&str], env: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aclgate"));
        cmd.current_dir(dir.path())
            .args(args)
            .env_remove("ACLGATE_STATE_DIR");
        if let Some(e) = env {
            cmd.env("ACLGATE_STATE_DIR", e);
        }
        assert!(cmd.status().unwrap().success(), "{args:?}");
    };
    run(&["useradd", "a@pve"], Some(&env_root));
    assert!(env_root.join("user.cfg").exists());
    let after = dir.path().join("after");
    run(
        &["useradd", "b@pve", "--state-dir", after.to_str().unwrap()],
        Some(&env_root),
    );
    assert!(
        std::fs::read_to_string(after.join("user.cfg"))
            .unwrap()
            .contains("b@pve")
    );
    run(&["useradd", "c@pve"], None);
    assert!(
        std::fs::read_to_string(dir.path().join("state/user.cfg"))
            .unwrap()
            .contains("c@pve")
    );
}

#[test]
fn import_pve_hashes_secrets_and_reports_warnings() {
    let s = State::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli/pve");
    let out = s.run(&["import-pve", fixture.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("3 users, 2 tokens (1 secrets), 1 groups, 1 pools, 1 roles"),
        "{stdout}"
    );
    // user.cfg warnings with file:line, token.cfg warnings without the secret.
    assert!(stderr.contains("user.cfg:6:"), "{stderr}");
    assert!(stderr.contains("user.cfg:7:"), "{stderr}");
    assert!(stderr.contains("token.cfg:2:"), "{stderr}");
    assert!(stderr.contains("token.cfg:3:"), "{stderr}");
    assert!(stderr.contains("joe@pve!nosecret"), "{stderr}");
    assert!(!stderr.contains("aaaaaaaa-2222"), "{stderr}");

    let bytes = all_bytes(&s.root());
    assert!(!contains(&bytes, "11111111-2222-4333-8444-555555555555"));
    assert!(!contains(&bytes, "aaaaaaaa-2222"));
    assert_eq!(mode(&s.root().join("priv/token.shadow")), 0o600);
    assert_eq!(mode(&s.root().join("priv/shadow.cfg")), 0o600);
    assert_eq!(
        s.read("priv/shadow.cfg"),
        std::fs::read_to_string(fixture.join("priv/shadow.cfg")).unwrap()
    );
    assert!(s.read("domains.cfg").contains("pve: pve"));

    let state = StateDir::new(s.root()).load().unwrap();
    assert!(
        state.user_cfg_warnings.is_empty(),
        "{:?}",
        state.user_cfg_warnings
    );
    assert!(
        state
            .tokens
            .verify("joe@pve!monitoring", "11111111-2222-4333-8444-555555555555")
    );
    assert!(
        !state
            .tokens
            .verify("ghost@pve!tok", "aaaaaaaa-2222-4333-8444-555555555555")
    );
    // Written canonically: comments stay encoded, the unknown privilege is gone.
    let cfg = s.read("user.cfg");
    assert!(cfg.contains("Joe%3A the admin"), "{cfg}");
    assert!(cfg.contains("role:R1:VM.Audit:"), "{cfg}");

    // A second import refuses to overwrite without --force, and changes nothing.
    let err = s.fails(&["import-pve", fixture.to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
    s.ok(&["import-pve", fixture.to_str().unwrap(), "--force", "1"]);
    let perms = s.json(&["user", "token", "permissions", "joe@pve", "monitoring"]);
    // Pool members (/vms/100, /vms/101 in p1) are listed too (spec §4.9).
    let audit = serde_json::json!({"VM.Audit": 1, "VM.GuestAgent.Audit": 1});
    let want = serde_json::json!({"/vms": audit, "/vms/100": audit, "/vms/101": audit});
    assert_eq!(perms, want);
}

#[test]
fn import_pve_needs_user_cfg() {
    let s = State::new();
    let empty = tempfile::tempdir().unwrap();
    let err = s.fails(&["import-pve", empty.path().to_str().unwrap()]);
    assert!(err.contains("user.cfg"), "{err}");
    assert!(!s.root().join("user.cfg").exists());
}

#[test]
fn token_shadow_text_round_trips_through_the_store() {
    let s = State::new();
    s.ok(&["useradd", "joe@pve"]);
    s.json(&["user", "token", "add", "joe@pve", "aa"]);
    s.json(&["user", "token", "add", "joe@pve", "bb"]);
    let text = s.read("priv/token.shadow");
    let (parsed, warnings) = TokenShadow::parse(&text);
    assert!(warnings.is_empty());
    assert_eq!(parsed.write(), text);
    assert!(text.starts_with("joe@pve!aa sha256$"), "{text}");
}
