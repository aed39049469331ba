//! prometheus-pve-exporter (its `pve_exporter` CLI from `.venv`, config file with token auth
//! and `verify_ssl: false`) scrapes a Proxmox stand-in through the gateway with the shipped
//! policies/pve.toml, using the documentation's monitoring setup: joe@pve has PVEVMAdmin on
//! /vms, his privilege-separated token `monitoring` has PVEAuditor on /vms. The scrape yields
//! `pve_*` metrics; the same token is refused a write.

mod login_support;

use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use login_support::{Fixture, PyUpstream, Running, python, secret_of};

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

/// Collectors off for a token without Sys.Audit on `/`.
const SLIM: [&str; 5] = [
    "--no-collector.status",
    "--no-collector.node",
    "--no-collector.cluster",
    "--no-collector.backup-info",
    "--no-collector.qdevice",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until the exporter accepts connections on `port` (it prints nothing machine-readable);
/// its exit status if it exited first (the port was taken before it could bind it).
async fn wait_listening(port: u16, exporter: &mut Exporter) -> Result<(), ExitStatus> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = exporter.0.try_wait().unwrap() {
            return Err(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pve_exporter did not listen on {port}");
}

#[tokio::test]
async fn exporter_scrapes_through_the_gateway_with_an_auditor_token() {
    let upstream = PyUpstream::start();
    let fx = Fixture::new("").await;
    let url = upstream.url();
    let pve_toml = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/pve.toml");
    let gw: Running = fx
        .start_with(|c| {
            c.upstream.url = url;
            c.policies = vec![pve_toml];
        })
        .await;

    let config = fx.dir.path().join("pve.yml");
    let template = std::fs::read_to_string(login_support::clients_fixture("pve.yml.in")).unwrap();
    std::fs::write(
        &config,
        template.replace("@TOKEN@", &secret_of("joe@pve!monitoring")),
    )
    .unwrap();
    let bin = python().with_file_name("pve_exporter");
    // A port picked here can be taken before the exporter binds it: then it exits, and is
    // started again on a fresh port (up to three times).
    let mut attempt = 1;
    let (port, exporter) = loop {
        let port = free_port();
        let mut exporter = Exporter(
            Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                // The collectors that read `/cluster/status` or `/cluster/backup-info` need
                // Sys.Audit on `/`, which this token does not have (in Proxmox neither).
                .args(SLIM)
                .spawn()
                .unwrap(),
        );
        match wait_listening(port, &mut exporter).await {
            Ok(()) => break (port, exporter),
            Err(status) if attempt < 3 => {
                eprintln!("pve_exporter exited at start ({status}); again on a fresh port");
                attempt += 1;
            }
            Err(status) => panic!("pve_exporter exited early, three times: {status}"),
        }
    };

    let scrape = format!(
        "http://127.0.0.1:{port}/pve?target=127.0.0.1:{}&module=default&cluster=1&node=0",
        gw.addr.port()
    );
    let resp = reqwest::get(&scrape).await.unwrap();
    let status = resp.status();
    let metrics = resp.text().await.unwrap();
    assert_eq!(status, 200, "scrape: {metrics}");
    for want in [
        "pve_version_info{",
        "pve_memory_usage_bytes{id=\"qemu/100\"} 1.073741824e+09",
        "pve_cpu_usage_ratio{id=\"qemu/100\"} 0.05",
    ] {
        assert!(metrics.contains(want), "missing `{want}` in:\n{metrics}");
    }
    let seen = upstream.requests();
    assert!(
        seen.iter().all(|r| r["authid"] == "joe@pve!monitoring"),
        "every scrape request reached the upstream as the token: {seen:?}"
    );
    assert!(
        seen.iter().any(|r| r["path"] == "/cluster/resources"),
        "{seen:?}"
    );

    // The same token may not write.
    let before = upstream.requests().len();
    let resp = gw
        .client()
        .post(gw.url("/api2/json/nodes/pve1/qemu/100/status/start"))
        .header(
            "authorization",
            login_support::gw::Gateway::token_header("joe@pve!monitoring"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        upstream.requests().len(),
        before,
        "the write never reached the upstream"
    );
    drop(exporter);
    gw.shutdown().await;
}
