//! CSRF prevention tokens (spec §6.6): layout, user binding, age window, tampering, the legacy
//! SHA-1 form, and the secret file.

use std::os::unix::fs::PermissionsExt;

use aclgate::auth::ticket::{CsrfSecret, create_csrf, verify_csrf};
use aclgate::config::StateDir;
use aclgate::identity::Userid;

const T0: i64 = 1_700_000_000;

fn user(text: &str) -> Userid {
    text.parse().unwrap()
}

#[test]
fn layout_is_eight_hex_digits_colon_43_base64_characters() {
    let token = create_csrf(&CsrfSecret::generate(), &user("joe@pve"), T0).unwrap();
    let (stamp, mac) = token.split_once(':').unwrap();
    assert_eq!(stamp, format!("{T0:08X}"));
    assert_eq!(mac.len(), 43, "{token}");
    assert!(!mac.contains('='), "{token}");
}

#[test]
fn validity_table() {
    let secret = CsrfSecret::generate();
    let joe = user("joe@pve");
    let token = create_csrf(&secret, &joe, T0).unwrap();
    let (stamp, mac) = token.split_once(':').unwrap();
    let mut flipped = mac.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{stamp}:{}", String::from_utf8(flipped).unwrap());
    let other_secret = create_csrf(&CsrfSecret::generate(), &joe, T0).unwrap();
    #[rustfmt::skip]
    let cases: Vec<(&str, String, &str, i64, bool)> = vec![
        ("valid",              token.clone(),                      "joe@pve", T0,        true),
        ("other user",         token.clone(),                      "eve@pve", T0,        false),
        ("just before skew",   token.clone(),                      "joe@pve", T0 - 299,  true),
        ("future beyond skew", token.clone(),                      "joe@pve", T0 - 300,  false),
        ("last valid second",  token.clone(),                      "joe@pve", T0 + 7199, true),
        ("expired",            token.clone(),                      "joe@pve", T0 + 7200, false),
        ("tampered mac",       flipped,                            "joe@pve", T0,        false),
        ("tampered time",      format!("{:08X}:{mac}", T0 + 1),    "joe@pve", T0,        false),
        ("lowercase time",     format!("{}:{mac}", stamp.to_lowercase()), "joe@pve", T0, false),
        ("padded",             format!("{token}="),                "joe@pve", T0,        false),
        ("legacy sha1 length", format!("{stamp}:{}", &mac[..27]),  "joe@pve", T0,        false),
        ("other secret",       other_secret,                       "joe@pve", T0,        false),
        ("no colon",           mac.to_owned(),                     "joe@pve", T0,        false),
        ("empty",              String::new(),                      "joe@pve", T0,        false),
    ];
    for (what, token, userid, now, ok) in cases {
        assert_eq!(
            verify_csrf(&secret, &token, &user(userid), now),
            ok,
            "{what}: `{token}` for {userid} at T0{:+}",
            now - T0
        );
    }
}

#[test]
fn the_secret_is_created_once_0600_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state"));
    let first = CsrfSecret::load_or_create(&state).unwrap();
    let path = CsrfSecret::path(&state);
    assert!(path.ends_with("priv/csrf.key"));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = create_csrf(&first, &user("joe@pve"), T0).unwrap();
    let again = CsrfSecret::load_or_create(&state).unwrap();
    assert!(verify_csrf(&again, &token, &user("joe@pve"), T0));
    // A damaged secret file is refused, not silently replaced.
    std::fs::write(&path, b"short").unwrap();
    assert!(CsrfSecret::load_or_create(&state).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"short");
}
