//! tfa.cfg: round trip through the state directory (0600), Proxmox-shaped JSON, invalid
//! userids purged, damaged files refused, `keys` sync.

use std::os::unix::fs::PermissionsExt;

use aclgate::auth::tfa::{TfaStore, manage};
use aclgate::config::StateDir;
use aclgate::config::user_cfg::User;
use aclgate::identity::Userid;

const URI: &str = "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn uid(s: &str) -> Userid {
    s.parse().unwrap()
}

#[test]
fn round_trip_through_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let mut store = TfaStore::default();
    let t = 1_700_000_000;
    let entry = aclgate::auth::tfa::totp::TotpEntry::parse(URI).unwrap();
    let code = entry.code(entry.counter(t));
    manage::add_totp(&mut store, &uid("alice@pve"), "phone", URI, &code, t).unwrap();
    manage::add_recovery(&mut store, &uid("alice@pve"), t).unwrap();
    manage::add_yubico(
        &mut store,
        &uid("bob@pam"),
        "key",
        &"cccccccccccb".repeat(3),
        None,
        t,
    )
    .unwrap();
    store.users.get_mut(&uid("bob@pam")).unwrap().totp_locked = true;
    let _lock = state.lock().unwrap();
    store.save(&state).unwrap();
    let path = dir.path().join("priv/tfa.cfg");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let loaded = TfaStore::load(&state).unwrap();
    assert_eq!(loaded, store);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(loaded.write(), text, "canonical write");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let totp = &json["users"]["alice@pve"]["totp"][0];
    assert_eq!(
        totp["entry"]["totp"], URI,
        "used entry keeps its uri: {totp}"
    );
    assert!(totp["entry"]["last-count"].is_i64());
    assert!(totp.get("enable").is_none(), "enable=true is omitted");
    assert_eq!(
        json["users"]["bob@pam"]["yubico"][0]["entry"],
        "cccccccccccb"
    );
    assert_eq!(json["users"]["bob@pam"]["totp-locked"], true);
    assert_eq!(
        json["users"]["alice@pve"]["recovery"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn proxmox_file_loads_and_invalid_users_are_dropped() {
    let text = r#"{"users":{
        "root@pam":{"totp":[{"id":"a1","description":"d","created":1,"enable":false,"entry":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"}],
                    "webauthn":[{"id":"w1","description":"key","created":2,"entry":{"cred-id":"abc","cred":{},"counter":0}}],
                    "tfa-locked-until":5},
        "not a userid":{"totp":[]}},
        "webauthn":{"rp":"pve","origin":"https://pve:8006","id":"pve"}}"#;
    let (store, warnings) = TfaStore::parse(text).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("not a userid"));
    let root = &store.users[&uid("root@pam")];
    assert!(!root.totp[0].enable);
    assert_eq!(root.webauthn[0].id, "w1");
    assert_eq!(root.tfa_locked_until, Some(5));
    let again = TfaStore::parse(&store.write()).unwrap().0;
    assert_eq!(
        again, store,
        "unknown webauthn entries and settings survive a round trip"
    );
}

#[test]
fn damaged_files_are_refused() {
    for text in [
        "{",
        r#"{"users":{"a@pve":{"totp":[{"id":"x","entry":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&foo=1"}]}}}"#,
        r#"{"users":{"a@pve":{"unknown-field":1}}}"#,
    ] {
        assert!(TfaStore::parse(text).is_err(), "{text}");
    }
}

#[test]
fn delete_and_keys_marker() {
    let mut store = TfaStore::default();
    let a = uid("alice@pve");
    let mut user = User {
        enable: true,
        expire: 0,
        firstname: String::new(),
        lastname: String::new(),
        email: String::new(),
        comment: String::new(),
        keys: String::new(),
        tokens: Default::default(),
    };
    manage::add_recovery(&mut store, &a, 1).unwrap();
    let id = manage::add_yubico(&mut store, &a, "key", &"c".repeat(32), None, 1).unwrap();
    assert!(manage::sync_keys(&store, &a, &mut user));
    assert_eq!(user.keys, "x");
    assert!(store.delete_entry(&a, &id).unwrap(), "recovery keys left");
    assert!(!store.delete_entry(&a, "recovery").unwrap(), "nothing left");
    assert!(store.delete_entry(&a, "recovery").is_err());
    assert!(manage::sync_keys(&store, &a, &mut user));
    assert_eq!(user.keys, "");
    user.keys = "legacykey".into();
    assert!(
        !manage::sync_keys(&store, &a, &mut user),
        "legacy keys are left alone"
    );
}
