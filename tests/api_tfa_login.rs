//! Second factors over the HTTP API, end to end: a user adds TOTP (codes from pyotp) and
//! recovery keys, logs in in two steps, locks TOTP with eight wrong codes (shown by
//! `GET /access/tfa` and `GET /access/users`), gets back in with a recovery key (once per key,
//! lifting the lock), and an admin unlocks her. Spent recovery keys still demand a second
//! factor. (WebAuthn: api_webauthn.rs; Yubico: tfa_yubico.rs.)

mod api_support;
mod login_support;

// One copy of the gateway fixture: api_support reaches it as `crate::gateway_support`.
use login_support::gw as gateway_support;

use aclgate::auth::realm::crypt;
use percent_encoding::percent_decode_str;
use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth};
use login_support::{pyotp_at, pyotp_now};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const PASSWORD: &str = "alice-pw-1";
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
";

async fn start() -> Api {
    let shadow = format!("alice:{}:\n", crypt::hash_password(PASSWORD).unwrap());
    // Wrong second factors on purpose: the per-user login throttle would refuse them first.
    Api::start_with(USER_CFG, &[], &[("priv/shadow.cfg", &shadow)], |c| {
        c.login_throttle.per_user_source = 1000;
        c.login_throttle.per_source = 1000;
    })
    .await
}

#[tokio::test]
async fn totp_lockout_recovery_keys_and_unlock() {
    let api = start().await;
    let root = api.ticket("root@pam");
    let alice = api.ticket("alice@pve");
    let uri = format!("otpauth://totp/alice?secret={SECRET}");
    let totp = [
        ("type", "totp"),
        ("description", "phone"),
        ("totp", uri.as_str()),
        ("value", &pyotp_now(SECRET)),
        ("password", PASSWORD),
    ];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &totp)
        .await;
    assert_eq!(status, 200, "{body}");
    let form = [("type", "recovery"), ("password", PASSWORD)];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<String> = body["data"]["recovery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 10, "{body}");

    let (half, challenge) = first_step(&api).await;
    assert_eq!(challenge["totp"], true, "{challenge}");
    assert_eq!(
        challenge["recovery"],
        serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    );

    // Eight wrong codes lock TOTP; then even the right code is refused.
    let next = pyotp_at(SECRET, 30);
    lock_totp(&api, &half, &next).await;
    assert_eq!(locked(&api, &root, "/access/tfa").await, Some(true));
    assert_eq!(locked(&api, &root, "/access/users").await, Some(true));
    let (status, _) = second_step(&api, &half, &format!("totp:{next}")).await;
    assert_eq!(status, 401, "totp is locked");

    // A recovery key gets in, once, and lifts the lock.
    let (status, body) = second_step(&api, &half, &format!("recovery:{}", keys[3])).await;
    assert_eq!(status, 200, "{body}");
    let full = Auth::Ticket {
        ticket: body["data"]["ticket"].as_str().unwrap().to_owned(),
        csrf: body["data"]["CSRFPreventionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let (status, _) = api
        .call_as(&full, Method::GET, "/access/permissions", &[])
        .await;
    assert_eq!(status, 200, "the full ticket works");
    let (status, _) = second_step(&api, &half, &format!("recovery:{}", keys[3])).await;
    assert_eq!(status, 401, "a recovery key works once");
    assert_eq!(locked(&api, &root, "/access/tfa").await, None);
    let (half, challenge) = first_step(&api).await;
    assert_eq!(
        challenge["recovery"],
        serde_json::json!([0, 1, 2, 4, 5, 6, 7, 8, 9]),
        "key 3 is spent"
    );
    let (status, body) = second_step(&api, &half, &format!("totp:{next}")).await;
    assert_eq!(status, 200, "totp works again: {body}");

    // Locked again; an admin unlocks.
    lock_totp(&api, &half, &pyotp_at(SECRET, 60)).await;
    assert_eq!(locked(&api, &root, "/access/users").await, Some(true));
    let unlock = "/access/users/alice@pve/unlock-tfa";
    let (status, body) = api.call_as(&root, Method::PUT, unlock, &[]).await;
    assert_eq!((status, &body["data"]), (200, &Value::Bool(true)), "{body}");
    let (status, body) = api.call_as(&root, Method::PUT, unlock, &[]).await;
    assert_eq!(
        (status, &body["data"]),
        (200, &Value::Bool(false)),
        "{body}"
    );
    assert_eq!(locked(&api, &root, "/access/users").await, None);
}

#[tokio::test]
async fn spent_recovery_keys_still_demand_a_second_factor() {
    let api = start().await;
    let alice = api.ticket("alice@pve");
    let form = [("type", "recovery"), ("password", PASSWORD)];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let keys = body["data"]["recovery"].as_array().unwrap().clone();
    for key in &keys {
        let (half, _) = first_step(&api).await;
        let (status, body) =
            second_step(&api, &half, &format!("recovery:{}", key.as_str().unwrap())).await;
        assert_eq!(status, 200, "{body}");
    }
    // proxmox-tfa keeps the spent set: the password alone is still only a half ticket, whose
    // challenge offers nothing (`recovery: []`, "no second factor left").
    let (half, challenge) = first_step(&api).await;
    assert_eq!(challenge, serde_json::json!({"recovery": []}));
    let key = keys[0].as_str().unwrap();
    let (status, _) = second_step(&api, &half, &format!("recovery:{key}")).await;
    assert_eq!(status, 401);
    let cfg = std::fs::read_to_string(api.state().join("user.cfg")).unwrap();
    assert!(
        cfg.contains("user:alice@pve:1:0:::::x:"),
        "keys stays `x`: {cfg}"
    );

    // A new set only after the spent one is deleted.
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .call_as(
            &alice,
            Method::DELETE,
            "/access/tfa/alice@pve/recovery",
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Eight codes that differ from `right` (and so from every code of the window).
async fn lock_totp(api: &Api, half: &str, right: &str) {
    let right: u32 = right.parse().unwrap();
    let wrong = format!("totp:{:06}", (right + 500_000) % 1_000_000);
    for attempt in 1..=8 {
        let (status, body) = second_step(api, half, &wrong).await;
        assert_eq!(status, 401, "wrong code {attempt}: {body}");
    }
}

/// alice's `totp-locked` in the list at `path`, as root sees it.
async fn locked(api: &Api, root: &Auth, path: &str) -> Option<bool> {
    let (status, body) = api.call_as(root, Method::GET, path, &[]).await;
    assert_eq!(status, 200, "{body}");
    let alice = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userid"] == "alice@pve")
        .cloned()
        .unwrap_or_else(|| panic!("alice in {path}: {body}"));
    alice.get("totp-locked").and_then(Value::as_bool)
}

/// Password step: the half ticket and the challenge it carries.
async fn first_step(api: &Api) -> (String, Value) {
    let form = [("username", "alice@pve"), ("password", PASSWORD)];
    let (status, body) = api
        .call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["NeedTFA"], 1, "{body}");
    let half = body["data"]["ticket"].as_str().unwrap().to_owned();
    let data = half
        .split(':')
        .nth(1)
        .and_then(|d| d.strip_prefix("!tfa!"))
        .unwrap_or_else(|| panic!("not a half ticket: {half}"));
    let challenge = serde_json::from_str(&percent_decode_str(data).decode_utf8().unwrap()).unwrap();
    (half, challenge)
}

async fn second_step(api: &Api, half: &str, response: &str) -> (u16, Value) {
    let form = [
        ("username", "alice@pve"),
        ("tfa-challenge", half),
        ("password", response),
    ];
    api.call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
        .await
}
