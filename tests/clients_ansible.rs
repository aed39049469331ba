//! Ansible's `community.proxmox` modules (the collection bundled in PyPI's `ansible` package,
//! run by `ansible-playbook` from `.venv`, unmodified) manage groups, users, pools, pool
//! members and ACL entries through the gateway over TLS, trusting its certificate through
//! `REQUESTS_CA_BUNDLE` (`validate_certs: true`). The playbook
//! (tests/fixtures/clients/ansible_access.yml) makes each change twice: changed, then not
//! changed, so what the API answers must match what the modules asked for; then a
//! privilege-separated API token reads (filtered) and is refused a write. The gateway runs
//! with the shipped `policies/pve.toml` (the modules also read `/version`, `/storage` and
//! `/cluster/resources`, forwarded to the Proxmox stand-in tests/fixtures/clients/pve_upstream.py).

mod login_support;

use std::path::Path;

use aclgate::auth::ticket::epoch_now;

use login_support::{Fixture, PyUpstream, clients_fixture, python, secret_of};

#[tokio::test]
async fn community_proxmox_modules_manage_access_through_the_gateway() {
    let upstream = PyUpstream::start();
    let fx = Fixture::new("").await;
    let url = upstream.url();
    let pve = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/pve.toml");
    let access = fx.dir.path().join("policies/access.toml");
    let gw = fx
        .start_with(|c| {
            c.upstream.url = url;
            c.policies = vec![pve, access];
        })
        .await;
    let ticket = gw
        .services
        .tickets
        .issue(&"root@pam".parse().unwrap(), epoch_now())
        .unwrap()
        .ticket;
    let python = python();
    let playbook_bin = python.with_file_name("ansible-playbook");
    assert!(
        playbook_bin.exists(),
        "{} missing: run scripts/test.sh (installs `ansible`)",
        playbook_bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&playbook_bin)
        .args(["-i", "localhost,", "-c", "local"])
        .arg("-e")
        .arg(format!("ansible_python_interpreter={}", python.display()))
        .arg(clients_fixture("ansible_access.yml"))
        .env("PVE_HOST", "127.0.0.1")
        .env("PVE_PORT", gw.addr.port().to_string())
        .env("PVE_TICKET", &ticket)
        .env("PVE_TOKEN_SECRET", secret_of("joe@pve!monitoring"))
        .env("REQUESTS_CA_BUNDLE", fx.dir.path().join("certs/c.crt"))
        .env("ANSIBLE_HOME", home.path())
        .env("ANSIBLE_LOCAL_TEMP", home.path().join("tmp"))
        .env("ANSIBLE_REMOTE_TMP", home.path().join("remote"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("LC_ALL", "C.UTF-8");
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
    // 31 tasks (a loop counts once), 14 of them changes; nothing failed or skipped.
    assert!(
        stdout.contains("ok=31   changed=14   unreachable=0    failed=0    skipped=0"),
        "{stdout}"
    );

    // Everything the playbook made it also removed, ACL entries of the deleted user included.
    let cfg = std::fs::read_to_string(fx.state().join("user.cfg")).unwrap();
    for gone in ["ci@pve", "group:ops", "pool:web", "/pool/web"] {
        assert!(!cfg.contains(gone), "{gone} left in user.cfg:\n{cfg}");
    }
    // The modules' reads were answered by the gateway; only these reached the upstream.
    let forwarded: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .filter(|p| !p.starts_with("/version") && p != "/cluster/resources")
        .collect();
    assert!(
        forwarded.iter().all(|p| p == "/storage"),
        "forwarded: {forwarded:?}"
    );
    gw.shutdown().await;
}
