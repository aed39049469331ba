//! Writers hand their edits to the running gateway (issue 12 item 3): a change made with the
//! CLI (over the control socket) or the access API (through the reload door) is in force when
//! the command or the call returns — a revoked token is refused on the very next request, with
//! no waiting — and is applied to the running snapshot, not by loading every file again. A
//! file edited behind the gateway's back is still picked up by the file watch, and concurrent
//! CLI writers lose nothing.

mod api_support;
mod gateway_support;

use std::process::Command;
use std::time::Duration;

use aclgate::config::StateDir;
use aclgate::reload::{self, How};
use bytes::Bytes;
use http_body_util::Full;

use gateway_support::{Gateway, USER_CFG, write_atomic};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

fn get(path: &str, auth: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .header("host", "gw")
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Run the real CLI on the gateway's state directory; panics unless it succeeds.
fn cli(gw: &Gateway, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_aclgate"))
        .arg("--state-dir")
        .arg(gw.state())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aclgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Full loads so far.
fn full_loads(gw: &Gateway) -> u64 {
    gw.reader.runtime().metrics.reloads_ok.get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_changes_hold_when_the_command_returns() {
    let gw = Gateway::start().await;
    let _control = reload::control::listen(gw.reload.clone(), &StateDir::new(gw.state())).unwrap();
    let mut conn = gw.h1_connection().await;
    let monitoring = Gateway::token_header("joe@pve!monitoring");
    let full = Gateway::token_header("joe@pve!full");
    let status = async |conn: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
                        auth: &str| {
        conn.ready().await.unwrap();
        conn.send_request(get(PATH, auth)).await.unwrap().status()
    };
    assert_eq!(status(&mut conn, &monitoring).await, 200);
    assert_eq!(status(&mut conn, &full).await, 200);
    let loads = full_loads(&gw);

    // (command, token asked with, status on the next request)
    let steps: &[(&[&str], &str, u16)] = &[
        (
            &["user", "token", "remove", "joe@pve", "monitoring"],
            &monitoring,
            401,
        ),
        (&["user", "modify", "joe@pve", "--enable", "0"], &full, 401),
        (&["user", "modify", "joe@pve", "--enable", "1"], &full, 200),
        (&["group", "add", "g1"], &full, 200),
        (&["group", "add", "g2"], &full, 200),
        (&["user", "modify", "joe@pve", "--groups", "g1"], &full, 200),
        (
            &[
                "acl",
                "modify",
                "/vms/100",
                "--groups",
                "g1",
                "--roles",
                "PVEAuditor",
            ],
            &full,
            200,
        ),
        (
            &[
                "acl",
                "delete",
                "/vms",
                "--users",
                "joe@pve",
                "--roles",
                "PVEVMAdmin",
            ],
            &full,
            200,
        ),
        // Out of g1: nothing grants VM.Audit on /vms/100 any more.
        (&["user", "modify", "joe@pve", "--groups", "g2"], &full, 403),
        (&["user", "modify", "joe@pve", "--groups", "g1"], &full, 200),
        (
            &[
                "acl",
                "delete",
                "/vms/100",
                "--groups",
                "g1",
                "--roles",
                "PVEAuditor",
            ],
            &full,
            403,
        ),
    ];
    for (args, auth, want) in steps {
        let generation = gw.reader.generation();
        cli(&gw, args);
        assert_eq!(
            gw.reader.generation(),
            generation + 1,
            "{args:?}: in force when the command returns"
        );
        assert_eq!(status(&mut conn, auth).await, *want, "{args:?}");
    }
    // `group add` of a group without members is more than a change says: loaded in full.
    // Everything else was applied to the running snapshot.
    assert_eq!(
        full_loads(&gw) - loads,
        2,
        "only the two `group add` loaded in full"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_write_is_applied_to_the_running_snapshot() {
    let gw = Gateway::start().await;
    let mut conn = gw.h1_connection().await;
    let monitoring = Gateway::token_header("joe@pve!monitoring");
    conn.ready().await.unwrap();
    assert_eq!(
        conn.send_request(get(PATH, &monitoring))
            .await
            .unwrap()
            .status(),
        200
    );
    // What the API's token DELETE does: the locked write, then the edit to the reload door.
    let (_, written) = StateDir::new(gw.state())
        .modify_written(|cfg, tokens| {
            aclgate::manage::token::delete_token(
                cfg,
                tokens,
                &"joe@pve".parse().unwrap(),
                &"monitoring".parse().unwrap(),
            )
        })
        .unwrap();
    let applied = gw.reload.apply(written.clone()).await.unwrap();
    assert_eq!(applied.how, How::Incremental);
    assert_eq!(gw.reader.generation(), applied.generation);
    conn.ready().await.unwrap();
    assert_eq!(
        conn.send_request(get(PATH, &monitoring))
            .await
            .unwrap()
            .status(),
        401
    );
    // The same edit again: the snapshot already holds those files.
    let again = gw.reload.apply(written).await.unwrap();
    assert_eq!(
        (again.how, again.generation),
        (How::Current, applied.generation)
    );
    // The snapshot's engine lost the token's entries, as a full load would.
    let snapshot = gw.reader.load();
    let listed = snapshot.engine.acl_nodes();
    assert!(
        listed
            .values()
            .all(|n| n.tokens.keys().all(|t| t.as_str() != "joe@pve!monitoring")),
        "{listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_delete_is_refused_when_the_call_returns() {
    let user_cfg = "user:root@pam:1:0:::::\nuser:admin@pve:1:0:::::\nuser:bob@pve:1:0:::::\n\
                    token:admin@pve!all:0:0::\ntoken:bob@pve!ci:0:0::\n\
                    acl:1:/:admin@pve:Administrator:\nacl:1:/:bob@pve:PVEAuditor:\n";
    let api = api_support::Api::start(user_cfg, &["admin@pve!all", "bob@pve!ci"], &[]).await;
    let (admin, bob) = (
        api_support::token("admin@pve!all"),
        api_support::token("bob@pve!ci"),
    );
    use reqwest::Method as M;
    let (s, _) = api.call(&bob, M::GET, "/access/users", &[]).await;
    assert_eq!(s, 200);
    let (s, body) = api
        .call(&admin, M::DELETE, "/access/users/bob@pve/token/ci", &[])
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = api.call(&bob, M::GET, "/access/users", &[]).await;
    assert_eq!(s, 401, "deleted token refused on the next request");
    // An ACL entry deleted over the API.
    let (s, body) = api
        .call(
            &admin,
            M::PUT,
            "/access/acl",
            &[
                ("path", "/"),
                ("users", "bob@pve"),
                ("roles", "PVEAuditor"),
                ("delete", "1"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let text = std::fs::read_to_string(api.state().join("user.cfg")).unwrap();
    assert!(!text.contains("bob@pve:PVEAuditor"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_edited_behind_the_gateway_is_still_picked_up() {
    let gw = Gateway::start().await;
    let config = gw.reader.load().config.clone();
    let _watch = reload::watch_files(gw.reload.clone(), &config).unwrap();
    let _control = reload::control::listen(gw.reload.clone(), &StateDir::new(gw.state())).unwrap();
    let mut conn = gw.h1_connection().await;
    let full = Gateway::token_header("joe@pve!full");
    // A CLI change first (applied), then an editor's.
    cli(&gw, &["user", "token", "remove", "joe@pve", "monitoring"]);
    let generation = gw.reader.generation();
    let edited = USER_CFG
        .lines()
        .filter(|l| !l.contains("joe@pve!monitoring") && !l.contains("joe@pve!full"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    write_atomic(&gw.state().join("user.cfg"), &edited);
    tokio::time::timeout(
        Duration::from_secs(20),
        gw.reader.wait_for_generation(generation + 1),
    )
    .await
    .expect("the edited file is loaded");
    conn.ready().await.unwrap();
    assert_eq!(
        conn.send_request(get(PATH, &full)).await.unwrap().status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cli_writers_lose_nothing() {
    let gw = Gateway::start().await;
    let _control = reload::control::listen(gw.reload.clone(), &StateDir::new(gw.state())).unwrap();
    let vms: Vec<String> = (0..8).map(|i| format!("/vms/{}", 200 + i)).collect();
    let children: Vec<_> = vms
        .iter()
        .map(|path| {
            Command::new(env!("CARGO_BIN_EXE_aclgate"))
                .arg("--state-dir")
                .arg(gw.state())
                .args([
                    "acl",
                    "modify",
                    path,
                    "--users",
                    "joe@pve",
                    "--roles",
                    "PVEAuditor",
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let text = std::fs::read_to_string(gw.state().join("user.cfg")).unwrap();
    let listed = gw.reader.load().engine.acl_nodes();
    for path in &vms {
        assert!(
            text.contains(&format!("acl:1:{path}:joe@pve:PVEAuditor:")),
            "{path} in the file"
        );
        let node = listed
            .iter()
            .find(|(p, _)| p.as_str() == path)
            .map(|(_, n)| n);
        let joe = "joe@pve".parse().unwrap();
        assert!(
            node.is_some_and(|n| n.users.contains_key(&joe)),
            "{path} in the running gateway"
        );
    }
}
