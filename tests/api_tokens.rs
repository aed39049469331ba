//! The access API over TLS with a real client: a token created over the API works on the next
//! (forwarded) request, a deleted one is refused; 400 `errors` maps; user list filtering;
//! `PUT /access/acl` delegation rules.

mod api_support;
mod gateway_support;

use api_support::{Api, token};
use serde_json::Value;

/// admin@pve!all: privsep=0 token of a user with Administrator on `/` (not root, but may all).
/// deleg@pve: User.Modify on /access/groups/ops only; VM.Allocate (PVEVMAdmin) on /vms/100.
/// plain@pve: nothing.
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:admin@pve:1:0:::::
user:deleg@pve:1:0:::::
user:plain@pve:1:0:::::
user:opsuser@pve:1:0:::::
user:other@pve:1:0:::::
token:admin@pve!all:0:0::
token:deleg@pve!tk:0:0::
token:plain@pve!tk:0:0::
group:ops:opsuser@pve::
role:GroupAdmin:User.Modify:
acl:1:/:admin@pve:Administrator:
acl:1:/access/groups/ops:deleg@pve:GroupAdmin:
acl:1:/vms/100:deleg@pve:PVEVMAdmin:
";

const TOKENS: [&str; 3] = ["admin@pve!all", "deleg@pve!tk", "plain@pve!tk"];

use reqwest::Method as M;

#[tokio::test]
async fn token_created_over_the_api_works_then_deleted_is_refused() {
    let api = Api::start(USER_CFG, &TOKENS, &[]).await;
    let admin = token("admin@pve!all");
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/users",
            &[("userid", "bob@pve"), ("comment", "c")],
        )
        .await;
    assert_eq!(s, 200, "create user: {body}");
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/users/bob@pve/token/ci",
            &[("privsep", "0")],
        )
        .await;
    assert_eq!(s, 200, "create token: {body}");
    assert_eq!(body["data"]["full-tokenid"], "bob@pve!ci");
    let secret = body["data"]["value"].as_str().expect("secret").to_owned();
    let bob = format!("PVEAPIToken=bob@pve!ci={secret}");

    let (s, _) = api.call(&bob, M::GET, "/version", &[]).await;
    assert_eq!(s, 200, "new token is accepted on the next request");
    assert_eq!(api.upstream.count(), 1, "and the request was forwarded");

    let (s, body) = api
        .call(&admin, M::POST, "/access/users/bob@pve/token/ci", &[])
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["errors"]["tokenid"], "Token already exists.");

    let (s, body) = api
        .call(&admin, M::GET, "/access/users/bob@pve/token", &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["data"][0]["tokenid"], "ci");
    assert!(
        body.to_string().find(&secret).is_none(),
        "secret never listed"
    );

    let (s, _) = api
        .call(&admin, M::DELETE, "/access/users/bob@pve/token/ci", &[])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.call(&bob, M::GET, "/version", &[]).await;
    assert_eq!(s, 401, "deleted token is refused");
    assert_eq!(api.upstream.count(), 1);
}

#[tokio::test]
async fn parameter_errors_are_400_with_an_errors_map() {
    let api = Api::start(USER_CFG, &TOKENS, &[]).await;
    let admin = token("admin@pve!all");
    let check = |(s, body): (u16, Value), param: &str, what: &str| {
        assert_eq!(s, 400, "{what}: {body}");
        assert!(
            body["errors"][param].is_string(),
            "{what}: errors.{param} in {body}"
        );
        assert_eq!(
            body["message"], "Parameter verification failed.\n",
            "{what}"
        );
    };
    check(
        api.call(
            &admin,
            M::POST,
            "/access/users",
            &[("userid", "x@pve"), ("enable", "maybe")],
        )
        .await,
        "enable",
        "bad boolean",
    );
    check(
        api.call(
            &admin,
            M::POST,
            "/access/users",
            &[("userid", "x@pve"), ("email", "no")],
        )
        .await,
        "email",
        "bad email",
    );
    check(
        api.call(
            &admin,
            M::POST,
            "/access/users/admin@pve/token/t2",
            &[("expire", "-1")],
        )
        .await,
        "expire",
        "bad integer",
    );
}

#[tokio::test]
async fn user_list_is_filtered_and_plain_users_are_refused() {
    let api = Api::start(USER_CFG, &TOKENS, &[]).await;
    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (s, body) = api
        .call(&token("deleg@pve!tk"), M::GET, "/access/users", &[])
        .await;
    assert_eq!(s, 200);
    // A token is not "the current user" (Proxmox compares with the authid).
    assert_eq!(ids(&body), ["opsuser@pve"], "members of ops");
    let (_, body) = api
        .call(&token("plain@pve!tk"), M::GET, "/access/users", &[])
        .await;
    assert_eq!(ids(&body), Vec::<String>::new(), "nothing");
    let (_, body) = api
        .call(
            &token("admin@pve!all"),
            M::GET,
            "/access/users",
            &[("full", "1")],
        )
        .await;
    assert_eq!(ids(&body).len(), 6);
    assert!(body["data"][0]["tokens"].is_array(), "full=1 lists tokens");

    // Delegated admin: may edit a member of ops, not anyone else.
    let deleg = token("deleg@pve!tk");
    let (s, _) = api
        .call(
            &deleg,
            M::PUT,
            "/access/users/opsuser@pve",
            &[("comment", "hi"), ("groups", "ops")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(
            &deleg,
            M::PUT,
            "/access/users/other@pve",
            &[("comment", "hi")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = api
        .call(
            &token("plain@pve!tk"),
            M::DELETE,
            "/access/users/other@pve",
            &[],
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn acl_delegation_rules() {
    let api = Api::start(USER_CFG, &TOKENS, &[]).await;
    let deleg = token("deleg@pve!tk");
    let put = |roles: &'static str, path: &'static str, propagate: &'static str| {
        let deleg = deleg.clone();
        let api = &api;
        async move {
            api.call(
                &deleg,
                M::PUT,
                "/access/acl",
                &[
                    ("path", path),
                    ("roles", roles),
                    ("users", "plain@pve"),
                    ("propagate", propagate),
                ],
            )
            .await
        }
    };
    // VM.Allocate on /vms/100 passes perm-modify; PVEVMUser ⊆ PVEVMAdmin held there.
    assert_eq!(put("PVEVMUser", "/vms/100", "1").await.0, 200);
    // NoAccess is never handed out by a delegated caller; nor a role with privileges the
    // caller lacks on the path. Proxmox answers both as parameter errors on `role`.
    for role in ["NoAccess", "Administrator"] {
        let (s, body) = put(role, "/vms/100", "1").await;
        assert_eq!(s, 400, "{role}: {body}");
        assert!(body["errors"]["role"].is_string(), "{role}: {body}");
    }
    // Not allowed on another path at all.
    assert_eq!(put("PVEVMUser", "/vms/101", "1").await.0, 403);
    // Admin lists the new entry; plain user sees nothing.
    let (_, body) = api
        .call(&token("admin@pve!all"), M::GET, "/access/acl", &[])
        .await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "/vms/100"
                && e["ugid"] == "plain@pve"
                && e["roleid"] == "PVEVMUser"),
        "{body}"
    );
    let (_, body) = api
        .call(&token("plain@pve!tk"), M::GET, "/access/acl", &[])
        .await;
    assert_eq!(body["data"], serde_json::json!([]));
    // Unknown role: a die in Proxmox (500).
    let (s, _) = api
        .call(
            &token("admin@pve!all"),
            M::PUT,
            "/access/acl",
            &[("path", "/vms"), ("roles", "Nope"), ("users", "plain@pve")],
        )
        .await;
    assert_eq!(s, 500);
}

#[tokio::test]
async fn permissions_own_free_others_need_sys_audit() {
    let api = Api::start(USER_CFG, &TOKENS, &[]).await;
    let plain = token("plain@pve!tk");
    let (s, _) = api.call(&plain, M::GET, "/access/permissions", &[]).await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(
            &plain,
            M::GET,
            "/access/permissions",
            &[("userid", "admin@pve")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, body) = api
        .call(
            &token("admin@pve!all"),
            M::GET,
            "/access/permissions",
            &[("userid", "deleg@pve"), ("path", "/vms/100")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["data"]["/vms/100"]["VM.Allocate"], 1, "{body}");
}
