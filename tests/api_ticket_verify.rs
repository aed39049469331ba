//! `POST /access/ticket` with `path` and `privs` (Proxmox's verify mode): no ticket is issued;
//! a password, a ticket of the same user or a `PVEVNC` ticket for the path is checked, then
//! the privileges; every refusal is the login's 401.

mod api_support;
mod gateway_support;

use aclgate::auth::realm::crypt;
use aclgate::auth::ticket::{Binding, ShortLivedKind, epoch_now};
use aclgate::identity::Authid;
use reqwest::Method;
use serde_json::{Value, json};

use api_support::{Api, Auth};

const PASSWORD: &str = "alice-pw-1";

async fn start() -> Api {
    let user_cfg = "\
user:root@pam:1:0:::::
user:alice@pve:1:0:::::
user:bob@pve:1:0:::::
acl:1:/vms:alice@pve:PVEAuditor:
";
    let shadow = format!(
        "alice:{}:\nbob:{}:\n",
        crypt::hash_password(PASSWORD).unwrap(),
        crypt::hash_password("bob-pw-1234").unwrap()
    );
    Api::start(user_cfg, &[], &[("priv/shadow.cfg", &shadow)]).await
}

async fn verify(api: &Api, password: &str, path: &str, privs: &str) -> (u16, Value) {
    let form = [
        ("username", "alice@pve"),
        ("password", password),
        ("path", path),
        ("privs", privs),
    ];
    api.call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
        .await
}

#[tokio::test]
async fn password_ticket_and_vnc_ticket_are_checked_for_the_privileges() {
    let api = start().await;
    let (status, body) = verify(&api, PASSWORD, "/vms/100", "VM.Audit").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"username": "alice@pve"}),
        "no ticket issued"
    );

    for (password, path, privs) in [
        (PASSWORD, "/vms/100", "VM.Audit,VM.Allocate"),
        (PASSWORD, "/nodes", "Sys.Audit"),
        ("wrong-password", "/vms/100", "VM.Audit"),
    ] {
        let (status, body) = verify(&api, password, path, privs).await;
        assert_eq!(status, 401, "{path} {privs}: {body}");
    }

    // A ticket of alice herself stands in for the password; root's or bob's does not (unlike
    // a renewal, where root's ticket may renew anyone's).
    let Auth::Ticket { ticket, .. } = api.ticket("alice@pve") else {
        unreachable!()
    };
    let (status, body) = verify(&api, &ticket, "/vms/7", "VM.Audit").await;
    assert_eq!(status, 200, "{body}");
    for other in ["root@pam", "bob@pve"] {
        let Auth::Ticket { ticket, .. } = api.ticket(other) else {
            unreachable!()
        };
        let (status, body) = verify(&api, &ticket, "/vms/7", "VM.Audit").await;
        assert_eq!(status, 401, "{other}'s ticket: {body}");
    }

    // A VNC ticket of alice, for this very path.
    let alice: Authid = "alice@pve".parse().unwrap();
    let vnc = api
        .services
        .tickets
        .issue_short_lived(
            ShortLivedKind::Vnc,
            Binding {
                authid: &alice,
                path: "/vms/100",
                port: None,
            },
            epoch_now(),
        )
        .unwrap();
    let (status, body) = verify(&api, &vnc, "/vms/100", "VM.Audit").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = verify(&api, &vnc, "/vms/101", "VM.Audit").await;
    assert_eq!(status, 401, "a VNC ticket for another path: {body}");
}

#[tokio::test]
async fn bad_privilege_names_are_parameter_errors_and_tfa_users_need_their_factor() {
    let api = start().await;
    let (status, body) = verify(&api, PASSWORD, "/vms", "VM.Fly").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"]["privs"], "invalid privilege name 'VM.Fly'",
        "{body}"
    );
    let long = "/".repeat(65);
    let (status, body) = verify(&api, PASSWORD, &long, "VM.Audit").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["path"].is_string(), "{body}");

    // Alice gets recovery keys: now a bare password no longer verifies (Proxmox would accept
    // it, spec §10.10), but the password with a second factor in `otp` does.
    let alice = api.ticket("alice@pve");
    let form = [("type", "recovery"), ("password", PASSWORD)];
    let (status, body) = api
        .call_as(&alice, Method::POST, "/access/tfa/alice@pve", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    let key = body["data"]["recovery"][0].as_str().unwrap().to_owned();
    let (status, body) = verify(&api, PASSWORD, "/vms", "VM.Audit").await;
    assert_eq!(status, 401, "{body}");
    let otp = format!("recovery:{key}");
    let form = [
        ("username", "alice@pve"),
        ("password", PASSWORD),
        ("otp", otp.as_str()),
        ("path", "/vms"),
        ("privs", "VM.Audit"),
    ];
    let (status, body) = api
        .call_as(&Auth::Anonymous, Method::POST, "/access/ticket", &form)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"username": "alice@pve"}), "{body}");
}
