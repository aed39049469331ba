//! `GET /access/aclgate/why` over TLS, the answer the web interface's Why? panel shows: the
//! deciding ACL node and entries, the role behind each privilege, the superuser, a
//! privilege-separated token's own entries, a user entry's `NoAccess` beating a group's role,
//! and the policy's decision for a request with its reason.

mod ui_support;

use serde_json::Value;

use ui_support::Gui;

const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:admin@pve:1:0:::::
user:joe@pve:1:0:::::
token:admin@pve!sep:0:1::
group:g:joe@pve::

acl:1:/:admin@pve:Administrator:
acl:1:/vms:@g:PVEVMAdmin:
acl:1:/vms/100:joe@pve:NoAccess:
acl:1:/vms:admin@pve!sep:PVEAuditor:
";

async fn why(gui: &Gui, ticket: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let resp = gui
        .client()
        .get(gui.api_url("/access/aclgate/why"))
        .query(query)
        .header("Cookie", format!("PVEAuthCookie={ticket}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn ticket(gui: &Gui, user: &str, password: &str) -> String {
    let resp = gui
        .client()
        .post(gui.api_url("/access/ticket"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    v["data"]["ticket"].as_str().unwrap().to_owned()
}

fn privileges(v: &Value) -> Vec<(String, Vec<String>)> {
    v["data"]["privileges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let roles = p["roles"].as_array().unwrap();
            (
                p["privilege"].as_str().unwrap().to_owned(),
                roles
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn why_names_node_entries_roles_and_the_policy_decision() {
    let gui = Gui::start(USER_CFG, &[("admin", "admin-pw-1"), ("joe", "joe-pw-123")]).await;
    let admin = ticket(&gui, "admin@pve", "admin-pw-1").await;

    // root@pam holds everything, with no ACL entry involved.
    let (status, v) = why(&gui, &admin, &[("authid", "root@pam"), ("path", "/vms/1")]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["superuser"], true);
    assert!(v["data"]["decided-at"].is_null());

    // A privsep token: its own entry at /vms decides, inherited on /vms/100.
    let (_, v) = why(
        &gui,
        &admin,
        &[("authid", "admin@pve!sep"), ("path", "/vms/100")],
    )
    .await;
    let d = &v["data"]["decided-at"];
    assert_eq!(
        (d["path"].as_str(), d["kind"].as_str()),
        (Some("/vms"), Some("token")),
        "{v}"
    );
    assert_eq!(d["exact"], false);
    assert_eq!(v["data"]["entries"][0]["roleid"], "PVEAuditor");
    let privs = privileges(&v);
    assert!(
        privs.contains(&("VM.Audit".to_owned(), vec!["PVEAuditor".to_owned()])),
        "{v}"
    );

    // joe: the group's PVEVMAdmin on /vms, but his own NoAccess on /vms/100 wins there.
    let (_, v) = why(&gui, &admin, &[("authid", "joe@pve"), ("path", "/vms/101")]).await;
    assert_eq!(v["data"]["decided-at"]["kind"], "group", "{v}");
    assert_eq!(v["data"]["entries"][0]["ugid"], "@g");
    assert!(
        privileges(&v)
            .iter()
            .all(|(_, r)| r == &["PVEVMAdmin".to_owned()])
    );
    let query = [
        ("authid", "joe@pve"),
        ("path", "/vms/100"),
        ("method", "POST"),
        ("uri", "/nodes/n1/qemu/100/status/start"),
    ];
    let (_, v) = why(&gui, &admin, &query).await;
    assert_eq!(v["data"]["decided-at"]["kind"], "user", "{v}");
    assert_eq!(v["data"]["decided-at"]["exact"], true);
    assert_eq!(v["data"]["roles"][0]["role"], "NoAccess");
    assert!(privileges(&v).is_empty(), "{v}");
    let policy = &v["data"]["policy"];
    assert_eq!(policy["allow"], false, "{policy}");
    assert!(
        policy["reason"].as_str().unwrap().contains("VM.PowerMgmt"),
        "{policy}"
    );
    assert!(
        policy["route"].as_str().unwrap().contains("/status/start"),
        "{policy}"
    );

    // Bad input is a 400; someone else's answer needs Sys.Audit on /access.
    let (status, _) = why(&gui, &admin, &[("path", "/a b")]).await;
    assert_eq!(status, 400);
    let joe = ticket(&gui, "joe@pve", "joe-pw-123").await;
    let (status, _) = why(&gui, &joe, &[("authid", "admin@pve")]).await;
    assert_eq!(status, 403);
    let (status, v) = why(&gui, &joe, &[("path", "/vms/101")]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["authid"], "joe@pve");
}
