//! U2F second factors: registration and login with a software U2F token (P-256, its own
//! self-signed attestation certificate), answering both as the U2F API (`u2f.register` /
//! `u2f.sign`) and as a browser answers for a U2F-registered key through WebAuthn's `appid`
//! extension; signature counters (a cloned key that lags behind is refused); a real YubiKey's
//! recorded registration and login against the entry proxmox-tfa keeps in tfa.cfg; and the
//! whole exchange over the HTTP API.

mod api_support;
mod gateway_support;

use aclgate::auth::realm::crypt;
use aclgate::auth::tfa::store::PendingChallenge;
use aclgate::auth::tfa::{
    Challenge, TfaError, TfaStore, VerifyContext, challenge_with_u2f, u2f, verify_response,
};
use aclgate::config::datacenter_cfg::DatacenterTfa;
use aclgate::config::datacenter_cfg::U2fConfig;
use aclgate::identity::Userid;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use percent_encoding::percent_decode_str;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use api_support::{Api, Auth};

const APPID: &str = "https://pve.example.test:8006";
const NOW: i64 = 1_700_000_000;

/// A software U2F token: one credential, a signature counter, an attestation key and
/// certificate.
#[derive(Clone)]
struct SoftU2f {
    key: SigningKey,
    handle: Vec<u8>,
    counter: u32,
    attestation: SigningKey,
    certificate: Vec<u8>,
}

impl SoftU2f {
    fn new() -> SoftU2f {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["soft u2f".to_owned()])
            .unwrap()
            .self_signed(&kp)
            .unwrap()
            .der()
            .to_vec();
        SoftU2f {
            key: SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap(),
            handle: rand::random::<[u8; 48]>().to_vec(),
            counter: 0,
            attestation: SigningKey::from_pkcs8_der(&kp.serialize_der()).unwrap(),
            certificate,
        }
    }

    /// `u2f.register`'s answer to a registration challenge (the JSON text the server sent).
    fn register(&self, challenge_text: &str, origin: &str) -> String {
        let ch: Value = serde_json::from_str(challenge_text).unwrap();
        let client_data = json!({
            "typ": "navigator.id.finishEnrollment",
            "challenge": ch["challenge"],
            "origin": origin,
        })
        .to_string();
        let public = self.key.verifying_key().to_encoded_point(false);
        let mut signed = vec![0u8];
        signed.extend_from_slice(&Sha256::digest(ch["appId"].as_str().unwrap()));
        signed.extend_from_slice(&Sha256::digest(&client_data));
        signed.extend_from_slice(&self.handle);
        signed.extend_from_slice(public.as_bytes());
        let signature: Signature = self.attestation.sign(&signed);
        let mut data = vec![0x05];
        data.extend_from_slice(public.as_bytes());
        data.push(u8::try_from(self.handle.len()).unwrap());
        data.extend_from_slice(&self.handle);
        data.extend_from_slice(&self.certificate);
        data.extend_from_slice(signature.to_der().as_bytes());
        json!({
            "registrationData": URL_SAFE_NO_PAD.encode(data),
            "clientData": URL_SAFE_NO_PAD.encode(client_data),
            "version": "U2F_V2",
        })
        .to_string()
    }

    /// `u2f.sign`'s answer to the login challenge (`{challenge: {challenge, appId}, keys}`).
    fn sign_u2f(&mut self, u2f: &Value, origin: &str) -> String {
        self.counter += 1;
        let client_data = json!({
            "typ": "navigator.id.getAssertion",
            "challenge": u2f["challenge"]["challenge"],
            "origin": origin,
        })
        .to_string();
        let mut head = vec![0x01];
        head.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = Sha256::digest(u2f["challenge"]["appId"].as_str().unwrap()).to_vec();
        signed.extend_from_slice(&head);
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        head.extend_from_slice(signature.to_der().as_bytes());
        json!({
            "keyHandle": URL_SAFE_NO_PAD.encode(&self.handle),
            "clientData": URL_SAFE_NO_PAD.encode(client_data),
            "signatureData": URL_SAFE_NO_PAD.encode(head),
        })
        .to_string()
    }

    /// What `navigator.credentials.get` with `extensions: {appid}` returns for this key: the
    /// authenticator data starts with SHA-256 of `rp` (the AppID when the browser used it).
    fn sign_webauthn(&mut self, u2f: &Value, origin: &str, rp: &str) -> String {
        self.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": u2f["challenge"]["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = Sha256::digest(rp).to_vec();
        auth_data.push(0x01);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        let id = URL_SAFE_NO_PAD.encode(&self.handle);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": null,
            },
            "clientExtensionResults": { "appid": true },
        })
        .to_string()
    }
}

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

const PASSWORD: &str = "alice-pw-1";

/// Over HTTP: `POST /access/tfa/{userid}` `type=u2f` twice, then the two-step login answered
/// through WebAuthn's appid extension and through the U2F API.
#[tokio::test]
async fn register_and_log_in_over_the_api() {
    let shadow = format!("alice:{}:\n", crypt::hash_password(PASSWORD).unwrap());
    let dc = format!("u2f: appid={APPID}\n");
    let api = Api::start(
        "user:alice@pve:1:0:::::\n",
        &[],
        &[("priv/shadow.cfg", &shadow), ("datacenter.cfg", &dc)],
    )
    .await;
    let alice = ticket_of(&login(&api, &[]).await.1);
    let mut token = SoftU2f::new();

    let form = [
        ("type", "u2f"),
        ("description", "soft u2f"),
        ("password", PASSWORD),
    ];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body["data"]["challenge"].as_str().unwrap().to_owned();
    let ch: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (ch["appId"].as_str(), ch["version"].as_str()),
        (Some(APPID), Some("U2F_V2"))
    );
    let value = token.register(&text, APPID);
    let form = [
        ("type", "u2f"),
        ("challenge", text.as_str()),
        ("value", value.as_str()),
        ("password", PASSWORD),
    ];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let (_, body) = api
        .call_as(&alice, Method::GET, "/access/tfa/alice@pve", &[])
        .await;
    assert_eq!(body["data"][0]["type"], "u2f", "{body}");
    assert_eq!(body["data"][0]["id"], id.as_str(), "{body}");

    for webauthn in [true, false] {
        let (status, body) = login(&api, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["NeedTFA"], 1, "{body}");
        let half = body["data"]["ticket"].as_str().unwrap().to_owned();
        let data = half
            .split(':')
            .nth(1)
            .unwrap()
            .strip_prefix("!tfa!")
            .unwrap();
        let challenge: Value =
            serde_json::from_str(&percent_decode_str(data).decode_utf8().unwrap()).unwrap();
        let u = &challenge["u2f"];
        let answer = if webauthn {
            token.sign_webauthn(u, APPID, APPID)
        } else {
            token.sign_u2f(u, APPID)
        };
        let password = format!("u2f:{answer}");
        let form = [
            ("tfa-challenge", half.as_str()),
            ("password", password.as_str()),
        ];
        let (status, body) = login(&api, &form).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["cap"].is_object(), "a full answer: {body}");
        let (status, body) = login(&api, &form).await;
        assert_eq!(status, 401, "replayed: {body}");
    }
}

async fn login(api: &Api, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("username", "alice@pve"), ("password", PASSWORD)];
    for (k, v) in extra {
        form.retain(|(key, _)| key != k);
        form.push((k, v));
    }
    api.call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
        .await
}

fn ticket_of(body: &Value) -> Auth {
    Auth::Ticket {
        ticket: body["data"]["ticket"].as_str().unwrap().to_owned(),
        csrf: body["data"]["CSRFPreventionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}
