//! Several APIs behind one gateway: two policy files to two named upstreams with path-prefix
//! rewriting; a service credential from a 0600 file replaces the client's credentials (and is
//! refused when the file is readable by others); a route naming an unknown upstream, and two
//! files with the same route, are load errors naming them.

mod gateway_support;
mod upstream_support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use aclgate::config::gateway::GatewayConfig;
use aclgate::snapshot::Snapshot;
use gateway_support::Gateway;
use upstream_support::{Node, cluster, policy};

const GRAFANA: &str = r#"
upstream = "grafana"
prefix = "/grafana/api"
strip_prefix = "/grafana"

[[route]]
method = "GET"
path = "/dashboards/{uid}"
user = "all"
"#;

const PVE: &str = r#"
upstream = "pve"
prefix = "/pve/api2/json"
strip_prefix = "/pve"
add_prefix = "/backend"

[[route]]
method = "GET"
path = "/nodes/{node}/qemu/{vmid}/status/current"
check = ["perm", "/vms/{vmid}", ["VM.Audit"]]

[[route]]
method = "GET"
path = "/nodes"
"#;

const SERVICE_TOKEN: &str = "PVEAPIToken=svc@pve!gw=0b9a7e5c-1111-4222-8333-444455556666";

#[tokio::test]
async fn two_files_two_upstreams_prefixes_and_a_service_credential() {
    let (grafana, pve) = (Node::start("grafana"), Node::start("pve"));
    let dir = tempfile::tempdir().unwrap();
    let files = [
        policy(dir.path(), "grafana.toml", GRAFANA),
        policy(dir.path(), "pve.toml", PVE),
    ];
    let secret = dir.path().join("pve-service-token");
    std::fs::write(&secret, format!("{SERVICE_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut pve_upstream = cluster("pve", &[&pve], false);
    pve_upstream.authorization_file = Some(secret.clone());
    let grafana_upstream = cluster("grafana", &[&grafana], false);
    let gw = Gateway::start_with(move |c| {
        c.policies.extend(files);
        c.upstreams = vec![pve_upstream, grafana_upstream];
    })
    .await;
    let client = gw.client();
    let client_token = Gateway::token_header("joe@pve!full");
    let get = |path: &str| {
        client
            .get(gw.url(path))
            .header("authorization", &client_token)
            .send()
    };

    let resp = get("/grafana/api/dashboards/abc").await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = get("/pve/api2/json/nodes/n1/qemu/100/status/current")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Root-only route: denied, never forwarded.
    let resp = get("/pve/api2/json/nodes").await.unwrap();
    assert_eq!(resp.status(), 403);
    // The default upstream (the fixture's echo server) still serves the fixture's policy.
    let resp = get("/api2/json/version").await.unwrap();
    assert_eq!(resp.status(), 200);

    let seen = grafana.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], "/api/dashboards/abc");
    assert_eq!(
        seen[0]["authorization"],
        serde_json::Value::Null,
        "client token stripped"
    );
    assert_eq!(seen[0]["identity"], "joe@pve!full");
    let seen = pve.requests();
    assert_eq!(seen.len(), 1, "the denied route never reached it: {seen:?}");
    assert_eq!(
        seen[0]["path"],
        "/backend/api2/json/nodes/n1/qemu/100/status/current"
    );
    assert_eq!(
        seen[0]["authorization"], SERVICE_TOKEN,
        "the service token only"
    );
    let metrics = upstream_support::metrics(gw.admin).await;
    assert!(!metrics.contains("0b9a7e5c"), "service token in /metrics");
}

/// A snapshot over the fixture-less config `tweak` makes.
fn load(tweak: impl FnOnce(&mut GatewayConfig, &std::path::Path)) -> Result<Snapshot, String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    gateway_support::write_atomic(&root.join("state/user.cfg"), gateway_support::USER_CFG);
    let cert = root.join("cert.pem");
    let key = root.join("key.pem");
    aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
    let mut cfg = GatewayConfig::default();
    cfg.state.dir = root.join("state");
    cfg.tls.cert = cert;
    cfg.tls.key = key;
    cfg.policies = Vec::new();
    tweak(&mut cfg, root);
    Snapshot::load(Arc::new(cfg), 1).map_err(|e| e.to_string())
}

#[test]
fn a_credential_file_others_can_read_is_refused_without_echoing_it() {
    let err = load(|c, root| {
        let secret = root.join("token");
        std::fs::write(&secret, SERVICE_TOKEN).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut u = cluster("pve", &[], false);
        u.endpoints = vec!["http://127.0.0.1:9".to_owned()];
        u.authorization_file = Some(secret);
        c.upstreams.push(u);
    })
    .unwrap_err();
    assert!(err.contains("0600"), "{err}");
    assert!(!err.contains("0b9a7e5c"), "{err}");
    let ok = load(|c, _| {
        // SAFETY: this test's own variable; no other test reads or writes it.
        unsafe { std::env::set_var("UPSTREAM_ROUTING_TEST_TOKEN", SERVICE_TOKEN) };
        let mut u = cluster("pve", &[], false);
        u.endpoints = vec!["http://127.0.0.1:9".to_owned()];
        u.authorization_env = Some("UPSTREAM_ROUTING_TEST_TOKEN".to_owned());
        c.upstreams.push(u);
    })
    .unwrap();
    let cred = ok.service_credentials.get("pve").unwrap();
    assert_eq!(cred.value, SERVICE_TOKEN);
    assert!(
        !format!("{ok:?}").contains("0b9a7e5c"),
        "credential in Debug"
    );
}

#[test]
fn unknown_upstreams_and_overlapping_files_are_load_errors() {
    let err = load(|c, root| {
        let named = GRAFANA.replace("upstream = \"grafana\"", "upstream = \"nope\"");
        c.policies = vec![policy(root, "x.toml", &named)];
    })
    .unwrap_err();
    assert!(err.contains("unknown upstream `nope`"), "{err}");
    assert!(err.contains("x.toml"), "{err}");

    let err = load(|c, root| {
        c.upstreams = vec![cluster("grafana", &[], false), cluster("pve", &[], false)];
        for u in &mut c.upstreams {
            u.endpoints = vec!["http://127.0.0.1:9".to_owned()];
        }
        let other = GRAFANA.replace("upstream = \"grafana\"", "upstream = \"pve\"");
        c.policies = vec![
            policy(root, "one.toml", GRAFANA),
            policy(root, "two.toml", &other),
        ];
    })
    .unwrap_err();
    assert!(
        err.contains("one.toml") && err.contains("two.toml"),
        "{err}"
    );

    let err = load(|c, root| {
        let bad = GRAFANA.replace("strip_prefix = \"/grafana\"", "strip_prefix = \"/other\"");
        c.policies = vec![policy(root, "bad.toml", &bad)];
    })
    .unwrap_err();
    assert!(err.contains("does not start with strip_prefix"), "{err}");
}
