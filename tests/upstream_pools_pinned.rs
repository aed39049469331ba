//! Pool members in Proxmox's shape when the upstream is a Proxmox VE stand-in over HTTPS,
//! trusted only by its pinned certificate fingerprint, that answers 401 to anything but the
//! gateway's service token (tests/fixtures/clients/pve_upstream.py with PVE_TLS_CERT and
//! PVE_REQUIRE_AUTHORIZATION): the `/cluster/resources` lookup goes through the upstream's own
//! transport and carries its service credential. With a wrong pin nothing is asked and the
//! members keep aclgate's shape.

mod api_support;
mod login_support;

use login_support::gw as gateway_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aclgate::config::upstreams::NamedUpstream;
use api_support::Api;
use login_support::PyUpstream;
use reqwest::Method;
use serde_json::Value;
use sha2::Digest;

const SERVICE_TOKEN: &str = "PVEAPIToken=svc@pve!gw=0d9c8b7a-1111-4222-8333-444455556666";

const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:aud@pve:1:0:::::
pool:p1:lab:100,101,999:local,gone:
acl:1:/pool/p1:aud@pve:PVEPoolUser:
";

/// The stand-in over HTTPS with `cert` and `key`, demanding the service token.
fn pve(cert: &Path, key: &Path) -> PyUpstream {
    PyUpstream::start_with_env(&[
        ("PVE_REQUIRE_AUTHORIZATION", SERVICE_TOKEN),
        ("PVE_TLS_CERT", cert.to_str().unwrap()),
        ("PVE_TLS_KEY", key.to_str().unwrap()),
    ])
}

/// The `/cluster/resources` requests `pve` got.
fn asked(pve: &PyUpstream) -> Vec<Value> {
    (pve.requests().into_iter())
        .filter(|r| r["path"] == "/cluster/resources")
        .collect()
}

/// A certificate pair under `dir` and the SHA-256 fingerprint of the certificate.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    aclgate::server::tls::ensure_self_signed(&cert, &key).unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    let fingerprint = hex::encode(sha2::Sha256::digest(der.as_ref()));
    (cert, key, fingerprint)
}

/// The `default` upstream: the stand-in, pinned to `fingerprint`, with the service token.
fn pinned(port: u16, fingerprint: String, dir: &Path) -> NamedUpstream {
    let file = dir.join("service-token");
    std::fs::write(&file, SERVICE_TOKEN).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut u = NamedUpstream::from_single(&Default::default());
    u.endpoints = vec![format!("https://127.0.0.1:{port}")];
    u.fingerprint = Some(fingerprint);
    u.authorization_file = Some(file);
    u
}

fn ids(members: &Value) -> Vec<&str> {
    (members.as_array().unwrap().iter())
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn members_come_through_a_pinned_upstream_that_demands_the_service_token() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, fingerprint) = certificate(dir.path(), "pve");
    let pve = pve(&cert, &key);
    let upstream = pinned(pve.port, fingerprint, dir.path());
    let api = Api::start_with(USER_CFG, &[], &[], move |c| c.upstreams = vec![upstream]).await;
    let aud = api.ticket("aud@pve");

    let (status, body) = api.call_as(&aud, Method::GET, "/pools/p1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body["data"]["members"]),
        ["qemu/100", "lxc/101", "storage/pve1/local"],
        "Proxmox's shape, from the upstream: {body}"
    );
    assert_eq!(body["data"]["members"][0]["node"], "pve1");

    let asked = asked(&pve);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["authorization"], SERVICE_TOKEN);
    assert_eq!(
        asked[0]["authid"], "aud@pve",
        "asked on the caller's behalf"
    );
}

#[tokio::test]
async fn a_wrong_pin_asks_nothing_and_members_keep_aclgates_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path(), "pve");
    let (_, _, other) = certificate(dir.path(), "other");
    let pve = pve(&cert, &key);
    let upstream = pinned(pve.port, other, dir.path());
    let api = Api::start_with(USER_CFG, &[], &[], move |c| c.upstreams = vec![upstream]).await;
    let aud = api.ticket("aud@pve");

    let (status, body) = api.call_as(&aud, Method::GET, "/pools/p1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body["data"]["members"]),
        [
            "vms/100",
            "vms/101",
            "vms/999",
            "storage/gone",
            "storage/local"
        ],
        "{body}"
    );
    assert!(asked(&pve).is_empty(), "the TLS handshake failed first");
}
