//! TOTP and recovery-key logins through `challenge_for` / `verify_response`, with codes from
//! an independent implementation (Python's pyotp in `.venv`, set up by scripts/test.sh):
//! the ±1 step window, replay refusal, the 8-failure TOTP lock, recovery unlock, admin
//! unlock, and the 100-failure general lock.

use std::path::Path;
use std::process::Command;

use aclgate::auth::tfa::login::{TFA_FAILURE_LIMIT, TFA_LOCK_SECS, TOTP_FAILURE_LIMIT};
use aclgate::auth::tfa::{
    Challenge, RealmTfa, TfaError, TfaStore, VerifyContext, challenge_for, manage, verify_response,
};
use aclgate::identity::Userid;

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // 160 bits ("1234567890" x2)
const NOW: i64 = 1_700_000_015; // mid-step for period 30

/// The code pyotp computes for `secret` at time `t`.
fn pyotp(secret: &str, digits: u8, period: u64, algo: &str, t: i64) -> String {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/test.sh to create the pyotp venv",
        python.display()
    );
    let script = format!(
        "import pyotp, hashlib; print(pyotp.TOTP('{secret}', digits={digits}, interval={period}, digest=hashlib.{algo}).at({t}))"
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn alice() -> Userid {
    "alice@pve".parse().unwrap()
}

fn uri(digits: u8, period: u64, algo: &str) -> String {
    format!("otpauth://totp/alice?secret={SECRET}&digits={digits}&period={period}&algorithm={algo}")
}

/// A store where alice has one TOTP entry (added with a valid code at NOW - 120).
fn store_with_totp() -> TfaStore {
    let mut store = TfaStore::default();
    let t = NOW - 120;
    let code = pyotp(SECRET, 6, 30, "sha1", t);
    manage::add_totp(&mut store, &alice(), "phone", &uri(6, 30, "SHA1"), &code, t).unwrap();
    store
}

fn login(store: &mut TfaStore, response: &str, now: i64) -> Result<(), TfaError> {
    let challenge = challenge_for(store, &alice(), None, None, now)
        .unwrap()
        .expect("tfa needed");
    verify_response(
        store,
        &alice(),
        &challenge,
        response,
        &VerifyContext::default(),
        now,
    )
}

#[test]
fn codes_match_pyotp_for_each_algorithm_and_length() {
    for (digits, period, algo, py) in [
        (6, 30, "SHA1", "sha1"),
        (8, 60, "SHA256", "sha256"),
        (7, 30, "SHA512", "sha512"),
    ] {
        let mut store = TfaStore::default();
        let code = pyotp(SECRET, digits, period, py, NOW);
        let added = manage::add_totp(
            &mut store,
            &alice(),
            "x",
            &uri(digits, period, algo),
            &code,
            NOW,
        );
        assert!(
            added.is_ok(),
            "{algo}/{digits}/{period}: adding with pyotp's code failed: {added:?}"
        );
    }
}

#[test]
fn adding_requires_a_current_code() {
    let mut store = TfaStore::default();
    let stale = pyotp(SECRET, 6, 30, "sha1", NOW - 300);
    let err = manage::add_totp(
        &mut store,
        &alice(),
        "phone",
        &uri(6, 30, "SHA1"),
        &stale,
        NOW,
    );
    assert!(matches!(err, Err(TfaError::Failed)), "{err:?}");
    assert!(store.users.is_empty());
    let err = manage::add_totp(&mut store, &alice(), "", &uri(6, 30, "SHA1"), "000000", NOW);
    assert!(matches!(err, Err(TfaError::BadDescription)), "{err:?}");
}

#[test]
fn challenge_json_has_kebab_keys_and_omits_empty_ones() {
    let mut store = store_with_totp();
    let ch = challenge_for(&mut store, &alice(), None, None, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::to_string(&ch).unwrap(), r#"{"totp":true}"#);
    manage::add_recovery(&mut store, &alice(), NOW).unwrap();
    let ch = challenge_for(&mut store, &alice(), None, None, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_string(&ch).unwrap(),
        r#"{"totp":true,"recovery":[0,1,2,3,4,5,6,7,8,9]}"#
    );
    let bob: Userid = "bob@pve".parse().unwrap();
    assert_eq!(
        challenge_for(&mut store, &bob, None, None, NOW).unwrap(),
        None
    );
}

#[test]
fn window_is_minus_one_to_plus_one_step() {
    for (offset, ok) in [
        (-60, false),
        (-30, true),
        (0, true),
        (30, true),
        (60, false),
    ] {
        let mut store = store_with_totp();
        let code = pyotp(SECRET, 6, 30, "sha1", NOW + offset);
        let got = login(&mut store, &format!("totp:{code}"), NOW);
        assert_eq!(got.is_ok(), ok, "code of step offset {offset}s: {got:?}");
    }
}

#[test]
fn replayed_code_is_refused_and_counted() {
    let mut store = store_with_totp();
    let code = pyotp(SECRET, 6, 30, "sha1", NOW);
    login(&mut store, &format!("totp:{code}"), NOW).unwrap();
    let again = login(&mut store, &format!("totp:{code}"), NOW + 1);
    assert!(matches!(again, Err(TfaError::Failed)), "{again:?}");
    // An older (still in-window) code is refused too: its step is not after last-count.
    let older = pyotp(SECRET, 6, 30, "sha1", NOW - 30);
    assert!(login(&mut store, &format!("totp:{older}"), NOW + 1).is_err());
    assert_eq!(store.challenges[&alice()].totp_failures, 2);
    let next = pyotp(SECRET, 6, 30, "sha1", NOW + 30);
    login(&mut store, &format!("totp:{next}"), NOW + 30).unwrap();
    assert!(
        !store.challenges.contains_key(&alice()),
        "counters reset after success"
    );
}

#[test]
fn eight_failures_lock_totp_until_a_recovery_key() {
    let mut store = store_with_totp();
    let keys = manage::add_recovery(&mut store, &alice(), NOW).unwrap();
    for i in 0..TOTP_FAILURE_LIMIT {
        assert!(
            login(&mut store, "totp:000000", NOW).is_err(),
            "failure {i}"
        );
    }
    assert!(store.users[&alice()].totp_locked);
    let ch = challenge_for(&mut store, &alice(), None, None, NOW)
        .unwrap()
        .unwrap();
    assert!(!ch.totp, "a locked totp is not offered");
    let good = pyotp(SECRET, 6, 30, "sha1", NOW);
    let locked = verify_response(
        &mut store,
        &alice(),
        &Challenge {
            totp: true,
            ..Challenge::default()
        },
        &format!("totp:{good}"),
        &VerifyContext::default(),
        NOW,
    );
    assert!(matches!(locked, Err(TfaError::TotpLocked)), "{locked:?}");
    login(&mut store, &format!("recovery:{}", keys[0]), NOW).unwrap();
    assert!(!store.users[&alice()].totp_locked);
    login(&mut store, &format!("totp:{good}"), NOW).unwrap();
}

#[test]
fn unlock_clears_the_totp_lock() {
    let mut store = store_with_totp();
    for _ in 0..TOTP_FAILURE_LIMIT {
        let _ = login(&mut store, "totp:000000", NOW);
    }
    assert!(store.unlock(&alice(), NOW), "was locked");
    assert!(!store.unlock(&alice(), NOW), "no longer locked");
    let good = pyotp(SECRET, 6, 30, "sha1", NOW);
    login(&mut store, &format!("totp:{good}"), NOW).unwrap();
}

#[test]
fn hundred_failures_lock_every_factor_for_an_hour() {
    let mut store = store_with_totp();
    let keys = manage::add_recovery(&mut store, &alice(), NOW).unwrap();
    for i in 0..TFA_FAILURE_LIMIT {
        assert!(
            login(&mut store, "recovery:0000-0000-0000-0000", NOW).is_err(),
            "failure {i}"
        );
    }
    assert_eq!(
        store.users[&alice()].tfa_locked_until,
        Some(NOW + TFA_LOCK_SECS)
    );
    let refused = login(&mut store, &format!("recovery:{}", keys[0]), NOW + 10);
    assert!(matches!(refused, Err(TfaError::Locked)), "{refused:?}");
    // The refused attempt did not spend the key: it works once the hour is over.
    login(
        &mut store,
        &format!("recovery:{}", keys[0]),
        NOW + TFA_LOCK_SECS + 1,
    )
    .unwrap();
    assert_eq!(store.users[&alice()].tfa_locked_until, None);
    assert!(
        !store.challenges.contains_key(&alice()),
        "general counter reset by a success"
    );
}

#[test]
fn recovery_keys_work_once() {
    let mut store = store_with_totp();
    let keys = manage::add_recovery(&mut store, &alice(), NOW).unwrap();
    assert!(matches!(
        manage::add_recovery(&mut store, &alice(), NOW),
        Err(TfaError::RecoveryExists)
    ));
    login(&mut store, &format!("recovery:{}", keys[4]), NOW).unwrap();
    assert!(
        login(&mut store, &format!("recovery:{}", keys[4]), NOW).is_err(),
        "second use"
    );
    let ch = challenge_for(&mut store, &alice(), None, None, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(ch.recovery, Some(vec![0, 1, 2, 3, 5, 6, 7, 8, 9]));
}

#[test]
fn oath_realm_enforces_totp_and_imports_legacy_keys() {
    let realm = RealmTfa::parse("type=oath,digits=6,step=30").unwrap();
    let mut store = TfaStore::default();
    let err = challenge_for(&mut store, &alice(), Some(&realm), None, NOW);
    assert!(matches!(err, Err(TfaError::MissingKeys)), "{err:?}");
    // A 32-char base32 key is not a legacy format (16-char base32 / 40-char hex / v2-): it is
    // skipped, yet `keys` becomes `x` as in Proxmox.
    assert!(aclgate::auth::tfa::import_legacy_keys(
        &mut store,
        &alice(),
        SECRET,
        &realm,
        NOW
    ));
    assert!(store.users.get(&alice()).is_none_or(|u| u.totp.is_empty()));
    let hex_key = hex_of_base32(SECRET);
    assert!(aclgate::auth::tfa::import_legacy_keys(
        &mut store,
        &alice(),
        &hex_key,
        &realm,
        NOW
    ));
    assert_eq!(
        store.users[&alice()].totp[0].description,
        "<old userconfig key 0>"
    );
    let ch = challenge_for(&mut store, &alice(), Some(&realm), None, NOW)
        .unwrap()
        .unwrap();
    let ctx = VerifyContext {
        realm: Some(&realm),
        webauthn: None,
        u2f: None,
    };
    let wrong_type = verify_response(
        &mut store,
        &alice(),
        &ch,
        "yubico:cccccccccccccccccccccccccccccccc",
        &ctx,
        NOW,
    );
    assert!(
        matches!(wrong_type, Err(TfaError::RealmRequires("totp"))),
        "{wrong_type:?}"
    );
    let good = pyotp(SECRET, 6, 30, "sha1", NOW);
    verify_response(
        &mut store,
        &alice(),
        &ch,
        &format!("totp:{good}"),
        &ctx,
        NOW,
    )
    .unwrap();
}

fn hex_of_base32(b32: &str) -> String {
    // "1234567890" twice, the bytes behind SECRET.
    assert_eq!(b32, SECRET);
    "3132333435363738393031323334353637383930".to_owned()
}
