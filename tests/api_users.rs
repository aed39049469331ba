//! `POST /access/users` with an initial `password` over TLS: a `pve` user logs in with it
//! right away; other realms keep their passwords elsewhere (400, no user created); a password
//! Proxmox would refuse is 400 `errors.password`.

mod api_support;
mod gateway_support;

use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth};

#[tokio::test]
async fn an_initial_password_is_stored_with_the_user() {
    let api = Api::start("user:root@pam:1:0:::::\n", &[], &[]).await;
    let root = api.ticket("root@pam");
    let create = |userid: &'static str, password: &'static str| {
        let (api, root) = (&api, &root);
        async move {
            api.call_as(
                root,
                Method::POST,
                "/access/users",
                &[("userid", userid), ("password", password)],
            )
            .await
        }
    };
    let login = |username: &'static str, password: &'static str| {
        let api = &api;
        async move {
            api.call_as(
                &Auth::Anonymous,
                Method::POST,
                "/access/ticket",
                &[("username", username), ("password", password)],
            )
            .await
        }
    };

    let (status, body) = create("new@pve", "initial-pw-1").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login("new@pve", "initial-pw-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["username"], "new@pve");
    let (status, _) = login("new@pve", "another-pw-1").await;
    assert_eq!(status, 401);

    let (status, body) = create("short@pve", "short").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["password"].is_string(), "{body}");
    let (status, body) = create("someone@pam", "initial-pw-1").await;
    assert_eq!(status, 400, "PAM passwords are the host's: {body}");

    let cfg = std::fs::read_to_string(api.state().join("user.cfg")).unwrap();
    assert!(cfg.contains("user:new@pve:"), "{cfg}");
    for refused in ["short@pve", "someone@pam"] {
        assert!(!cfg.contains(refused), "{refused} not created: {cfg}");
    }
    let shadow = std::fs::read_to_string(api.state().join("priv/shadow.cfg")).unwrap();
    assert!(shadow.starts_with("new:$5$"), "hashed: {shadow}");
    assert!(
        !shadow.contains("initial-pw-1"),
        "never the password itself"
    );
    let (status, body): (u16, Value) = create("new@pve", "initial-pw-2").await;
    assert_eq!(status, 500, "the user exists (a die in Proxmox): {body}");
    let (status, _) = login("new@pve", "initial-pw-1").await;
    assert_eq!(status, 200, "an existing user's password is not replaced");
}
