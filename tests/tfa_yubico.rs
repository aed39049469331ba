//! Yubico OTP logins against a local validation server that speaks the Yubico validation
//! protocol 2.0 (HMAC-SHA1 signed request and response) over real HTTP on 127.0.0.1:0; the
//! last test does it over the gateway's HTTP API (a realm with `tfa type=yubico`).

mod api_support;
mod gateway_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use aclgate::auth::tfa::yubico::{YubicoServer, sign};
use aclgate::auth::tfa::{
    Challenge, RealmTfa, TfaError, TfaStore, VerifyContext, challenge_for, manage, verify_response,
};
use aclgate::identity::Userid;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const KEY: &[u8] = b"validation-server-key";
const OTP: &str = "ccccccbcgujhingjrdejhgfnuetrgigvejhhgbkugded";
const NOW: i64 = 1_700_000_000;

/// How the server misbehaves.
#[derive(Clone, Copy)]
enum Mode {
    Honest,
    Status(&'static str),
    WrongKey,
    OtherNonce,
}

/// Start a validation server answering `requests` requests; returns its URL.
fn server(mode: Mode, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/wsapi/2.0/verify", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
            }
            let query = line
                .split_whitespace()
                .nth(1)
                .unwrap()
                .split_once('?')
                .unwrap()
                .1
                .to_owned();
            let mut params: BTreeMap<String, String> =
                url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
            let h = params.remove("h").unwrap_or_default();
            let signed = params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let status = match mode {
                _ if sign(KEY, &signed) != h => "BAD_SIGNATURE",
                Mode::Status(s) => s,
                _ => "OK",
            };
            let mut answer = BTreeMap::new();
            answer.insert("otp", params["otp"].clone());
            answer.insert(
                "nonce",
                if matches!(mode, Mode::OtherNonce) {
                    "x".repeat(32)
                } else {
                    params["nonce"].clone()
                },
            );
            answer.insert("status", status.to_owned());
            answer.insert("t", "2024-01-01T00:00:00Z0000".to_owned());
            answer.insert("sl", "100".to_owned());
            let text = answer
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let key: &[u8] = if matches!(mode, Mode::WrongKey) {
                b"another key"
            } else {
                KEY
            };
            let mut body = format!("h={}\r\n", sign(key, &text));
            for (k, v) in &answer {
                body.push_str(&format!("{k}={v}\r\n"));
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn realm(url: String) -> RealmTfa {
    RealmTfa::Yubico(YubicoServer {
        url,
        id: "42".into(),
        key: Some(STANDARD.encode(KEY)),
    })
}

fn setup(realm: &RealmTfa) -> (TfaStore, Userid, Challenge) {
    let bob: Userid = "bob@yk".parse().unwrap();
    let mut store = TfaStore::default();
    manage::add_yubico(&mut store, &bob, "my key", OTP, None, NOW).unwrap();
    let ch = challenge_for(&mut store, &bob, Some(realm), None, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::to_string(&ch).unwrap(), r#"{"yubico":true}"#);
    (store, bob, ch)
}

fn check(mode: Mode, otp: &str, want_ok: bool, what: &str) {
    let realm = realm(server(mode, 1));
    let (mut store, bob, ch) = setup(&realm);
    let ctx = VerifyContext {
        realm: Some(&realm),
        webauthn: None,
        u2f: None,
    };
    let got = verify_response(&mut store, &bob, &ch, &format!("yubico:{otp}"), &ctx, NOW);
    assert_eq!(got.is_ok(), want_ok, "{what}: {got:?}");
    if !want_ok {
        assert_eq!(
            store.challenges[&bob].tfa_failures, 1,
            "{what}: failure counted"
        );
    }
}

#[test]
fn validation_outcomes() {
    check(Mode::Honest, OTP, true, "valid otp, honest server");
    check(
        Mode::Status("REPLAYED_OTP"),
        OTP,
        false,
        "server says replayed",
    );
    check(
        Mode::WrongKey,
        OTP,
        false,
        "response signed with another key",
    );
    check(
        Mode::OtherNonce,
        OTP,
        false,
        "response echoes another nonce",
    );
}

#[test]
fn key_of_another_user_is_refused_without_asking_the_server() {
    // The server would accept anything; the key id does not belong to bob.
    let realm = realm("http://127.0.0.1:9/never-called".into());
    let (mut store, bob, ch) = setup(&realm);
    let ctx = VerifyContext {
        realm: Some(&realm),
        webauthn: None,
        u2f: None,
    };
    let other = format!("vvvvvvbcgujh{}", &OTP[12..]);
    let got = verify_response(&mut store, &bob, &ch, &format!("yubico:{other}"), &ctx, NOW);
    assert!(matches!(got, Err(TfaError::Failed)), "{got:?}");
}

#[test]
fn wrong_api_key_on_our_side_is_refused_by_the_server() {
    let url = server(Mode::Honest, 1);
    let realm = RealmTfa::Yubico(YubicoServer {
        url,
        id: "42".into(),
        key: Some(STANDARD.encode(b"not the key")),
    });
    let (mut store, bob, ch) = setup(&realm);
    let ctx = VerifyContext {
        realm: Some(&realm),
        webauthn: None,
        u2f: None,
    };
    let got = verify_response(&mut store, &bob, &ch, &format!("yubico:{OTP}"), &ctx, NOW);
    assert!(got.is_err(), "{got:?}");
}

#[test]
fn adding_validates_online() {
    let server_cfg = YubicoServer {
        url: server(Mode::Honest, 1),
        id: "42".into(),
        key: Some(STANDARD.encode(KEY)),
    };
    let bob: Userid = "bob@yk".parse().unwrap();
    let mut store = TfaStore::default();
    manage::add_yubico(&mut store, &bob, "k", OTP, Some(&server_cfg), NOW).unwrap();
    assert_eq!(store.users[&bob].yubico[0].entry, "ccccccbcgujh");
    let refused = YubicoServer {
        url: server(Mode::Status("BAD_OTP"), 1),
        ..server_cfg
    };
    assert!(manage::add_yubico(&mut store, &bob, "k", OTP, Some(&refused), NOW).is_err());
    assert_eq!(store.users[&bob].yubico.len(), 1);
}

#[tokio::test]
async fn over_the_api_a_yubico_realm_adds_a_key_and_logs_in() {
    use aclgate::auth::realm::crypt;
    use api_support::{Api, Auth};
    use reqwest::Method;

    // Two validations: adding the key, then the login. Anything else asked of the server
    // would use one of them up and make the login fail.
    let url = server(Mode::Honest, 2);
    let domains = format!(
        "pam: pam\n\npve: pve\n\ttfa type=yubico,id=42,key={},url={url}\n",
        STANDARD.encode(KEY)
    );
    let shadow = format!("bob:{}:\n", crypt::hash_password("bob-pw-12").unwrap());
    let api = Api::start(
        "user:root@pam:1:0:::::\nuser:bob@pve:1:0:::::\n",
        &[],
        &[("domains.cfg", &domains), ("priv/shadow.cfg", &shadow)],
    )
    .await;
    let login = |extra: Vec<(&'static str, String)>| {
        let api = &api;
        async move {
            let mut form = vec![
                ("username", "bob@pve".to_owned()),
                ("password", "bob-pw-12".to_owned()),
            ];
            for (k, v) in extra {
                form.retain(|(key, _)| *key != k);
                form.push((k, v));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
                .await
        }
    };
    let (status, body) = login(vec![]).await;
    assert_eq!(
        status, 401,
        "the realm requires a key bob does not have: {body}"
    );

    let root = api.ticket("root@pam");
    let form = [
        ("type", "yubico"),
        ("description", "my key"),
        ("value", OTP),
    ];
    let (status, body) = api
        .call_as(&root, Method::POST, "/access/tfa/bob@pve", &form)
        .await;
    assert_eq!(status, 200, "validated online: {body}");
    let (status, body) = api
        .call_as(&root, Method::GET, "/access/users/bob@pve/tfa", &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        serde_json::json!({"realm": "yubico", "user": "yubico"})
    );

    let (status, body) = login(vec![]).await;
    assert_eq!(
        (status, &body["data"]["NeedTFA"]),
        (200, &1.into()),
        "{body}"
    );
    let half = body["data"]["ticket"].as_str().unwrap().to_owned();
    assert!(half.contains("yubico"), "{half}");
    let step2 = |response: String| {
        login(vec![
            ("tfa-challenge", half.clone()),
            ("password", response),
        ])
    };
    let other = format!("vvvvvvbcgujh{}", &OTP[12..]);
    let (status, _) = step2(format!("yubico:{other}")).await;
    assert_eq!(
        status, 401,
        "another key's OTP, refused without asking the server"
    );
    let (status, _) = step2("totp:123456".to_owned()).await;
    assert_eq!(status, 401, "the realm only takes yubico (and recovery)");
    let (status, body) = step2(format!("yubico:{OTP}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["ticket"]
            .as_str()
            .is_some_and(|t| t.starts_with("PVE:bob@pve:")),
        "{body}"
    );
}
