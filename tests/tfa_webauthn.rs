//! WebAuthn registration and login with a software security key
//! (webauthn-authenticator-rs `SoftToken`), every message through JSON as over HTTP.

use aclgate::auth::tfa::{
    TfaError, TfaStore, VerifyContext, challenge_for, verify_response, webauthn,
};
use aclgate::config::datacenter_cfg::DatacenterTfa;
use aclgate::identity::Userid;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const NOW: i64 = 1_700_000_000;

fn config() -> aclgate::config::datacenter_cfg::WebauthnConfig {
    let (cfg, warnings) = DatacenterTfa::parse(
        "webauthn: rp=aclgate,origin=https://pve.example.test:8006,id=pve.example.test\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    cfg.webauthn.unwrap()
}

fn origin() -> Url {
    Url::parse("https://pve.example.test:8006").unwrap()
}

/// Register a soft token for alice; returns the token.
fn register(store: &mut TfaStore, alice: &Userid) -> SoftToken {
    let cfg = config();
    let (token, _ca) = SoftToken::new(true).unwrap();
    let mut auth = token;
    let ccr = webauthn::registration_challenge(store, alice, "soft key", &cfg, NOW).unwrap();
    let challenge = ccr["publicKey"]["challenge"].as_str().unwrap().to_owned();
    let ccr: CreationChallengeResponse = serde_json::from_value(ccr).unwrap();
    let reg = auth.do_registration(origin(), ccr).unwrap();
    let reg = serde_json::to_string(&reg).unwrap();
    let id = webauthn::registration_finish(store, alice, &challenge, &reg, &cfg, NOW + 5).unwrap();
    assert_eq!(store.users[alice].webauthn[0].id, id);
    auth
}

#[test]
fn register_then_log_in_and_no_replay() {
    let alice: Userid = "alice@pve".parse().unwrap();
    let mut store = TfaStore::default();
    let mut auth = register(&mut store, &alice);
    let cfg = config();
    let ctx = VerifyContext {
        realm: None,
        webauthn: Some(&cfg),
        u2f: None,
    };

    let ch = challenge_for(&mut store, &alice, None, Some(&cfg), NOW + 10)
        .unwrap()
        .unwrap();
    let rcr: RequestChallengeResponse =
        serde_json::from_value(ch.webauthn.clone().unwrap()).unwrap();
    let assertion = serde_json::to_string(&auth.do_authentication(origin(), rcr).unwrap()).unwrap();
    // The half ticket carries the challenge as JSON: parse it back like the login endpoint.
    let ch: aclgate::auth::tfa::Challenge =
        serde_json::from_str(&serde_json::to_string(&ch).unwrap()).unwrap();
    verify_response(
        &mut store,
        &alice,
        &ch,
        &format!("webauthn:{assertion}"),
        &ctx,
        NOW + 12,
    )
    .unwrap();
    let replay = verify_response(
        &mut store,
        &alice,
        &ch,
        &format!("webauthn:{assertion}"),
        &ctx,
        NOW + 13,
    );
    assert!(
        matches!(replay, Err(TfaError::NoSuchChallenge)),
        "{replay:?}"
    );
}

#[test]
fn challenges_expire_after_two_minutes() {
    let alice: Userid = "alice@pve".parse().unwrap();
    let mut store = TfaStore::default();
    let mut auth = register(&mut store, &alice);
    let cfg = config();
    let ctx = VerifyContext {
        realm: None,
        webauthn: Some(&cfg),
        u2f: None,
    };
    let ch = challenge_for(&mut store, &alice, None, Some(&cfg), NOW + 10)
        .unwrap()
        .unwrap();
    let rcr: RequestChallengeResponse =
        serde_json::from_value(ch.webauthn.clone().unwrap()).unwrap();
    let assertion = serde_json::to_string(&auth.do_authentication(origin(), rcr).unwrap()).unwrap();
    let late = verify_response(
        &mut store,
        &alice,
        &ch,
        &format!("webauthn:{assertion}"),
        &ctx,
        NOW + 10 + 120,
    );
    assert!(matches!(late, Err(TfaError::NoSuchChallenge)), "{late:?}");
    assert_eq!(
        store.challenges[&alice].tfa_failures, 1,
        "a failed attempt is counted"
    );
}

#[test]
fn assertion_for_another_challenge_is_refused() {
    let alice: Userid = "alice@pve".parse().unwrap();
    let mut store = TfaStore::default();
    let mut auth = register(&mut store, &alice);
    let cfg = config();
    let ctx = VerifyContext {
        realm: None,
        webauthn: Some(&cfg),
        u2f: None,
    };
    let first = challenge_for(&mut store, &alice, None, Some(&cfg), NOW + 10)
        .unwrap()
        .unwrap();
    let second = challenge_for(&mut store, &alice, None, Some(&cfg), NOW + 11)
        .unwrap()
        .unwrap();
    let rcr: RequestChallengeResponse =
        serde_json::from_value(first.webauthn.clone().unwrap()).unwrap();
    let assertion = serde_json::to_string(&auth.do_authentication(origin(), rcr).unwrap()).unwrap();
    let wrong = verify_response(
        &mut store,
        &alice,
        &second,
        &format!("webauthn:{assertion}"),
        &ctx,
        NOW + 12,
    );
    assert!(matches!(wrong, Err(TfaError::Webauthn(_))), "{wrong:?}");
}
