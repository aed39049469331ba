//! Unmodified proxmoxer (from `.venv`, made by scripts/test.sh) against the gateway: ticket
//! login, a GET, a POST with the CSRF token proxmoxer sends, the same POST without it, a
//! wrong password, and API-token requests; then root@pam administering the access API with
//! it (user, token, ACL), the new token used and, once deleted, refused. Allowed calls reach
//! the upstream (tests/fixtures/clients/pve_upstream.py) as the right caller; refused ones
//! never do.

mod login_support;

use std::collections::BTreeMap;

use aclgate::auth::ticket::epoch_now;
use serde_json::Value;

use login_support::{Fixture, PyUpstream, clients_fixture, python, secret_of};

#[tokio::test]
async fn proxmoxer_ticket_and_token_flows() {
    let upstream = PyUpstream::start();
    let fx = Fixture::new("").await;
    let url = upstream.url();
    let gw = fx.start_with(|c| c.upstream.url = url).await;
    let ca = fx.dir.path().join("certs/c.crt");
    let host = format!("127.0.0.1:{}", gw.addr.port());
    let (stdout, steps) = run_client(
        "proxmoxer_flows.py",
        &[
            host.as_str(),
            ca.to_str().unwrap(),
            &secret_of("joe@pve!monitoring"),
        ],
    )
    .await;
    let step = |name: &str| {
        steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"))
    };

    assert_eq!(step("ticket_get")["ok"], true, "{stdout}");
    assert_eq!(
        step("ticket_get")["value"]["path"],
        "/nodes/pve1/qemu/100/status/current"
    );
    assert_eq!(step("ticket_post")["ok"], true, "{stdout}");
    assert_eq!(step("ticket_post")["value"]["method"], "POST");
    assert_eq!(step("ticket_post_without_csrf")["value"], 401, "{stdout}");
    assert_eq!(step("wrong_password")["ok"], false, "{stdout}");
    assert!(
        step("wrong_password")["error"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{stdout}"
    );
    assert_eq!(step("token_get")["ok"], true, "{stdout}");
    assert_eq!(step("token_post")["ok"], false, "{stdout}");
    assert_eq!(step("token_post")["status"], 403, "{stdout}");

    // What reached the upstream: exactly the allowed calls, as the right caller.
    let seen = reached(&upstream);
    let want = [
        ("GET", "/nodes/pve1/qemu/100/status/current", "joe@pve"),
        ("POST", "/nodes/pve1/qemu/100/status/start", "joe@pve"),
        (
            "GET",
            "/nodes/pve1/qemu/100/status/current",
            "joe@pve!monitoring",
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(m, p, a)| ((*m).to_owned(), (*p).to_owned(), (*a).to_owned()))
        .collect();
    assert_eq!(seen, want, "requests that reached the upstream");
    assert!(
        upstream.requests().iter().all(|r| r["credential"] == false),
        "credentials are stripped before forwarding"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn proxmoxer_creates_uses_and_deletes_a_token() {
    let upstream = PyUpstream::start();
    let fx = Fixture::new("").await;
    let url = upstream.url();
    let gw = fx.start_with(|c| c.upstream.url = url).await;
    let ca = fx.dir.path().join("certs/c.crt");
    let host = format!("127.0.0.1:{}", gw.addr.port());
    // root@pam's password is the host's; proxmoxer logs in with a ticket instead (renewal).
    let root = gw
        .services
        .tickets
        .issue(&"root@pam".parse().unwrap(), epoch_now())
        .unwrap()
        .ticket;
    let (stdout, steps) =
        run_client("proxmoxer_admin.py", &[&host, ca.to_str().unwrap(), &root]).await;
    let want = [
        "create_user",
        "create_token",
        "grant_role",
        "list_tokens",
        "token_get",
        "token_post_refused",
        "delete_token",
        "token_get_after_delete",
        "tokens_after_delete",
    ];
    for name in want {
        let step = steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"));
        assert_eq!(step["pass"], true, "step {name}: {step}\n{stdout}");
    }
    assert_eq!(steps["token_post_refused"]["status"], 403, "{stdout}");
    assert_eq!(steps["token_get_after_delete"]["status"], 401, "{stdout}");

    // Only the token's allowed GET reached the upstream, as the token.
    let seen = reached(&upstream);
    assert_eq!(
        seen,
        [(
            "GET".to_owned(),
            "/nodes/pve1/qemu/100/status/current".to_owned(),
            "ci@pve!auto".to_owned()
        )],
        "requests that reached the upstream"
    );
    let cfg = std::fs::read_to_string(fx.state().join("user.cfg")).unwrap();
    assert!(cfg.contains("user:ci@pve:1:0:"), "{cfg}");
    assert!(
        !cfg.contains("ci@pve!auto"),
        "token gone from user.cfg: {cfg}"
    );
    assert!(cfg.contains("acl:1:/vms/100:ci@pve:PVEAuditor:"), "{cfg}");
    gw.shutdown().await;
}

/// What reached the upstream: (method, path, identity header or `-`) per request, in order.
fn reached(upstream: &PyUpstream) -> Vec<(String, String, String)> {
    upstream
        .requests()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
                r["authid"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

/// Run a client script from tests/fixtures/clients with the venv's python; its stdout and
/// its JSON lines by `step`.
async fn run_client(script: &str, args: &[&str]) -> (String, BTreeMap<String, Value>) {
    let mut cmd = std::process::Command::new(python());
    cmd.arg(clients_fixture(script)).args(args);
    // The gateway runs on this runtime: wait for the client on a blocking thread.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["step"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    (stdout, steps)
}
