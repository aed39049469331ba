//! WebAuthn end to end over the HTTP API, with a software authenticator (webauthn-authenticator-rs
//! `SoftPasskey`) playing the browser, and every message in the shape Proxmox's web UI sends
//! (proxmox-widget-toolkit `AddWebauthn.js` and `TfaWindow.js`):
//!
//! 1. registration: `POST /access/tfa/{userid}` `type=webauthn` answers `{challenge: "<JSON>"}`;
//!    the client answers with `challenge=<publicKey.challenge>` and `value=<JSON {id, type,
//!    rawId, response: {attestationObject, clientDataJSON}}>` and gets `{id}`;
//! 2. login: `POST /access/ticket` answers `NeedTFA` with a half ticket carrying the challenge
//!    (`PVE:!tfa!<percent-encoded JSON>:...`); the client answers with
//!    `password=webauthn:<JSON {id, type, challenge, rawId, response: {authenticatorData,
//!    clientDataJSON, signature}}>` and `tfa-challenge=<half ticket>` and gets a full ticket;
//! 3. the same assertion again, or with a newer challenge, is refused.

mod api_support;
mod gateway_support;

use aclgate::auth::realm::crypt;
use percent_encoding::percent_decode_str;
use reqwest::Method;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use api_support::{Api, Auth};

const ORIGIN: &str = "https://pve.example.test:8006";
const DATACENTER_CFG: &str =
    "webauthn: rp=aclgate,origin=https://pve.example.test:8006,id=pve.example.test\n";
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
";
const PASSWORD: &str = "alice-pw-1";

async fn start() -> Api {
    let shadow = format!("alice:{}:\n", crypt::hash_password(PASSWORD).unwrap());
    Api::start(
        USER_CFG,
        &[],
        &[
            ("priv/shadow.cfg", &shadow),
            ("datacenter.cfg", DATACENTER_CFG),
        ],
    )
    .await
}

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

#[tokio::test]
async fn register_then_two_step_login_and_no_replay() {
    let api = start().await;
    let mut key = SoftPasskey::new(true);
    let (status, body) = login(&api, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"].get("NeedTFA").is_none(),
        "no factor yet: {body}"
    );
    let alice = ticket_of(&body);

    let id = register(&api, &alice, &mut key).await;
    let (status, body) = api
        .call_as(&alice, Method::GET, "/access/tfa/alice@pve", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{
            "type": "webauthn",
            "id": id,
            "description": "soft key",
            "created": body["data"][0]["created"],
            "enable": true,
        }]),
        "{body}"
    );

    // tfa.cfg keeps the key the way proxmox-tfa does (`WebauthnCredential`).
    let tfa: Value =
        serde_json::from_str(&std::fs::read_to_string(api.state().join("priv/tfa.cfg")).unwrap())
            .unwrap();
    let entry = &tfa["users"]["alice@pve"]["webauthn"][0];
    assert_eq!(entry["id"], id.as_str(), "{tfa}");
    let mut fields: Vec<&str> = entry["entry"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "backup_eligible")
        .collect();
    fields.sort();
    assert_eq!(fields, ["counter", "cred", "cred_id"], "{entry}");
    assert_eq!(entry["entry"]["cred"]["type_"], "ES256", "{entry}");

    // Step one: the password alone is a half ticket carrying the WebAuthn challenge.
    let (half, challenge) = first_step(&api).await;
    let (status, _) = api
        .call_as(&half_auth(&half), Method::GET, "/access/permissions", &[])
        .await;
    assert_eq!(status, 401, "a half ticket authenticates nothing");

    // Step two: the soft key answers; the full ticket works.
    let assertion = assert_with(&mut key, &challenge);
    let (status, body) = second_step(&api, &half, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["cap"].is_object(), "a full answer: {body}");
    let full = ticket_of(&body);
    let (status, body) = api
        .call_as(&full, Method::GET, "/access/permissions", &[])
        .await;
    assert_eq!(status, 200, "the full ticket works: {body}");

    // The same assertion again: its challenge is spent.
    let (status, body) = second_step(&api, &half, &assertion).await;
    assert_eq!(status, 401, "replayed assertion: {body}");

    // An assertion for an older challenge does not answer a newer one.
    let (newer, _) = first_step(&api).await;
    let (status, body) = second_step(&api, &newer, &assertion).await;
    assert_eq!(status, 401, "assertion for another challenge: {body}");
}

#[tokio::test]
async fn registration_needs_the_own_password_and_a_live_challenge() {
    let api = start().await;
    let (_, body) = login(&api, &[]).await;
    let alice = ticket_of(&body);
    let start = [("type", "webauthn"), ("description", "soft key")];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &start)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["password"].is_string(), "{body}");

    let mut key = SoftPasskey::new(true);
    let (ccr, challenge) = registration_challenge(&api, &alice).await;
    let response = registration_response(&mut key, ccr);
    let finish = |challenge: &str| {
        [
            ("type", "webauthn"),
            ("challenge", challenge),
            ("value", response.as_str()),
            ("password", PASSWORD),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let form = finish("bm90IHRoZSBjaGFsbGVuZ2U");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 400, "unknown challenge: {body}");
    let form = finish(&challenge);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 400, "a registration challenge is used once: {body}");
}

/// Register `key` for alice over the API; the new entry's id.
async fn register(api: &Api, alice: &Auth, key: &mut SoftPasskey) -> String {
    let (ccr, challenge) = registration_challenge(api, alice).await;
    let value = registration_response(key, ccr);
    let form = [
        ("type", "webauthn"),
        ("challenge", challenge.as_str()),
        ("value", value.as_str()),
        ("password", PASSWORD),
    ];
    let (status, body) = api
        .call_as(alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {body}"))
        .to_owned()
}

/// Registration step one: the creation options and their challenge string.
async fn registration_challenge(api: &Api, alice: &Auth) -> (CreationChallengeResponse, String) {
    let form = [
        ("type", "webauthn"),
        ("description", "soft key"),
        ("password", PASSWORD),
    ];
    let (status, body) = api
        .call_as(alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body["data"]["challenge"]
        .as_str()
        .unwrap_or_else(|| panic!("challenge is a JSON string: {body}"));
    let options: Value = serde_json::from_str(text).unwrap();
    assert_eq!(options["publicKey"]["rp"]["id"], "pve.example.test");
    assert_eq!(options["publicKey"]["rp"]["name"], "aclgate");
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"], "discouraged",
        "as Proxmox asks: {options}"
    );
    let challenge = options["publicKey"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    (serde_json::from_value(options).unwrap(), challenge)
}

/// The authenticator's answer, as AddWebauthn.js sends it.
fn registration_response(key: &mut SoftPasskey, options: CreationChallengeResponse) -> String {
    let reg = serde_json::to_value(key.do_registration(origin(), options).unwrap()).unwrap();
    json!({
        "id": reg["id"],
        "type": reg["type"],
        "rawId": reg["rawId"],
        "response": {
            "attestationObject": reg["response"]["attestationObject"],
            "clientDataJSON": reg["response"]["clientDataJSON"],
        },
    })
    .to_string()
}

/// Login step one: the half ticket and the WebAuthn options it carries, read the way clients
/// read them (the text between `PVE:!tfa!` and the next `:`, percent-decoded).
async fn first_step(api: &Api) -> (String, Value) {
    let (status, body) = login(api, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["NeedTFA"], 1, "{body}");
    assert!(body["data"]["CSRFPreventionToken"].is_string(), "{body}");
    let half = body["data"]["ticket"].as_str().unwrap().to_owned();
    let data = half
        .split(':')
        .nth(1)
        .and_then(|d| d.strip_prefix("!tfa!"))
        .unwrap_or_else(|| panic!("not a half ticket: {half}"));
    let challenge: Value =
        serde_json::from_str(&percent_decode_str(data).decode_utf8().unwrap()).unwrap();
    assert!(
        challenge["webauthn"]["publicKey"]["challenge"].is_string(),
        "{challenge}"
    );
    assert!(challenge.get("totp").is_none(), "{challenge}");
    assert_eq!(
        challenge["webauthn"]["publicKey"]["userVerification"], "discouraged",
        "as Proxmox asks: {challenge}"
    );
    (half, challenge["webauthn"].clone())
}

/// The soft key's assertion, as TfaWindow.js sends it (with the challenge string).
fn assert_with(key: &mut SoftPasskey, options: &Value) -> String {
    let rcr: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
    let cred = serde_json::to_value(key.do_authentication(origin(), rcr).unwrap()).unwrap();
    json!({
        "id": cred["id"],
        "type": cred["type"],
        "challenge": options["publicKey"]["challenge"],
        "rawId": cred["rawId"],
        "response": {
            "authenticatorData": cred["response"]["authenticatorData"],
            "clientDataJSON": cred["response"]["clientDataJSON"],
            "signature": cred["response"]["signature"],
        },
    })
    .to_string()
}

async fn second_step(api: &Api, half: &str, assertion: &str) -> (u16, Value) {
    let password = format!("webauthn:{assertion}");
    login(
        api,
        &[("tfa-challenge", half), ("password", password.as_str())],
    )
    .await
}

/// `POST /access/ticket` for alice; `extra` replaces or adds fields.
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

fn half_auth(half: &str) -> Auth {
    Auth::Ticket {
        ticket: half.to_owned(),
        csrf: String::new(),
    }
}
