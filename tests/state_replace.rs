//! The state directory replaced or deleted under a running gateway (issue 11 item 1): the file
//! watch follows the directory now at the configured path (after a rename, a delete and
//! restore, and after SIGHUP), and a missing state keeps the last good snapshot.

mod gateway_support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use gateway_support::{Gateway, TOKENS, USER_CFG, shadow_text, write_atomic};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

/// Longest wait for the watcher to reload (it debounces 100 ms).
const WAIT: Duration = Duration::from_secs(10);

async fn status(gw: &Gateway, token: &str) -> u16 {
    let mut conn = gw.h1_connection().await;
    let req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header(token))
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.send_request(req).await.unwrap().status().as_u16()
}

/// Wait until the watcher has reloaded past `generation`.
async fn reloaded_after(gw: &Gateway, generation: u64, what: &str) {
    tokio::time::timeout(WAIT, gw.reader.wait_for_generation(generation + 1))
        .await
        .unwrap_or_else(|_| panic!("no reload after {what}"));
}

/// Fill `dir` with the fixture state minus the tokens in `revoked`.
fn write_state(dir: &Path, revoked: &[&str]) {
    let mut cfg = USER_CFG.to_owned();
    for id in revoked {
        cfg = cfg
            .lines()
            .filter(|l| !l.starts_with(&format!("token:{id}:")))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    let kept: Vec<&str> = TOKENS
        .iter()
        .copied()
        .filter(|t| !revoked.contains(t))
        .collect();
    write_atomic(&dir.join("user.cfg"), &cfg);
    write_atomic(&dir.join("priv/token.shadow"), &shadow_text(&kept));
}

#[tokio::test]
async fn moved_aside_and_replaced_directory_is_watched() {
    let gw = Gateway::start().await;
    let cfg = gw.reader.load().config.clone();
    let _watch = aclgate::reload::watch_files(gw.reload.clone(), &cfg).unwrap();
    assert_eq!(status(&gw, "joe@pve!monitoring").await, 200);

    // A restore: the new directory is prepared beside the old one and swapped in.
    let fresh = gw.dir.path().join("state.new");
    write_state(&fresh, &["joe@pve!monitoring"]);
    let generation = gw.reader.generation();
    std::fs::rename(gw.state(), gw.dir.path().join("state.old")).unwrap();
    std::fs::rename(&fresh, gw.state()).unwrap();
    reloaded_after(&gw, generation, "the directory swap").await;
    assert_eq!(status(&gw, "joe@pve!monitoring").await, 401);

    // The watch now follows the new directory: a revocation there takes effect.
    let generation = gw.reader.generation();
    write_state(&gw.state(), &["joe@pve!monitoring", "joe@pve!full"]);
    reloaded_after(&gw, generation, "a revocation in the new directory").await;
    assert_eq!(
        status(&gw, "joe@pve!full").await,
        401,
        "revoked token refused"
    );
}

#[tokio::test]
async fn deleted_directory_keeps_the_last_good_snapshot_until_restored() {
    let gw = Gateway::start().await;
    let cfg = gw.reader.load().config.clone();
    let _watch = aclgate::reload::watch_files(gw.reload.clone(), &cfg).unwrap();
    assert_eq!(status(&gw, "joe@pve!full").await, 200);

    let generation = gw.reader.generation();
    std::fs::remove_dir_all(gw.state()).unwrap();
    let err = gw.reload().await.unwrap_err();
    assert!(err.contains("missing"), "{err}");
    assert_eq!(gw.reader.generation(), generation, "old snapshot kept");
    assert_eq!(
        status(&gw, "joe@pve!full").await,
        200,
        "not every request 401"
    );
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(metrics.contains("aclgate_reload_failing 1"), "{metrics}");

    // Restored file by file (as `cp -r` or `tar x` do), with one token revoked meanwhile.
    std::fs::create_dir(gw.state()).unwrap();
    write_state(&gw.state(), &["joe@pve!monitoring"]);
    tokio::time::timeout(WAIT, async {
        while status(&gw, "joe@pve!monitoring").await != 401 {
            let next = gw.reader.generation() + 1;
            gw.reader.wait_for_generation(next).await;
        }
    })
    .await
    .expect("the restored directory is loaded by the watcher");
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(metrics.contains("aclgate_reload_failing 0"), "{metrics}");

    // And watched: a later revocation takes effect.
    let generation = gw.reader.generation();
    write_state(&gw.state(), &["joe@pve!monitoring", "joe@pve!full"]);
    reloaded_after(&gw, generation, "a revocation in the restored directory").await;
    assert_eq!(status(&gw, "joe@pve!full").await, 401);
}

#[tokio::test]
async fn missing_user_cfg_keeps_the_last_good_snapshot() {
    let gw = Gateway::start().await;
    std::fs::remove_file(gw.state().join("user.cfg")).unwrap();
    let err = gw.reload().await.unwrap_err();
    assert!(err.contains("user.cfg"), "{err}");
    assert_eq!(status(&gw, "joe@pve!full").await, 200);
    // Unreadable is the same: the old snapshot stays.
    write_atomic(&gw.state().join("user.cfg"), USER_CFG);
    std::fs::create_dir(gw.state().join("priv/token.shadow.d")).unwrap();
    std::fs::remove_file(gw.state().join("priv/token.shadow")).unwrap();
    std::fs::rename(
        gw.state().join("priv/token.shadow.d"),
        gw.state().join("priv/token.shadow"),
    )
    .unwrap();
    let err = gw.reload().await.unwrap_err();
    assert!(err.contains("token.shadow"), "{err}");
    assert_eq!(status(&gw, "joe@pve!full").await, 200);
}

#[tokio::test]
async fn sighup_rearms_the_watch() {
    // The state directory sits in `site/`; replacing `site/` as a whole raises no event on the
    // watched paths, so only the re-arm that SIGHUP runs can find the new directory.
    let gw = Gateway::start_with(|cfg| {
        let state = cfg.state.dir.clone();
        let site = state.parent().unwrap().join("site");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::rename(&state, site.join("state")).unwrap();
        cfg.state.dir = site.join("state");
    })
    .await;
    let cfg = gw.reader.load().config.clone();
    let state = cfg.state.dir.clone();
    let _watch = aclgate::reload::watch_files(gw.reload.clone(), &cfg).unwrap();
    let _hup = aclgate::reload::spawn_sighup(gw.reload.clone()).unwrap();

    let site = state.parent().unwrap().to_path_buf();
    let new_site = gw.dir.path().join("site.new");
    write_state(&new_site.join("state"), &[]);
    std::fs::rename(&site, gw.dir.path().join("site.old")).unwrap();
    std::fs::rename(&new_site, &site).unwrap();

    let generation = gw.reader.generation();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    reloaded_after(&gw, generation, "SIGHUP").await;

    let generation = gw.reader.generation();
    write_state(&state, &["joe@pve!full"]);
    reloaded_after(&gw, generation, "a revocation after SIGHUP").await;
    assert_eq!(status(&gw, "joe@pve!full").await, 401);
}
