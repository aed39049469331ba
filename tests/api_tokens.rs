//! The access API over TLS with a real client: a token created over the API works on the next
//! (forwarded) request, a deleted one is refused; 400 `errors` maps; user list filtering;
//! `PUT /access/acl` delegation rules.

mod gateway_support;

use std::sync::Arc;

use aclgate::access_api::ApiServices;
use aclgate::auth::throttle::Throttle;
use aclgate::auth::ticket::{TicketAuthority, TicketConfig};
use aclgate::config::StateDir;
use aclgate::config::gateway::GatewayConfig;
use aclgate::observe::Metrics;
use aclgate::reload;
use aclgate::server::{self, Listeners};
use gateway_support::{Upstream, secret_of, shadow_text, write_atomic};
use serde_json::Value;
use tokio::net::TcpListener;

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

const FORWARDED: &str = r#"
prefix = "/api2/json"
[[route]]
method = "GET"
path = "/version"
user = "all"
"#;

struct Api {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    upstream: Upstream,
    client: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_atomic(&root.join("state/user.cfg"), USER_CFG);
        write_atomic(&root.join("state/priv/token.shadow"), &shadow_text(&TOKENS));
        write_atomic(&root.join("policies/fwd.toml"), FORWARDED);
        let (cert, key) = (root.join("certs/c.crt"), root.join("certs/c.key"));
        aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
        let mut cfg = GatewayConfig::default();
        cfg.state.dir = root.join("state");
        cfg.policies = vec![
            root.join("policies/fwd.toml"),
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies/access.toml"),
        ];
        cfg.tls.cert = cert.clone();
        cfg.tls.key = key;
        cfg.upstream.url = format!("http://{}", upstream.addr);
        cfg.auth.failure_delay_ms = 0;
        let (reader, handle) = reload::start(Arc::new(cfg), Arc::new(Metrics::new())).unwrap();
        let state = StateDir::new(root.join("state"));
        let api = Arc::new(ApiServices {
            tickets: TicketAuthority::open(&state, 1_700_000_000, TicketConfig::default()).unwrap(),
            state,
            reload: handle,
            throttle: Throttle::new(Default::default()),
        });
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tls.local_addr().unwrap();
        let listeners = Listeners {
            tls: Some(tls),
            http: None,
            admin: None,
        };
        tokio::spawn(async move {
            server::run_with_api(listeners, reader, Some(api), std::future::pending())
                .await
                .unwrap();
        });
        let pem = std::fs::read(&cert).unwrap();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Api {
            _dir: dir,
            addr,
            upstream,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/api2/json{path}", self.addr.port())
    }

    async fn call(
        &self,
        auth: &str,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .header("Authorization", auth);
        req = if method == reqwest::Method::GET {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn token(id: &str) -> String {
    format!("PVEAPIToken={id}={}", secret_of(id))
}

use reqwest::Method as M;

#[tokio::test]
async fn token_created_over_the_api_works_then_deleted_is_refused() {
    let api = Api::start().await;
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
    let api = Api::start().await;
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
    let api = Api::start().await;
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
    assert_eq!(
        ids(&body),
        ["deleg@pve", "opsuser@pve"],
        "own user + members of ops"
    );
    let (_, body) = api
        .call(&token("plain@pve!tk"), M::GET, "/access/users", &[])
        .await;
    assert_eq!(ids(&body), ["plain@pve"], "only self");
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
    let api = Api::start().await;
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
    // NoAccess is never handed out by a delegated caller.
    assert_eq!(put("NoAccess", "/vms/100", "1").await.0, 403);
    // A role with privileges the caller lacks on the path.
    assert_eq!(put("Administrator", "/vms/100", "1").await.0, 403);
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
    // Unknown role: 400.
    let (s, _) = api
        .call(
            &token("admin@pve!all"),
            M::PUT,
            "/access/acl",
            &[("path", "/vms"), ("roles", "Nope"), ("users", "plain@pve")],
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn permissions_own_free_others_need_sys_audit() {
    let api = Api::start().await;
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
