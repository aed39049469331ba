//! The token options over the access API with a real client: `allowed-ips`, `rate-limit`,
//! `rate-burst` on create and update (validated into Proxmox's `errors` map), `delete=`,
//! `regenerate=1&overlap=N`, the extra fields in GET answers, ticket logins unaffected by a
//! token's `allowed-ips`, and options dropped with their user.

mod api_support;
mod gateway_support;

use api_support::{Api, token};
use reqwest::Method as M;

/// admin@pve!all: a privsep=0 token of an Administrator; joe@pve has a `pve` password.
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:admin@pve:1:0:::::
user:joe@pve:1:0:::::
token:admin@pve!all:0:0::
acl:1:/:admin@pve:Administrator:
";

const PASSWORD: &str = "joe-secret-1";

async fn start() -> Api {
    let hash = aclgate::auth::realm::crypt::hash_password(PASSWORD).unwrap();
    let shadow = format!("joe:{hash}:\n");
    Api::start(
        USER_CFG,
        &["admin@pve!all"],
        &[("priv/shadow.cfg", &shadow)],
    )
    .await
}

#[tokio::test]
async fn bad_values_are_refused_with_proxmox_errors_maps() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let path = "/access/users/joe@pve/token/ci";
    let check =
        |form: &'static [(&'static str, &'static str)], key: &'static str, want: &'static str| {
            let (api, admin) = (&api, &admin);
            async move {
                let (s, body) = api.call(admin, M::POST, path, form).await;
                assert_eq!(s, 400, "{form:?}: {body}");
                let got = body["errors"][key].as_str().unwrap_or_default();
                assert!(got.contains(want), "{form:?}: errors.{key} = {body}");
            }
        };
    check(
        &[("allowed-ips", "10.0.0.1/8")],
        "allowed-ips",
        "did you mean",
    )
    .await;
    check(
        &[("allowed-ips", "nowhere")],
        "allowed-ips",
        "invalid format",
    )
    .await;
    check(
        &[("allowed-ips", "10.0.0.0/33")],
        "allowed-ips",
        "out of range",
    )
    .await;
    check(&[("rate-limit", "0")], "rate-limit", "minimum value of 1").await;
    check(
        &[("rate-limit", "x")],
        "rate-limit",
        "type check ('integer')",
    )
    .await;
    check(
        &[("rate-burst", "1000001")],
        "rate-burst",
        "maximum value of 1000000",
    )
    .await;
    assert!(
        !api.state().join("token-options.cfg").exists(),
        "nothing was written"
    );
    let (s, _) = api.call(&admin, M::GET, path, &[]).await;
    assert_ne!(s, 200, "and no token was created");
}

#[tokio::test]
async fn options_over_the_api_take_effect_and_show_in_get() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let path = "/access/users/joe@pve/token/ci";
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            path,
            &[
                ("privsep", "0"),
                ("allowed-ips", "127.0.0.2"),
                ("rate-limit", "100"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["data"]["info"]["allowed-ips"], "127.0.0.2/32",
        "{body}"
    );
    let secret = body["data"]["value"].as_str().unwrap().to_owned();
    let ci = format!("PVEAPIToken=joe@pve!ci={secret}");

    let (s, body) = api
        .call(&admin, M::GET, "/access/users/joe@pve/token", &[])
        .await;
    assert_eq!(s, 200);
    let item = &body["data"][0];
    assert_eq!(
        (&item["tokenid"], &item["privsep"], &item["expire"]),
        (&"ci".into(), &0.into(), &0.into()),
        "Proxmox's fields unchanged: {body}"
    );
    assert_eq!(
        (&item["allowed-ips"], &item["rate-limit"]),
        (&"127.0.0.2/32".into(), &100.into()),
        "{body}"
    );
    let (s, body) = api.call(&admin, M::GET, path, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(body["data"]["allowed-ips"], "127.0.0.2/32", "{body}");
    assert!(body["data"].get("rate-burst").is_none(), "{body}");

    // The client connects from 127.0.0.1: refused until the restriction is deleted.
    assert_eq!(api.call(&ci, M::GET, "/version", &[]).await.0, 401);
    let (s, body) = api
        .call(&admin, M::PUT, path, &[("delete", "allowed-ips")])
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["data"].get("allowed-ips").is_none(), "{body}");
    assert_eq!(api.call(&ci, M::GET, "/version", &[]).await.0, 200);

    // Rotation with an overlap window.
    let (s, body) = api.call(&admin, M::PUT, path, &[("overlap", "60")]).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["errors"]["overlap"], "requires option 'regenerate'");
    let (s, body) = api
        .call(
            &admin,
            M::PUT,
            path,
            &[("regenerate", "1"), ("overlap", "60")],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let new = format!(
        "PVEAPIToken=joe@pve!ci={}",
        body["data"]["value"].as_str().unwrap()
    );
    assert!(body["data"]["overlap-until"].is_u64(), "{body}");
    assert_eq!(api.call(&ci, M::GET, "/version", &[]).await.0, 200, "old");
    assert_eq!(api.call(&new, M::GET, "/version", &[]).await.0, 200, "new");
    let (_, body) = api.call(&admin, M::GET, path, &[]).await;
    assert!(body["data"]["overlap-until"].is_u64(), "{body}");
    let (s, _) = api.call(&admin, M::PUT, path, &[("regenerate", "1")]).await;
    assert_eq!(s, 200);
    assert_eq!(api.call(&ci, M::GET, "/version", &[]).await.0, 401);
    assert_eq!(api.call(&new, M::GET, "/version", &[]).await.0, 401);
}

#[tokio::test]
async fn ticket_logins_ignore_token_restrictions_and_user_delete_drops_options() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/users/joe@pve/token/ci",
            &[("allowed-ips", "192.0.2.0/24"), ("rate-limit", "1")],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = api
        .call(
            "",
            M::POST,
            "/access/ticket",
            &[("username", "joe@pve"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let ticket = format!("PVEAuthCookie={}", body["data"]["ticket"].as_str().unwrap());
    // Three in a row: the token's rate limit does not apply to its user's ticket either.
    for _ in 0..3 {
        let (s, body) = api
            .call(&ticket, M::GET, "/access/users/joe@pve/token", &[])
            .await;
        assert_eq!(s, 200, "{body}");
    }

    let options = api.state().join("token-options.cfg");
    assert!(
        std::fs::read_to_string(&options)
            .unwrap()
            .contains("joe@pve!ci")
    );
    let (s, body) = api
        .call(&admin, M::DELETE, "/access/users/joe@pve", &[])
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&options).unwrap(), "");
}
