//! Hot reload through the one door: revocation reaching an already-open keep-alive connection,
//! a broken change keeping the old snapshot, the file watcher, and certificate replacement.

mod gateway_support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use gateway_support::{Gateway, USER_CFG, shadow_text, write_atomic};

fn get(path: &str, auth: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .header("host", "gw")
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

#[tokio::test]
async fn revocation_reaches_open_connections() {
    let gw = Gateway::start().await;
    let auth = Gateway::token_header("joe@pve!monitoring");
    let mut conn = gw.h1_connection().await;
    assert_eq!(
        conn.send_request(get(PATH, &auth)).await.unwrap().status(),
        200
    );

    // Revoke the way `aclgate user token remove` does: through the locked state-dir writer.
    aclgate::config::StateDir::new(gw.state())
        .modify(|cfg, tokens| {
            let id: aclgate::identity::Tokenid = "joe@pve!monitoring".parse().unwrap();
            tokens.remove(&id);
            let owner = cfg.users.get_mut(&id.user()).unwrap();
            owner.tokens.remove(&id.name().parse().unwrap());
            Ok(())
        })
        .unwrap();
    let generation = gw.reload().await.unwrap();
    assert_eq!(gw.reader.generation(), generation);
    conn.ready().await.unwrap();
    assert_eq!(
        conn.send_request(get(PATH, &auth)).await.unwrap().status(),
        401,
        "same connection, next request"
    );
    // Other tokens on the same connection still work.
    let full = Gateway::token_header("joe@pve!full");
    assert_eq!(
        conn.send_request(get(PATH, &full)).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn user_cfg_changes_take_effect_without_restart() {
    let gw = Gateway::start().await;
    let full = Gateway::token_header("joe@pve!full");
    let mut conn = gw.h1_connection().await;
    assert_eq!(
        conn.send_request(get(PATH, &full)).await.unwrap().status(),
        200
    );
    let cases = [
        (
            "owner disabled",
            USER_CFG.replace("user:joe@pve:1:0:", "user:joe@pve:0:0:"),
            401,
        ),
        (
            "token deleted",
            USER_CFG.replace("token:joe@pve!full:0:0::\n", ""),
            401,
        ),
        (
            "token expired",
            USER_CFG.replace("token:joe@pve!full:0:0::", "token:joe@pve!full:1:0::"),
            401,
        ),
        (
            "acl removed",
            USER_CFG.replace("acl:1:/vms:joe@pve:PVEVMAdmin:\n", ""),
            403,
        ),
        ("restored", USER_CFG.to_owned(), 200),
    ];
    for (name, text, want) in cases {
        write_atomic(&gw.state().join("user.cfg"), &text);
        gw.reload().await.unwrap();
        conn.ready().await.unwrap();
        let got = conn.send_request(get(PATH, &full)).await.unwrap().status();
        assert_eq!(got, want, "case `{name}`");
    }
}

#[tokio::test]
async fn broken_change_keeps_the_old_snapshot() {
    let gw = Gateway::start().await;
    let before = gw.reader.generation();
    let policy = gw.dir.path().join("policies/test.toml");
    let good = std::fs::read_to_string(&policy).unwrap();
    write_atomic(
        &policy,
        "[[route]]\nmethod = \"GET\"\npath = \"/x\"\nbogus = 1\n",
    );
    let err = gw.reload().await.unwrap_err();
    assert!(err.contains("test.toml"), "error names the file: {err}");
    assert_eq!(gw.reader.generation(), before);
    let full = Gateway::token_header("joe@pve!full");
    let mut conn = gw.h1_connection().await;
    assert_eq!(
        conn.send_request(get(PATH, &full)).await.unwrap().status(),
        200
    );
    let metrics = gw.reader.runtime().metrics.encode();
    assert!(
        metrics.contains("aclgate_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    write_atomic(&policy, &good);
    assert!(gw.reload().await.unwrap() > before);
}

#[tokio::test]
async fn file_watcher_triggers_a_reload() {
    let gw = Gateway::start().await;
    let cfg = gw.reader.load().config.clone();
    let _watcher = aclgate::reload::watch_files(gw.reload.clone(), &cfg).unwrap();
    let next = gw.reader.generation() + 1;
    write_atomic(&gw.state().join("priv/token.shadow"), &shadow_text(&[]));
    tokio::time::timeout(Duration::from_secs(10), gw.reader.wait_for_generation(next))
        .await
        .expect("the watcher reloads after a state file changes");
    let mut conn = gw.h1_connection().await;
    let full = Gateway::token_header("joe@pve!full");
    assert_eq!(
        conn.send_request(get(PATH, &full)).await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn certificate_is_replaced_on_reload() {
    let gw = Gateway::start().await;
    let certs = gw.dir.path().join("certs");
    std::fs::remove_file(certs.join("aclgate.crt")).unwrap();
    std::fs::remove_file(certs.join("aclgate.key")).unwrap();
    aclgate::server::tls::ensure_self_signed(
        &certs.join("aclgate.crt"),
        &certs.join("aclgate.key"),
    )
    .unwrap();
    gw.reload().await.unwrap();
    // The old certificate is no longer served: a client trusting only it fails the handshake.
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(gw.tls_client_config(&[b"http/1.1"]));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
}
