//! `aclgate ticket` through the real binary: password from stdin, prints only the ticket,
//! which a gateway on the same state directory accepts; failures print no ticket.

mod login_support;

use std::io::Write;
use std::process::{Command, Stdio};

use login_support::{Fixture, cookie};

fn ticket_cmd(state: &std::path::Path, args: &[&str], password: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(state)
        .arg("ticket")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ticket_command_prints_a_ticket_the_gateway_accepts() {
    let fx = Fixture::new("").await;
    let gw = fx.start().await;
    let state = fx.state();
    let (code, stdout, stderr) = ticket_cmd(&state, &["joe", "--realm", "pve"], "joe-secret-1");
    assert_eq!(code, 0, "stderr: {stderr}");
    let ticket = stdout.trim();
    assert!(ticket.starts_with("PVE:joe@pve:"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "only the ticket: {stdout}");
    // A ticket signed by the CLI is accepted by the gateway (shared key ring).
    let resp = gw
        .client()
        .get(gw.url("/api2/json/nodes/n1/qemu/100/status/current"))
        .header("cookie", cookie(ticket))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for (args, pw, what) in [
        (vec!["joe@pve"], "wrong", "wrong password"),
        (vec!["ghost@pve"], "joe-secret-1", "unknown user"),
        (vec!["off@pve"], "off-secret-3", "disabled user"),
    ] {
        let (code, stdout, stderr) = ticket_cmd(&state, &args, pw);
        assert_ne!(code, 0, "{what}");
        assert!(stdout.is_empty(), "{what}: no ticket printed: {stdout}");
        assert!(
            stderr.contains("authentication failure"),
            "{what}: {stderr}"
        );
        assert!(!stderr.contains(pw), "{what}: the password is never echoed");
    }
    gw.shutdown().await;
}
