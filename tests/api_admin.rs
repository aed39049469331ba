//! The access API's group, role, pool, password and realm handlers over TLS with a real client:
//! allowed and refused callers, 400 `errors` maps, rule refusals answered 500 as Proxmox
//! answers a handler's `die`, list filtering, the pool perm-modify rule (the password rules
//! themselves: tests/api_password.rs).

mod api_support;
mod gateway_support;

use api_support::{Api, token};
use reqwest::Method as M;
use serde_json::Value;

/// admin@pve!all: privsep=0 token of an Administrator on `/`; admin@pve!sep: privsep=1 token
/// without ACL entries of its own. aud@pve: Sys.Audit on /access/groups/ops only.
/// pooladm@pve: PVEPoolAdmin on /pool/p1, PVEVMAdmin on /vms/100 (not /vms/101).
const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:admin@pve:1:0:::::
user:aud@pve:1:0:::::
user:pooladm@pve:1:0:::::
user:plain@pve:1:0:::::
token:admin@pve!all:0:0::
token:admin@pve!sep:0:1::
token:aud@pve!tk:0:0::
token:pooladm@pve!tk:0:0::
token:plain@pve!tk:0:0::
group:ops:aud@pve::
group:dev:::
pool:p1::102::
pool:p2::103::
acl:1:/:admin@pve:Administrator:
acl:1:/access/groups/ops:aud@pve:PVEAuditor:
acl:1:/access/groups/dev:@dev:PVEAuditor:
acl:1:/pool/p1:pooladm@pve:PVEPoolAdmin:
acl:1:/vms/100:pooladm@pve:PVEVMAdmin:
";

const TOKENS: [&str; 5] = [
    "admin@pve!all",
    "admin@pve!sep",
    "aud@pve!tk",
    "pooladm@pve!tk",
    "plain@pve!tk",
];

async fn start() -> Api {
    Api::start(USER_CFG, &TOKENS, &[]).await
}

fn ids(body: &Value, key: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i[key].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn user_cfg(api: &Api) -> String {
    std::fs::read_to_string(api.state().join("user.cfg")).unwrap()
}

#[tokio::test]
async fn groups_crud_filtering_and_refusals() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let (s, body) = api.call(&admin, M::GET, "/access/groups", &[]).await;
    assert_eq!(
        (s, ids(&body, "groupid")),
        (200, vec!["dev".into(), "ops".into()])
    );
    let (s, body) = api
        .call(&token("aud@pve!tk"), M::GET, "/access/groups", &[])
        .await;
    assert_eq!(
        (s, ids(&body, "groupid")),
        (200, vec!["ops".into()]),
        "only groups with Sys.Audit"
    );
    let (s, body) = api
        .call(&token("plain@pve!tk"), M::GET, "/access/groups", &[])
        .await;
    assert_eq!((s, ids(&body, "groupid")), (200, Vec::<String>::new()));

    for who in ["admin@pve!sep", "plain@pve!tk", "aud@pve!tk"] {
        let (s, body) = api
            .call(&token(who), M::POST, "/access/groups", &[("groupid", "x")])
            .await;
        assert_eq!(s, 403, "{who} may not create groups: {body}");
    }
    let (s, body) = api
        .call(&admin, M::POST, "/access/groups", &[("groupid", "bad id")])
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["errors"]["groupid"].is_string(), "{body}");
    let (s, _) = api
        .call(
            &admin,
            M::POST,
            "/access/groups",
            &[("groupid", "qa"), ("comment", "QA")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = api
        .call(&admin, M::POST, "/access/groups", &[("groupid", "qa")])
        .await;
    assert_eq!(s, 500, "duplicate: {body}");
    let (s, _) = api
        .call(
            &admin,
            M::PUT,
            "/access/groups/qa",
            &[("comment", "quality")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = api.call(&admin, M::GET, "/access/groups/ops", &[]).await;
    assert_eq!(
        (s, &body["data"]["members"]),
        (200, &serde_json::json!(["aud@pve"]))
    );
    let (s, body) = api.call(&admin, M::GET, "/access/groups/qa", &[]).await;
    assert_eq!(
        (s, &body["data"]["comment"]),
        (200, &serde_json::json!("quality"))
    );

    assert!(user_cfg(&api).contains("@dev"));
    let (s, _) = api.call(&admin, M::DELETE, "/access/groups/dev", &[]).await;
    assert_eq!(s, 200);
    let cfg = user_cfg(&api);
    assert!(
        !cfg.contains("@dev") && !cfg.contains("group:dev"),
        "group and its ACL gone: {cfg}"
    );
}

#[tokio::test]
async fn roles_crud_builtins_and_reserved_ids() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let (s, body) = api
        .call(&token("plain@pve!tk"), M::GET, "/access/roles", &[])
        .await;
    assert_eq!(s, 200, "everyone lists roles");
    let admin_role = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["roleid"] == "PVEAdmin")
        .cloned()
        .unwrap();
    assert_eq!(admin_role["special"], 1);
    let (_, body) = api
        .call(&admin, M::POST, "/access/roles", &[("roleid", "Mine")])
        .await;
    assert_eq!(body["data"], Value::Null);
    let (_, body) = api.call(&admin, M::GET, "/access/roles", &[]).await;
    let mine = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["roleid"] == "Mine")
        .cloned();
    assert_eq!(
        mine.map(|r| r["special"].clone()),
        Some(serde_json::json!(0))
    );

    for id in ["PVEmine", "pveMine"] {
        let (s, body) = api
            .call(&admin, M::POST, "/access/roles", &[("roleid", id)])
            .await;
        assert_eq!(s, 400, "{id}: {body}");
        assert!(body["errors"]["roleid"].is_string(), "{id}: {body}");
    }
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/roles",
            &[("roleid", "R"), ("privs", "VM.Nope")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(body["errors"]["privs"].is_string(), "{body}");
    let (s, body) = api
        .call(
            &token("admin@pve!sep"),
            M::POST,
            "/access/roles",
            &[("roleid", "R")],
        )
        .await;
    assert_eq!(s, 403, "privsep token without ACL: {body}");

    let (s, _) = api
        .call(
            &admin,
            M::POST,
            "/access/roles",
            &[("roleid", "R"), ("privs", "VM.Audit")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(
            &admin,
            M::PUT,
            "/access/roles/R",
            &[("privs", "Sys.Audit"), ("append", "1")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = api.call(&admin, M::GET, "/access/roles/R", &[]).await;
    assert_eq!(
        (s, body["data"].clone()),
        (200, serde_json::json!({"Sys.Audit": 1, "VM.Audit": 1}))
    );
    for method in [M::PUT, M::DELETE] {
        let (s, body) = api
            .call(
                &admin,
                method.clone(),
                "/access/roles/PVEAdmin",
                &[("privs", "VM.Audit")],
            )
            .await;
        assert_eq!(s, 500, "{method} on a built-in role: {body}");
    }
    let (s, _) = api.call(&admin, M::DELETE, "/access/roles/R", &[]).await;
    assert_eq!(s, 200);
    assert!(!user_cfg(&api).contains("role:R:"));
}

#[tokio::test]
async fn pools_filtering_and_member_permissions() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let pa = token("pooladm@pve!tk");
    let (s, body) = api.call(&pa, M::GET, "/pools", &[]).await;
    assert_eq!(
        (s, ids(&body, "poolid")),
        (200, vec!["p1".into()]),
        "Pool.Audit on p1 only"
    );
    let (s, body) = api.call(&admin, M::GET, "/pools", &[]).await;
    assert_eq!(
        (s, ids(&body, "poolid")),
        (200, vec!["p1".into(), "p2".into()])
    );

    let (s, _) = api
        .call(&pa, M::PUT, "/pools", &[("poolid", "p1"), ("vms", "100")])
        .await;
    assert_eq!(s, 200, "VM.Allocate on /vms/100");
    let (s, body) = api
        .call(&pa, M::PUT, "/pools", &[("poolid", "p1"), ("vms", "101")])
        .await;
    assert_eq!(s, 403, "no perm-modify on /vms/101: {body}");
    let (s, _) = api
        .call(&pa, M::PUT, "/pools", &[("poolid", "p2"), ("vms", "100")])
        .await;
    assert_eq!(s, 403, "no Pool.Allocate on p2");
    let (s, body) = api
        .call(
            &admin,
            M::PUT,
            "/pools",
            &[("poolid", "p2"), ("vms", "100")],
        )
        .await;
    assert_eq!(s, 500, "VM 100 is in p1, no allow-move: {body}");
    let (s, _) = api
        .call(
            &admin,
            M::PUT,
            "/pools",
            &[("poolid", "p2"), ("vms", "100"), ("allow-move", "1")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = api
        .call(&admin, M::PUT, "/pools", &[("poolid", "p2"), ("vms", "99")])
        .await;
    assert_eq!(s, 400);
    assert!(body["errors"]["vms"].is_string(), "{body}");

    let (s, body) = api.call(&admin, M::GET, "/pools/p2", &[]).await;
    assert_eq!(s, 200);
    let vmids: Vec<&Value> = body["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["vmid"])
        .collect();
    assert_eq!(vmids, [&serde_json::json!(100), &serde_json::json!(103)]);

    let (s, body) = api
        .call(&admin, M::DELETE, "/pools", &[("poolid", "p2")])
        .await;
    assert_eq!(s, 500, "not empty: {body}");
    let (s, _) = api
        .call(
            &token("plain@pve!tk"),
            M::POST,
            "/pools",
            &[("poolid", "p3")],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = api
        .call(&admin, M::POST, "/pools", &[("poolid", "p3")])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(&admin, M::DELETE, "/pools", &[("poolid", "p3")])
        .await;
    assert_eq!(s, 200);
    assert!(!user_cfg(&api).contains("pool:p3"));

    // The deprecated aliases take `poolid` from the path.
    let (s, _) = api
        .call(&admin, M::POST, "/pools", &[("poolid", "p4")])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(&admin, M::PUT, "/pools/p4", &[("comment", "four")])
        .await;
    assert_eq!(s, 200);
    assert!(
        user_cfg(&api).contains("pool:p4:four:"),
        "{}",
        user_cfg(&api)
    );
    let (s, _) = api.call(&pa, M::DELETE, "/pools/p4", &[]).await;
    assert_eq!(s, 403, "no Pool.Allocate on p4");
    let (s, _) = api.call(&admin, M::DELETE, "/pools/p4", &[]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn password_refuses_tokens() {
    let api = start().await;
    let form = [("userid", "admin@pve"), ("password", "long enough pw")];
    for who in ["admin@pve!all", "plain@pve!tk"] {
        let (s, body) = api
            .call(&token(who), M::PUT, "/access/password", &form)
            .await;
        assert_eq!(s, 403, "{who}: allowtoken=0: {body}");
    }
    assert!(!api.state().join("priv/shadow.cfg").exists());
}

#[tokio::test]
async fn domains_admin() {
    let api = start().await;
    let admin = token("admin@pve!all");
    let ldap = [
        ("realm", "corp"),
        ("type", "ldap"),
        ("server1", "ldap.example.com"),
        ("base_dn", "dc=example,dc=com"),
        ("user_attr", "uid"),
        ("password", "bind-secret"),
        ("comment", "Corp"),
    ];
    let (s, _) = api
        .call(&token("plain@pve!tk"), M::POST, "/access/domains", &ldap)
        .await;
    assert_eq!(s, 403);
    let (s, body) = api.call(&admin, M::POST, "/access/domains", &ldap).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = api.call(&admin, M::GET, "/access/domains/corp", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        (&body["data"]["type"], &body["data"]["server1"]),
        (
            &serde_json::json!("ldap"),
            &serde_json::json!("ldap.example.com")
        )
    );
    assert!(
        !body.to_string().contains("bind-secret"),
        "bind password never returned"
    );
    let (s, _) = api
        .call(
            &admin,
            M::PUT,
            "/access/domains/corp",
            &[("comment", "C2"), ("delete", "password")],
        )
        .await;
    assert_eq!(s, 200);
    assert!(!api.state().join("priv/realm/corp.pw").exists());
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/domains",
            &[("realm", "xy"), ("type", "pve")],
        )
        .await;
    assert_eq!(s, 500, "{body}");
    let (s, body) = api
        .call(
            &admin,
            M::POST,
            "/access/domains",
            &[("realm", "xy"), ("type", "nope")],
        )
        .await;
    assert_eq!(s, 400);
    assert!(body["errors"]["type"].is_string(), "{body}");
    let (s, _) = api
        .call(&admin, M::DELETE, "/access/domains/pam", &[])
        .await;
    assert_eq!(s, 500);
    let (s, _) = api
        .call(&admin, M::DELETE, "/access/domains/corp", &[])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.call(&admin, M::GET, "/access/domains/corp", &[]).await;
    assert_eq!(s, 500);
}
