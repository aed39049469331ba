//! Torn state files and `state.strict` (issue 11 item 2): a `user.cfg` cut inside an ACL line
//! must not widen access, and a skipped `acl` line refuses the state in strict mode.

mod gateway_support;

use bytes::Bytes;
use http_body_util::Full;

use gateway_support::{Gateway, USER_CFG, shadow_text, write_atomic};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

/// The fixture plus a `NoAccess` ACL that takes VM 100 away from joe.
fn restricted() -> String {
    format!("{USER_CFG}acl:1:/vms/100:joe@pve:NoAccess:\n")
}

async fn status(gw: &Gateway) -> u16 {
    let mut conn = gw.h1_connection().await;
    let req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn torn_user_cfg_keeps_the_old_snapshot() {
    let gw = Gateway::start().await;
    let user_cfg = gw.state().join("user.cfg");
    write_atomic(&user_cfg, &restricted());
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 403);

    let full = restricted();
    let acl_start = full.find("acl:1:/vms/100").unwrap();
    // Cut at every byte of the NoAccess line, its newline excluded.
    for cut in acl_start + 1..full.len() {
        let generation = gw.reader.generation();
        write_atomic(&user_cfg, &full[..cut]);
        let err = gw.reload().await.unwrap_err();
        assert!(err.contains("torn"), "cut at {cut}: {err}");
        assert_eq!(gw.reader.generation(), generation, "cut at {cut}");
        assert_eq!(status(&gw).await, 403, "cut at {cut}: access not widened");
    }
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(metrics.contains("aclgate_reload_failing 1"), "{metrics}");

    // The whole file loads again; an empty file is whole too.
    write_atomic(&user_cfg, &full);
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 403);
    write_atomic(&user_cfg, "");
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 401, "empty user.cfg: joe is gone");
}

#[tokio::test]
async fn torn_token_shadow_keeps_the_old_snapshot() {
    let gw = Gateway::start().await;
    let shadow = gw.state().join("priv/token.shadow");
    // Revocation cut short: the rewritten file lost its end.
    let text = shadow_text(&["joe@pve!full", "joe@pve!monitoring"]);
    write_atomic(&shadow, &text[..text.len() - 1]);
    let err = gw.reload().await.unwrap_err();
    assert!(
        err.contains("token.shadow") && err.contains("torn"),
        "{err}"
    );
    assert!(!err.contains('$'), "no hash text in the error: {err}");
    assert_eq!(status(&gw).await, 200);
}

#[tokio::test]
async fn torn_file_at_startup_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    write_atomic(
        &state.join("user.cfg"),
        "user:root@pam:1:0:::::\nacl:1:/:joe@pve:NoAc",
    );
    let err = aclgate::snapshot::State::load(&state).expect_err("torn state refused");
    assert!(err.to_string().contains("torn"), "{err}");
}

/// The restricting line with a typo in its role: Proxmox (and aclgate by default) skip it.
fn typo() -> String {
    format!("{USER_CFG}acl:1:/vms/100:joe@pve:NoAcess:\n")
}

#[tokio::test]
async fn lenient_mode_loads_a_skipped_acl_line_with_a_warning() {
    let gw = Gateway::start().await;
    write_atomic(&gw.state().join("user.cfg"), &restricted());
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 403);
    write_atomic(&gw.state().join("user.cfg"), &typo());
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 200, "the documented lenient behaviour");
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(metrics.contains("aclgate_config_warnings 1"), "{metrics}");
}

#[tokio::test]
async fn strict_mode_refuses_a_state_with_a_skipped_acl_line() {
    let gw = Gateway::start_with(|cfg| cfg.state.strict = true).await;
    write_atomic(&gw.state().join("user.cfg"), &restricted());
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 403);
    write_atomic(&gw.state().join("user.cfg"), &typo());
    let err = gw.reload().await.unwrap_err();
    assert!(err.contains("strict") && err.contains(":12:"), "{err}");
    assert_eq!(status(&gw).await, 403, "the last good snapshot stays");
    // Other skipped lines are still only warnings in strict mode.
    write_atomic(
        &gw.state().join("user.cfg"),
        &format!("{}user:bad user:1:0:::::\n", restricted()),
    );
    gw.reload().await.unwrap();
    assert_eq!(status(&gw).await, 403);
}

#[test]
fn strict_setting_is_read_from_the_config_file() {
    let cfg = aclgate::config::gateway::GatewayConfig::parse("[state]\nstrict = true\n").unwrap();
    assert!(cfg.state.strict);
    let cfg = aclgate::config::gateway::GatewayConfig::parse("").unwrap();
    assert!(
        !cfg.state.strict,
        "off by default (Proxmox's lenient reading)"
    );
}

#[test]
fn torn_proxmox_copy_is_not_imported() {
    let dir = tempfile::tempdir().unwrap();
    let pve = dir.path().join("pve");
    write_atomic(
        &pve.join("user.cfg"),
        "user:root@pam:1:0:::::\nuser:joe@pve:1:0:::::\nacl:1:/vms/100:joe@pve:NoAcc",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("import-pve")
        .arg(&pve)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("torn") && err.contains("user.cfg"), "{err}");
    assert!(
        !dir.path().join("state/user.cfg").exists(),
        "nothing imported"
    );
}
