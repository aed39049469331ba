//! aclgate in front of a Proxmox VE that demands its own API token: the upstream
//! (tests/fixtures/clients/pve_upstream.py with PVE_REQUIRE_AUTHORIZATION) answers 401 to
//! anything but `PVEAPIToken=svc@pve!gw=...`. The `default` upstream carries that service token
//! from a 0600 file. Unmodified prometheus-pve-exporter and proxmoxer (from `.venv`) use
//! aclgate tokens and tickets; the upstream sees only the service token, never a client's
//! credential, and refused calls never reach it.

mod login_support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command};
use std::time::Duration;

use aclgate::config::upstreams::NamedUpstream;
use login_support::{Fixture, PyUpstream, Running, clients_fixture, python, secret_of};

const SERVICE_TOKEN: &str = "PVEAPIToken=svc@pve!gw=5f1c2d3e-aaaa-4bbb-8ccc-0123456789ab";

/// The `default` upstream at `url` with the service token file written under `dir`.
fn fronted(url: String, dir: &std::path::Path) -> NamedUpstream {
    let file = dir.join("pve-service-token");
    std::fs::write(&file, SERVICE_TOKEN).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut u = NamedUpstream::from_single(&Default::default());
    u.endpoints = vec![url];
    u.authorization_file = Some(file);
    u
}

fn upstream() -> PyUpstream {
    PyUpstream::start_with_env(&[("PVE_REQUIRE_AUTHORIZATION", SERVICE_TOKEN)])
}

/// Every request reached the upstream with the service token and nothing else.
fn only_service_token(upstream: &PyUpstream, client_secret: &str) {
    let seen = upstream.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(r["authorization"], SERVICE_TOKEN, "{r}");
        assert!(
            !r.to_string().contains(client_secret),
            "client secret reached: {r}"
        );
    }
}

/// The exporter process, stopped (SIGTERM to the gunicorn master) on drop.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn exporter_scrapes_a_token_demanding_pve_with_an_aclgate_token() {
    let upstream = upstream();
    let fx = Fixture::new("").await;
    let target = fronted(upstream.url(), fx.dir.path());
    let pve_toml = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/pve.toml");
    let gw: Running = fx
        .start_with(|c| {
            c.upstreams = vec![target];
            c.policies = vec![pve_toml];
        })
        .await;
    let config = fx.dir.path().join("pve.yml");
    let template = std::fs::read_to_string(clients_fixture("pve.yml.in")).unwrap();
    let client_secret = secret_of("joe@pve!monitoring");
    std::fs::write(&config, template.replace("@TOKEN@", &client_secret)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut exporter = Exporter(
        Command::new(python().with_file_name("pve_exporter"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--no-collector.status",
                "--no-collector.node",
                "--no-collector.cluster",
                "--no-collector.backup-info",
                "--no-collector.qdevice",
            ])
            .spawn()
            .unwrap(),
    );
    // The exporter prints nothing machine-readable: wait for its port.
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        assert!(
            exporter.0.try_wait().unwrap().is_none(),
            "pve_exporter exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "pve_exporter did not listen");

    let scrape = format!(
        "http://127.0.0.1:{port}/pve?target=127.0.0.1:{}&module=default&cluster=1&node=0",
        gw.addr.port()
    );
    let resp = reqwest::get(&scrape).await.unwrap();
    let status = resp.status();
    let metrics = resp.text().await.unwrap();
    assert_eq!(status, 200, "scrape: {metrics}");
    assert!(
        metrics.contains("pve_memory_usage_bytes{id=\"qemu/100\"} 1.073741824e+09"),
        "{metrics}"
    );
    only_service_token(&upstream, &client_secret);
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r["authid"] == "joe@pve!monitoring"),
        "the identity header names the aclgate token"
    );
    drop(exporter);
    gw.shutdown().await;
}

#[tokio::test]
async fn proxmoxer_uses_aclgate_credentials_the_upstream_sees_the_service_token() {
    let upstream = upstream();
    let fx = Fixture::new("").await;
    let target = fronted(upstream.url(), fx.dir.path());
    let gw = fx.start_with(|c| c.upstreams = vec![target]).await;
    let ca = fx.dir.path().join("certs/c.crt");
    let host = format!("127.0.0.1:{}", gw.addr.port());
    let client_secret = secret_of("joe@pve!monitoring");
    let mut cmd = Command::new(python());
    cmd.arg(clients_fixture("proxmoxer_flows.py")).args([
        host.as_str(),
        ca.to_str().unwrap(),
        &client_secret,
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"))
    };
    for ok in ["ticket_get", "ticket_post", "token_get"] {
        assert_eq!(step(ok)["ok"], true, "{ok}: {stdout}");
    }
    assert_eq!(step("token_post")["status"], 403, "{stdout}");

    only_service_token(&upstream, &client_secret);
    let reached: Vec<(String, String)> = upstream
        .requests()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["authid"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let want = [
        ("GET", "joe@pve"),
        ("POST", "joe@pve"),
        ("GET", "joe@pve!monitoring"),
    ]
    .map(|(m, a)| (m.to_owned(), a.to_owned()));
    assert_eq!(reached, want, "only the allowed calls reached the upstream");
    gw.shutdown().await;
}
