//! U2F second factors: registration and login with a software U2F token (P-256, its own
//! self-signed attestation certificate), answering both as the U2F API (`u2f.register` /
//! `u2f.sign`) and as a browser answers for a U2F-registered key through WebAuthn's `appid`
//! extension; signature counters (a cloned key that lags behind is refused); a real YubiKey's
//! recorded registration and login against the entry proxmox-tfa keeps in tfa.cfg (the HTTP
//! API: tests/api_u2f.rs).

mod u2f_support;

use aclgate::auth::tfa::store::PendingChallenge;
use aclgate::auth::tfa::{
    Challenge, TfaError, TfaStore, VerifyContext, challenge_with_u2f, u2f, verify_response,
};
use aclgate::config::datacenter_cfg::DatacenterTfa;
use aclgate::config::datacenter_cfg::U2fConfig;
use aclgate::identity::Userid;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use u2f_support::SoftU2f;

const APPID: &str = "https://pve.example.test:8006";
const NOW: i64 = 1_700_000_000;

fn config(appid: &str) -> U2fConfig {
    let (cfg, warnings) = DatacenterTfa::parse(&format!("u2f: appid={appid}\n"));
    assert!(warnings.is_empty(), "{warnings:?}");
    cfg.u2f.unwrap()
}

fn alice() -> Userid {
    "alice@pve".parse().unwrap()
}

fn registered(token: &SoftU2f, cfg: &U2fConfig) -> TfaStore {
    let mut store = TfaStore::default();
    let text = u2f::registration_challenge(&mut store, &alice(), "soft", cfg, NOW);
    let response = token.register(&text, APPID);
    u2f::registration_finish(&mut store, &alice(), &text, &response, cfg, NOW + 1).unwrap();
    store
}

/// Step one (the challenge the half ticket carries) and step two with `answer`.
fn log_in(
    store: &mut TfaStore,
    cfg: &U2fConfig,
    now: i64,
    answer: impl FnOnce(&Value) -> String,
) -> Result<(), TfaError> {
    let ch = challenge_with_u2f(store, &alice(), None, None, Some(cfg), now)
        .unwrap()
        .unwrap();
    // Through JSON, as the half ticket carries it.
    let ch: Challenge = serde_json::from_str(&serde_json::to_string(&ch).unwrap()).unwrap();
    let response = format!("u2f:{}", answer(ch.u2f.as_ref().unwrap()));
    let ctx = VerifyContext {
        u2f: Some(cfg),
        ..VerifyContext::default()
    };
    verify_response(store, &alice(), &ch, &response, &ctx, now)
}

#[test]
fn registers_in_proxmox_layout_and_logs_in_both_ways() {
    let cfg = config(APPID);
    let mut token = SoftU2f::new();
    let mut store = registered(&token, &cfg);
    let entry = &store.users[&alice()].u2f[0];
    assert_eq!(entry.description, "soft");
    assert_eq!(
        entry.entry["key"],
        json!({"keyHandle": URL_SAFE_NO_PAD.encode(&token.handle), "version": "U2F_V2"})
    );
    let public = STANDARD
        .decode(entry.entry["public-key"].as_str().unwrap())
        .unwrap();
    assert_eq!(public.len(), 65);
    assert_eq!(
        STANDARD
            .decode(entry.entry["certificate"].as_str().unwrap())
            .unwrap(),
        token.certificate
    );

    log_in(&mut store, &cfg, NOW + 10, |u| {
        assert_eq!(u["challenge"]["appId"], APPID, "{u}");
        assert_eq!(u["challenge"]["version"], "U2F_V2", "{u}");
        assert_eq!(u["keys"][0]["version"], "U2F_V2", "{u}");
        token.sign_u2f(u, APPID)
    })
    .unwrap();
    assert_eq!(store.users[&alice()].u2f[0].entry["counter"], 1);
    log_in(&mut store, &cfg, NOW + 20, |u| {
        token.sign_webauthn(u, APPID, APPID)
    })
    .unwrap();
    assert_eq!(store.users[&alice()].u2f[0].entry["counter"], 2);
    assert!(store.challenges.is_empty(), "challenges are consumed");
}

#[test]
fn refuses_clones_replays_other_origins_and_other_rp_ids() {
    let cfg = config(APPID);
    let mut token = SoftU2f::new();
    let mut clone = token.clone();
    let mut store = registered(&token, &cfg);
    for _ in 0..3 {
        log_in(&mut store, &cfg, NOW + 10, |u| token.sign_u2f(u, APPID)).unwrap();
    }
    // The clone signs with counter 1, then 2, 3: none is above the 3 the original reached.
    for _ in 0..3 {
        let r = log_in(&mut store, &cfg, NOW + 20, |u| clone.sign_u2f(u, APPID));
        assert!(matches!(r, Err(TfaError::Failed)), "{r:?}");
    }
    assert_eq!(store.users[&alice()].u2f[0].entry["counter"], 3);

    // A response to an older challenge, or the same response twice.
    let old = challenge_with_u2f(&mut store, &alice(), None, None, Some(&cfg), NOW + 30)
        .unwrap()
        .unwrap();
    let stale = token.sign_u2f(old.u2f.as_ref().unwrap(), APPID);
    let r = log_in(&mut store, &cfg, NOW + 31, |_| stale.clone());
    assert!(r.is_err(), "answer to another challenge: {r:?}");

    let wrong_origin = log_in(&mut store, &cfg, NOW + 40, |u| {
        token.sign_u2f(u, "https://evil.test")
    });
    assert!(
        matches!(wrong_origin, Err(TfaError::BadResponse(_))),
        "{wrong_origin:?}"
    );
    // A WebAuthn assertion made for the plain RP id, not the AppID, is not a U2F assertion.
    let other_rp = log_in(&mut store, &cfg, NOW + 50, |u| {
        token.sign_webauthn(u, APPID, "pve.example.test")
    });
    assert!(
        matches!(other_rp, Err(TfaError::BadResponse(_))),
        "{other_rp:?}"
    );
    // Expired: the challenge lives 120 s.
    let ch = challenge_with_u2f(&mut store, &alice(), None, None, Some(&cfg), NOW + 60)
        .unwrap()
        .unwrap();
    let answer = format!("u2f:{}", token.sign_u2f(ch.u2f.as_ref().unwrap(), APPID));
    let ctx = VerifyContext {
        u2f: Some(&cfg),
        ..VerifyContext::default()
    };
    let late = verify_response(&mut store, &alice(), &ch, &answer, &ctx, NOW + 60 + 121);
    assert!(matches!(late, Err(TfaError::NoSuchChallenge)), "{late:?}");
    // Still works when answered in time.
    log_in(&mut store, &cfg, NOW + 300, |u| token.sign_u2f(u, APPID)).unwrap();
}

#[test]
fn registration_refuses_bad_signatures_and_foreign_challenges() {
    let cfg = config(APPID);
    let token = SoftU2f::new();
    let mut store = TfaStore::default();
    let text = u2f::registration_challenge(&mut store, &alice(), "soft", &cfg, NOW);
    // Signed by another attestation key than the certificate's.
    let mut forged = token.clone();
    forged.attestation = SoftU2f::new().attestation;
    let r = u2f::registration_finish(
        &mut store,
        &alice(),
        &text,
        &forged.register(&text, APPID),
        &cfg,
        NOW,
    );
    assert!(matches!(r, Err(TfaError::Failed)), "{r:?}");
    // The challenge was consumed by the failed attempt.
    let r = u2f::registration_finish(
        &mut store,
        &alice(),
        &text,
        &token.register(&text, APPID),
        &cfg,
        NOW,
    );
    assert!(matches!(r, Err(TfaError::NoSuchChallenge)), "{r:?}");
    for garbage in [
        "",
        "{}",
        "[1]",
        r#"{"registrationData":"AAAA","clientData":"e30"}"#,
    ] {
        let text = u2f::registration_challenge(&mut store, &alice(), "soft", &cfg, NOW);
        let r = u2f::registration_finish(&mut store, &alice(), &text, garbage, &cfg, NOW);
        assert!(r.is_err(), "{garbage}");
    }
    assert!(
        store.users.is_empty(),
        "nothing registered: {:?}",
        store.users
    );
}

#[test]
fn disabled_keys_and_missing_settings_are_not_offered() {
    let cfg = config(APPID);
    let token = SoftU2f::new();
    let mut store = registered(&token, &cfg);
    let without = challenge_with_u2f(&mut store, &alice(), None, None, None, NOW)
        .unwrap()
        .unwrap();
    assert!(without.u2f.is_none(), "no u2f settings, no u2f challenge");
    store.users.get_mut(&alice()).unwrap().u2f[0].enable = false;
    let ch = challenge_with_u2f(&mut store, &alice(), None, None, Some(&cfg), NOW).unwrap();
    assert!(
        ch.is_none(),
        "only a disabled key: no second factor asked: {ch:?}"
    );
}

/// A real YubiKey's registration and login (recorded by the proxmox-tfa authors), and the entry
/// proxmox-tfa stored for it in tfa.cfg.
#[test]
fn a_real_yubikey_and_an_entry_from_a_proxmox_tfa_cfg() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/tfa/proxmox-u2f.json")).unwrap();
    let cfg = config(fx["appid"].as_str().unwrap());

    // Registration: the attestation (a Yubico certificate) verifies; the stored entry is the
    // one proxmox-tfa stored.
    let mut store = TfaStore::default();
    let text = json!({
        "challenge": fx["registration"]["challenge"],
        "version": "U2F_V2",
        "appId": fx["appid"],
    })
    .to_string();
    push_pending(&mut store, &text, true);
    let response = fx["registration"]["response"].to_string();
    u2f::registration_finish(&mut store, &alice(), &text, &response, &cfg, NOW).unwrap();
    let ours = &store.users[&alice()].u2f[0].entry;
    let theirs = &fx["tfa_cfg"]["users"]["alice@pve"]["u2f"][0]["entry"];
    assert_eq!(ours["key"], theirs["key"]);
    assert_eq!(ours["public-key"], theirs["public-key"]);
    assert_eq!(ours["certificate"], theirs["certificate"]);

    // Login against Proxmox's tfa.cfg as it is.
    let (mut store, warnings) = TfaStore::parse(&fx["tfa_cfg"].to_string()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let challenge = fx["login"]["challenge"].as_str().unwrap();
    let sent = Challenge {
        u2f: Some(json!({
            "challenge": {"challenge": challenge, "appId": fx["appid"], "version": "U2F_V2"},
            "keys": [theirs["key"]],
        })),
        ..Challenge::default()
    };
    let answer = format!("u2f:{}", fx["login"]["response"]);
    let ctx = VerifyContext {
        u2f: Some(&cfg),
        ..VerifyContext::default()
    };
    push_pending(&mut store, challenge, false);
    verify_response(&mut store, &alice(), &sent, &answer, &ctx, NOW).unwrap();
    assert_eq!(store.users[&alice()].u2f[0].entry["counter"], 257);
    // The same signature again (as from a clone): its counter is not above 257.
    push_pending(&mut store, challenge, false);
    let again = verify_response(&mut store, &alice(), &sent, &answer, &ctx, NOW);
    assert!(matches!(again, Err(TfaError::Failed)), "{again:?}");
    // The file stays readable by Proxmox: the entry keeps its fields, plus `counter`.
    let written: Value = serde_json::from_str(&store.write()).unwrap();
    let entry = &written["users"]["alice@pve"]["u2f"][0];
    assert_eq!(entry["id"], "5f1a2c3e-7a8b-4c2d-9e0f-1a2b3c4d5e6f");
    assert_eq!(entry["entry"]["public-key"], theirs["public-key"]);
}

fn push_pending(store: &mut TfaStore, challenge: &str, registration: bool) {
    store.challenges_mut(&alice()).push_u2f(
        PendingChallenge {
            challenge: challenge.to_owned(),
            created: NOW,
            description: "yubikey".to_owned(),
            state: Value::Null,
        },
        registration,
    );
}
