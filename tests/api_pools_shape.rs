//! `GET /pools/{poolid}` and `GET /pools?poolid=` members in Proxmox's shape, taken from the
//! upstream's `/cluster/resources` (the Proxmox stand-in `tests/fixtures/clients/
//! pve_upstream.py`: qemu/100 and lxc/101 on node pve1, storage `local`), checked against the
//! member schema of Proxmox's API (pve-manager `PVE/API2/Pool.pm`: `type` in qemu, lxc,
//! openvz, storage; `id` and `node` strings; optional integer `vmid`, optional `storage`).

mod api_support;
mod gateway_support;

use std::io::BufRead;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use api_support::Api;

/// `tests/fixtures/clients/pve_upstream.py` (Python's standard library only); killed on
/// drop. Every request it gets is logged as one JSON line.
struct PyUpstream {
    child: std::process::Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl PyUpstream {
    fn start() -> PyUpstream {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} missing: run scripts/test.sh",
            python.display()
        );
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = std::process::Command::new("python3")
            .arg(root.join("tests/fixtures/clients/pve_upstream.py"))
            .arg(log.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("upstream said {line:?}"));
        PyUpstream { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log.path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for PyUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const USER_CFG: &str = "\
user:root@pam:1:0:::::
user:aud@pve:1:0:::::
pool:p1:lab:100,101,999:local,gone:
acl:1:/pool/p1:aud@pve:PVEPoolUser:
";

/// The member schema of Proxmox's API, as a client generated from it checks each item.
fn schema_valid(member: &Value) -> Result<(), String> {
    let obj = member.as_object().ok_or("not an object")?;
    match obj.get("type").and_then(Value::as_str) {
        Some("qemu" | "lxc" | "openvz" | "storage") => {}
        other => return Err(format!("type {other:?} not in the enum")),
    }
    for required in ["id", "node"] {
        if !obj.get(required).is_some_and(Value::is_string) {
            return Err(format!("`{required}` missing or not a string"));
        }
    }
    if obj.get("vmid").is_some_and(|v| !v.is_u64()) {
        return Err("`vmid` not an integer".into());
    }
    if obj.get("storage").is_some_and(|v| !v.is_string()) {
        return Err("`storage` not a string".into());
    }
    Ok(())
}

fn ids(members: &Value) -> Vec<&str> {
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn members_come_from_the_cluster_resources_in_proxmox_shape() {
    let upstream = PyUpstream::start();
    let url = upstream.url();
    let api = Api::start_with(USER_CFG, &[], &[], move |cfg| cfg.upstream.url = url).await;
    let aud = api.ticket("aud@pve");

    let (status, body) = api.call_as(&aud, Method::GET, "/pools/p1", &[]).await;
    assert_eq!(status, 200, "{body}");
    let members = &body["data"]["members"];
    // 999 and `gone` are not in the cluster: left out, as Proxmox does.
    assert_eq!(
        ids(members),
        ["qemu/100", "lxc/101", "storage/pve1/local"],
        "{body}"
    );
    for m in members.as_array().unwrap() {
        schema_valid(m).unwrap_or_else(|e| panic!("{e}: {m}"));
    }
    assert_eq!(members[0]["vmid"], 100);
    assert_eq!(members[0]["node"], "pve1");
    assert_eq!(
        members[0]["name"], "vm100",
        "the resource's other fields come along"
    );
    assert_eq!(members[1]["type"], "lxc");
    assert_eq!(members[2]["storage"], "local");
    assert_eq!(body["data"]["comment"], "lab");

    for (kind, want) in [
        ("qemu", vec!["qemu/100"]),
        ("lxc", vec!["lxc/101"]),
        ("storage", vec!["storage/pve1/local"]),
    ] {
        let (status, body) = api
            .call_as(&aud, Method::GET, "/pools/p1", &[("type", kind)])
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body["data"]["members"]), want, "type={kind}");
    }

    let (status, body) = api
        .call_as(&aud, Method::GET, "/pools", &[("poolid", "p1")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body["data"][0]["members"]),
        ["qemu/100", "lxc/101", "storage/pve1/local"],
        "{body}"
    );

    // Asked as the caller, with no client credential.
    let asked: Vec<Value> = upstream
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/cluster/resources")
        .collect();
    assert!(!asked.is_empty());
    for r in &asked {
        assert_eq!(r["authid"], "aud@pve", "{r}");
        assert_eq!(r["credential"], false, "{r}");
    }
}

#[tokio::test]
async fn without_an_upstream_answer_members_keep_aclgates_shape() {
    // The harness' upstream answers `/cluster/resources` with no list.
    let api = Api::start(USER_CFG, &[], &[]).await;
    let root = api.ticket("root@pam");
    let (status, body) = api.call_as(&root, Method::GET, "/pools/p1", &[]).await;
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
    let (status, body) = api
        .call_as(&root, Method::GET, "/pools/p1", &[("type", "bogus")])
        .await;
    assert_eq!(status, 400, "{body}");
}
