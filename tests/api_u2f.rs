//! U2F over the HTTP API with a software U2F token: `POST /access/tfa/{userid}` `type=u2f`
//! twice (challenge, then the device's response), then the two-step login answered through
//! WebAuthn's `appid` extension and through the U2F API; a replayed answer is refused.

mod api_support;
mod gateway_support;
mod u2f_support;

use aclgate::auth::realm::crypt;
use percent_encoding::percent_decode_str;
use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth};
use u2f_support::SoftU2f;

const APPID: &str = "https://pve.example.test:8006";
const PASSWORD: &str = "alice-pw-1";

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
