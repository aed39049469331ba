//! A client generated from Proxmox's API schema (`tests/fixtures/clients/pve_schema_client.py`
//! over `pve_access_schema.json`, cut from pve-docs' `apidata.js`) administers users, groups,
//! tokens, roles, pools, ACL entries, TFA entries and realms through the gateway over TLS
//! (`pve_schema_check.py`). It sends only what the `parameters` schemas allow, every parameter
//! they define for the write calls, and refuses any answer its `returns` schema refuses; reads
//! must give back what was written. Pool members come from the Proxmox stand-in's
//! `/cluster/resources` (tests/fixtures/clients/pve_upstream.py).

mod login_support;

use std::collections::BTreeSet;

use aclgate::access::AclPath;
use aclgate::auth::ticket::{Binding, ShortLivedKind, epoch_now};
use aclgate::identity::Authid;
use serde_json::Value;

use login_support::{Fixture, PyUpstream, clients_fixture, python};

/// Endpoints of the schema the check does not call, and why.
const NOT_CALLED: [(&str, &str); 3] = [
    (
        "POST /access/openid/auth-url",
        "needs an OpenID provider: tests/realm_openid.rs",
    ),
    (
        "POST /access/openid/login",
        "needs an OpenID provider: tests/realm_openid.rs",
    ),
    (
        "POST /access/domains/{realm}/sync",
        "needs an LDAP server: tests/realm_sync.rs",
    ),
];

#[tokio::test]
async fn a_client_generated_from_proxmox_schema_accepts_every_answer() {
    let upstream = PyUpstream::start();
    let fx = Fixture::new("").await;
    let url = upstream.url();
    let gw = fx.start_with(|c| c.upstream.url = url).await;
    let ca = fx.dir.path().join("certs/c.crt");
    let host = format!("127.0.0.1:{}", gw.addr.port());
    let root: Authid = "root@pam".parse().unwrap();
    let ticket = gw
        .services
        .tickets
        .issue(&"root@pam".parse().unwrap(), epoch_now())
        .unwrap()
        .ticket;
    let path = AclPath::normalize("/vms/100").unwrap();
    let binding = Binding {
        authid: &root,
        path: path.as_str(),
        port: None,
    };
    let vnc = gw
        .services
        .tickets
        .issue_short_lived(ShortLivedKind::Vnc, binding, epoch_now())
        .unwrap();
    let schema = clients_fixture("pve_access_schema.json");

    let mut cmd = std::process::Command::new(python());
    cmd.arg(clients_fixture("pve_schema_check.py")).args([
        host.as_str(),
        ca.to_str().unwrap(),
        &ticket,
        &vnc,
        schema.to_str().unwrap(),
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: Vec<&Value> = steps.iter().filter(|s| s["pass"] != true).collect();
    assert!(failed.is_empty(), "failed steps:\n{failed:#?}");
    assert_eq!(steps.len(), 13, "{stdout}");

    // Every endpoint of the schema was called, but the few that need an outside server.
    let text = std::fs::read_to_string(&schema).unwrap();
    let all: BTreeSet<String> = serde_json::from_str::<Value>(&text).unwrap()["endpoints"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let called: BTreeSet<String> = steps.last().unwrap()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    let skipped: BTreeSet<String> = NOT_CALLED.iter().map(|(e, _)| (*e).to_owned()).collect();
    let missing: Vec<&String> = all
        .difference(&called)
        .filter(|e| !skipped.contains(*e))
        .collect();
    assert!(missing.is_empty(), "endpoints never called: {missing:?}");
    assert!(called.is_disjoint(&skipped));
    // The one answer not checked against `returns`: where Proxmox's code leaves its schema.
    let unchecked: Vec<&str> = steps.last().unwrap()["unchecked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[0].as_str().unwrap())
        .collect();
    assert_eq!(unchecked, ["GET /access/users/{userid}/tfa"]);
    gw.shutdown().await;
}
