//! OpenID Connect realms against a real provider (npm `oidc-provider`, started per test on a
//! free port by `support_oidc`) and a real gateway over TLS: the full authorization-code flow
//! (`auth-url`, the user logs in and consents at the provider, `login` with code + state),
//! autocreate, groups from a claim, the answer's ticket used on the API, key rotation at the
//! provider, the refusals (replayed state, wrong nonce, tampered ID token, expired code,
//! unknown realm), and `username-claim` being fixed at creation.

mod api_support;
mod gateway_support;
mod support_oidc;

use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth};
use support_oidc::{Browser, CLIENT_ID, CLIENT_SECRET, OidcProvider, REDIRECT, param};

const USERS: &str = "\
user:root@pam:1:0:::::
user:bob@corp:1:0:::::
user:dora@corp:0:0:::::
group:devs-corp:::
group:old:bob@corp::
acl:1:/vms:@devs-corp:PVEVMUser:
";

/// An openid realm `corp` at `issuer` with `extra` option lines.
fn domains(issuer: &str, extra: &str) -> String {
    format!(
        "openid: corp\n\tissuer-url {issuer}\n\tclient-id {CLIENT_ID}\n\tclient-key {CLIENT_SECRET}\n\
         \tscopes email profile groups\n\tgroups-claim groups\n{extra}\n"
    )
}

async fn start(provider: &OidcProvider, extra: &str) -> Api {
    let domains = domains(&provider.issuer(), extra);
    Api::start(USERS, &[], &[("domains.cfg", &domains)]).await
}

/// `POST /access/openid/auth-url` for `realm`: the provider URL.
async fn auth_url(api: &Api, realm: &str) -> (u16, Value) {
    api.call_as(
        &Auth::Anonymous,
        Method::POST,
        "/access/openid/auth-url",
        &[("realm", realm), ("redirect-url", REDIRECT)],
    )
    .await
}

/// `POST /access/openid/login` with the provider's answer.
async fn login(api: &Api, code: &str, state: &str) -> (u16, Value) {
    api.call_as(
        &Auth::Anonymous,
        Method::POST,
        "/access/openid/login",
        &[("code", code), ("state", state), ("redirect-url", REDIRECT)],
    )
    .await
}

/// The whole flow for `user`: auth-url, the browser at the provider, then login.
async fn flow(api: &Api, user: &str) -> (u16, Value) {
    let (status, url) = auth_url(api, "corp").await;
    assert_eq!(status, 200, "{url}");
    let back = Browser::new()
        .authorize(url["data"].as_str().unwrap(), user)
        .await;
    login(api, param(&back, "code"), param(&back, "state")).await
}

fn user_cfg(api: &Api) -> String {
    std::fs::read_to_string(api.state().join("user.cfg")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_autocreates_the_user_and_its_groups_and_the_ticket_works() {
    let provider = OidcProvider::start();
    let api = start(&provider, "\tautocreate 1\n\tgroups-autocreate 1").await;

    let (status, url) = auth_url(&api, "corp").await;
    assert_eq!(status, 200, "{url}");
    let url = reqwest::Url::parse(url["data"].as_str().unwrap()).unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/auth?", provider.issuer()))
    );
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(param(&q, "code_challenge_method"), "S256");
    assert_eq!(param(&q, "code_challenge").len(), 43);
    assert_eq!(param(&q, "client_id"), CLIENT_ID);
    assert_eq!(param(&q, "redirect_uri"), REDIRECT);
    assert_eq!(param(&q, "scope"), "openid email profile groups");
    assert!(param(&q, "nonce").len() >= 32);
    let state: Value = serde_json::from_str(param(&q, "state")).unwrap();
    assert_eq!(state["realm"], "corp");

    let back = Browser::new().authorize(url.as_str(), "alice").await;
    assert_eq!(param(&back, "state"), param(&q, "state"));
    let (status, answer) = login(&api, param(&back, "code"), param(&back, "state")).await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    assert_eq!(data["username"], "alice@corp");
    assert!(
        data["ticket"]
            .as_str()
            .unwrap()
            .starts_with("PVE:alice@corp:")
    );
    assert!(data["CSRFPreventionToken"].is_string());
    // The group made from the claim already counts in `cap`: PVEVMUser on /vms via devs-corp.
    assert_eq!(data["cap"]["vms"]["VM.Console"], 1, "{data}");

    let cfg = user_cfg(&api);
    assert!(
        cfg.contains("user:alice@corp:1:0:Alice:Liddell:alice@example.com:"),
        "{cfg}"
    );
    assert!(cfg.contains("group:admins-corp:alice@corp::"), "{cfg}");
    assert!(cfg.contains("group:devs-corp:alice@corp::"), "{cfg}");

    // The ticket authenticates like a password login's.
    let auth = Auth::Ticket {
        ticket: data["ticket"].as_str().unwrap().to_owned(),
        csrf: data["CSRFPreventionToken"].as_str().unwrap().to_owned(),
    };
    let (status, perms) = api
        .call_as(
            &auth,
            Method::GET,
            "/access/permissions",
            &[("path", "/vms")],
        )
        .await;
    assert_eq!(status, 200, "{perms}");
    assert_eq!(perms["data"]["/vms"]["VM.Console"], 1, "{perms}");

    // The state was used up: the same code and state again are refused.
    let (status, _) = login(&api, param(&back, "code"), param(&back, "state")).await;
    assert_eq!(status, 401, "replayed state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_autocreate_only_known_users_log_in_and_join_existing_groups() {
    let provider = OidcProvider::start();
    let api = start(&provider, "\tgroups-overwrite 1").await;

    // bob exists: joins devs-corp (exists), not admins-corp (does not), leaves `old`.
    let (status, answer) = flow(&api, "bob").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["username"], "bob@corp");
    let cfg = user_cfg(&api);
    assert!(cfg.contains("group:devs-corp:bob@corp::"), "{cfg}");
    assert!(cfg.contains("group:old:::"), "{cfg}");
    assert!(!cfg.contains("admins-corp"), "{cfg}");

    // alice does not exist and is not created; dora is disabled.
    let (status, _) = flow(&api, "alice").await;
    assert_eq!(status, 401);
    assert!(!user_cfg(&api).contains("alice@corp"));
    let (status, _) = flow(&api, "dora").await;
    assert_eq!(status, 401, "disabled user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_wrong_nonce_tampered_token_expired_code_unknown_realm() {
    let provider = OidcProvider::start();
    let api = start(&provider, "\tautocreate 1").await;

    // Wrong nonce: the browser's copy of the auth URL is altered; the provider puts that
    // nonce into the ID token, which no longer matches the login's.
    let (_, url) = auth_url(&api, "corp").await;
    let mut url = reqwest::Url::parse(url["data"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    url.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), if k == "nonce" { "forged-nonce" } else { v })),
    );
    let back = Browser::new().authorize(url.as_str(), "alice").await;
    let (status, _) = login(&api, param(&back, "code"), param(&back, "state")).await;
    assert_eq!(status, 401, "wrong nonce");

    // Tampered ID token: the provider's middleware rewrites mallory's token to name alice,
    // keeping the signature.
    let (status, _) = flow(&api, "mallory").await;
    assert_eq!(status, 401, "tampered id token");
    let cfg = user_cfg(&api);
    assert!(
        !cfg.contains("alice@corp") && !cfg.contains("mallory@corp"),
        "{cfg}"
    );

    // Expired code: `late`'s codes live 1 s at the provider. Waiting is the point here:
    // there is no event to await but the clock.
    let (_, url) = auth_url(&api, "corp").await;
    let back = Browser::new()
        .authorize(url["data"].as_str().unwrap(), "late")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _) = login(&api, param(&back, "code"), param(&back, "state")).await;
    assert_eq!(status, 401, "expired code");
    assert!(!user_cfg(&api).contains("late@corp"));

    // Unknown realm, and a realm of another type.
    let (status, body) = auth_url(&api, "nowhere").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "authentication domain 'nowhere' does not exist\n"
    );
    let (status, body) = auth_url(&api, "pve").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api
        .call_as(
            &Auth::Anonymous,
            Method::POST,
            "/access/openid/auth-url",
            &[("realm", "corp"), ("redirect-url", "not a url")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["redirect-url"].is_string(), "{body}");
    // A state naming an unknown realm, or no JSON at all.
    let forged = r#"{"csrf_token":"x","realm":"nowhere"}"#;
    assert_eq!(login(&api, "code", forged).await.0, 401);
    assert_eq!(login(&api, "code", "garbage").await.0, 401);
    // Missing parameters are the caller's mistake.
    let (status, body) = api
        .call_as(
            &Auth::Anonymous,
            Method::POST,
            "/access/openid/login",
            &[("code", "c")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["state"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_at_the_provider_is_followed() {
    let provider = OidcProvider::start();
    let api = start(&provider, "\tautocreate 1").await;
    let kid = |issuer: String| async move {
        let text = reqwest::get(format!("{issuer}/jwks"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let jwks: Value = serde_json::from_str(&text).unwrap();
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    };
    let before = kid(provider.issuer()).await;
    assert_eq!(flow(&api, "alice").await.0, 200);

    // Same issuer, new signing key.
    let port = provider.stop();
    let provider = OidcProvider::start_on(port);
    let after = kid(provider.issuer()).await;
    assert_ne!(before, after);
    let (status, answer) = flow(&api, "bob").await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_claim_is_fixed_at_creation() {
    let api = Api::start(USERS, &[], &[]).await;
    let root = api.ticket("root@pam");
    let (status, body) = api
        .call_as(
            &root,
            Method::POST,
            "/access/domains",
            &[
                ("realm", "idp"),
                ("type", "openid"),
                ("issuer-url", "https://idp.example.test"),
                ("client-id", "aclgate"),
                ("username-claim", "email"),
                ("autocreate", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = std::fs::read_to_string(api.state().join("domains.cfg")).unwrap();
    assert!(
        text.contains("openid: idp\n") && text.contains("\tusername-claim email\n"),
        "{text}"
    );

    let (status, body) = api
        .call_as(
            &root,
            Method::PUT,
            "/access/domains/idp",
            &[("username-claim", "sub")],
        )
        .await;
    assert_eq!(status, 500, "Proxmox dies here (500): {body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("can't change value of fixed parameter 'username-claim'"),
        "{body}"
    );
    let (status, _) = api
        .call_as(
            &root,
            Method::PUT,
            "/access/domains/idp",
            &[("delete", "username-claim")],
        )
        .await;
    assert_eq!(
        status, 500,
        "unable to delete fixed option (a die in Proxmox)"
    );
    // Other options still change.
    let (status, body) = api
        .call_as(
            &root,
            Method::PUT,
            "/access/domains/idp",
            &[("groups-claim", "roles"), ("prompt", "login")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = std::fs::read_to_string(api.state().join("domains.cfg")).unwrap();
    assert!(text.contains("\tusername-claim email\n"), "{text}");
    assert!(text.contains("\tgroups-claim roles\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_userinfo_0_takes_the_claims_from_the_id_token_only() {
    // The provider puts only `sub` (and protocol claims) into ID tokens that come with an
    // access token; email and groups are served by its userinfo endpoint.
    let provider = OidcProvider::start();
    let api = start(
        &provider,
        "\tautocreate 1\n\tgroups-autocreate 1\n\tquery-userinfo 0",
    )
    .await;
    let (status, answer) = flow(&api, "alice").await;
    assert_eq!(status, 200, "{answer}");
    let cfg = user_cfg(&api);
    assert!(cfg.contains("user:alice@corp:1:0::::"), "{cfg}");
    assert!(!cfg.contains("admins-corp"), "{cfg}");
}
