//! `PVEVNC` console tickets and `POST /access/vncticket`, as a console proxy behind the
//! gateway uses them (Proxmox's termproxy / vncwebsocket check): a ticket signed by the
//! gateway's key ring verifies only for its authid, ACL path and port, within −20 < age < 40,
//! and only if the authid holds the asked privileges on the path. Everything else is the same
//! 401; malformed requests are 400. Over real TLS against a running gateway.

mod api_support;
mod gateway_support;

use aclgate::access::AclPath;
use aclgate::auth::ticket::{Binding, KeyRing, ShortLivedKind, create_short_lived, epoch_now};
use aclgate::identity::Authid;
use reqwest::Method;
use serde_json::Value;

use api_support::{Api, Auth};

const USERS: &str = "\
user:root@pam:1:0:::::
user:member@pve:1:0:::::
user:off@pve:0:0:::::
user:other@pve:1:0:::::
token:member@pve!ci:0:1::
token:member@pve!bare:0:1::
acl:1:/vms/100:member@pve:PVEVMUser:
acl:1:/vms/100:off@pve:PVEVMUser:
acl:1:/vms/100:member@pve!ci:PVEVMUser:
";

/// A ticket of `kind` signed by the gateway's keys, stamped `now + offset`.
fn ticket(
    api: &Api,
    kind: ShortLivedKind,
    authid: &str,
    path: &str,
    port: Option<u16>,
    offset: i64,
) -> String {
    let authid: Authid = authid.parse().unwrap();
    let path = AclPath::normalize(path).unwrap();
    let binding = Binding {
        authid: &authid,
        path: path.as_str(),
        port,
    };
    api.services
        .tickets
        .issue_short_lived(kind, binding, epoch_now() + offset)
        .unwrap()
}

fn vnc(api: &Api, authid: &str, path: &str, port: Option<u16>) -> String {
    ticket(api, ShortLivedKind::Vnc, authid, path, port, 0)
}

/// `POST /access/vncticket`, anonymous (a console proxy holds no credentials of its own).
async fn check(api: &Api, form: &[(&str, &str)]) -> (u16, Value) {
    api.call_as(&Auth::Anonymous, Method::POST, "/access/vncticket", form)
        .await
}

async fn status(api: &Api, authid: &str, t: &str, path: &str, privs: &str, port: &str) -> u16 {
    let mut form = vec![
        ("authid", authid),
        ("vncticket", t),
        ("path", path),
        ("privs", privs),
    ];
    if !port.is_empty() {
        form.push(("port", port));
    }
    check(api, &form).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_verifies_for_its_authid_path_port_and_privileges_only() {
    let api = Api::start(USERS, &[], &[]).await;
    let t = vnc(&api, "member@pve", "/vms/100", Some(5900));
    assert!(t.starts_with("PVEVNC:"), "{t}");
    assert!(!t.contains("member"), "no userid in clear: {t}");

    let (code, body) = check(
        &api,
        &[
            ("authid", "member@pve"),
            ("vncticket", &t),
            ("path", "/vms/100"),
            ("privs", "VM.Console"),
            ("port", "5900"),
        ],
    )
    .await;
    assert_eq!((code, &body["data"]), (200, &Value::Null), "{body}");

    let cases = [
        (
            "member@pve",
            "/vms//100/",
            "VM.Console",
            "5900",
            200,
            "path is normalised",
        ),
        (
            "member@pve",
            "/vms/100",
            "VM.Console,VM.Audit",
            "5900",
            200,
            "all privs held",
        ),
        (
            "member@pve",
            "/vms/100",
            "VM.Console",
            "5901",
            401,
            "other port",
        ),
        (
            "member@pve",
            "/vms/100",
            "VM.Console",
            "",
            401,
            "port left out",
        ),
        (
            "member@pve",
            "/vms/101",
            "VM.Console",
            "5900",
            401,
            "other path",
        ),
        (
            "other@pve",
            "/vms/100",
            "VM.Console",
            "5900",
            401,
            "other user",
        ),
        (
            "member@pve!ci",
            "/vms/100",
            "VM.Console",
            "5900",
            401,
            "the user's token",
        ),
        (
            "member@pve",
            "/vms/100",
            "VM.Allocate",
            "5900",
            401,
            "a privilege not held",
        ),
        (
            "member@pve",
            "/vms/100",
            "VM.Console,VM.Allocate",
            "5900",
            401,
            "one not held",
        ),
    ];
    for (authid, path, privs, port, want, why) in cases {
        assert_eq!(
            status(&api, authid, &t, path, privs, port).await,
            want,
            "{why}"
        );
    }

    // Proxmox's legacy VNC password form: 8 characters and `:` before the ticket.
    let legacy = format!("abcdefgh:{t}");
    assert_eq!(
        status(
            &api,
            "member@pve",
            &legacy,
            "/vms/100",
            "VM.Console",
            "5900"
        )
        .await,
        200
    );
    // A ticket without port verifies only without port.
    let t = vnc(&api, "member@pve", "/vms/100", None);
    assert_eq!(
        status(&api, "member@pve", &t, "/vms/100", "VM.Console", "").await,
        200
    );
    assert_eq!(
        status(&api, "member@pve", &t, "/vms/100", "VM.Console", "5900").await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_disabled_users_lifetimes_and_foreign_tickets() {
    let api = Api::start(USERS, &[], &[]).await;
    let ok = |t: String, authid: &'static str| {
        let api = &api;
        async move { status(api, authid, &t, "/vms/100", "VM.Console", "").await }
    };
    // A token: its own ACL counts (privsep); a token without ACL entries gets nothing.
    assert_eq!(
        ok(
            vnc(&api, "member@pve!ci", "/vms/100", None),
            "member@pve!ci"
        )
        .await,
        200
    );
    assert_eq!(
        ok(
            vnc(&api, "member@pve!bare", "/vms/100", None),
            "member@pve!bare"
        )
        .await,
        401
    );
    // A disabled user holds no privileges.
    assert_eq!(
        ok(vnc(&api, "off@pve", "/vms/100", None), "off@pve").await,
        401
    );

    // −20 < age < 40 (a few seconds of margin on each side for the test's own clock).
    let aged = |offset| {
        ticket(
            &api,
            ShortLivedKind::Vnc,
            "member@pve",
            "/vms/100",
            None,
            offset,
        )
    };
    assert_eq!(ok(aged(-35), "member@pve").await, 200, "35 s old");
    assert_eq!(ok(aged(-41), "member@pve").await, 401, "41 s old");
    assert_eq!(ok(aged(15), "member@pve").await, 200, "15 s ahead");
    assert_eq!(ok(aged(25), "member@pve").await, 401, "25 s ahead");

    // Other kinds of tickets, and tickets of other keys.
    let tunnel = ticket(
        &api,
        ShortLivedKind::Tunnel,
        "member@pve",
        "/vms/100",
        None,
        0,
    );
    assert!(tunnel.starts_with("PVETUNNEL:"), "{tunnel}");
    assert_eq!(ok(tunnel, "member@pve").await, 401, "tunnel ticket");
    let Auth::Ticket { ticket: full, .. } = api.ticket("member@pve") else {
        unreachable!()
    };
    assert_eq!(ok(full, "member@pve").await, 401, "login ticket");
    let foreign = KeyRing::generate(aclgate::auth::ticket::Algorithm::Ed25519, epoch_now() - 60);
    let authid: Authid = "member@pve".parse().unwrap();
    let path = AclPath::normalize("/vms/100").unwrap();
    let binding = Binding {
        authid: &authid,
        path: path.as_str(),
        port: None,
    };
    let forged = create_short_lived(&foreign, ShortLivedKind::Vnc, binding, epoch_now()).unwrap();
    assert_eq!(ok(forged, "member@pve").await, 401, "another gateway's key");
    let mut tampered = vnc(&api, "member@pve", "/vms/100", None).into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(ok(tampered, "member@pve").await, 401, "tampered signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_400() {
    let api = Api::start(USERS, &[], &[]).await;
    let t = vnc(&api, "member@pve", "/vms/100", None);
    let (code, body) = check(&api, &[("authid", "member@pve"), ("vncticket", &t)]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["errors"]["path"].is_string() && body["errors"]["privs"].is_string());
    let (code, body) = check(
        &api,
        &[
            ("authid", "member@pve"),
            ("vncticket", &t),
            ("path", "/vms/100"),
            ("privs", "VM.Consloe"),
        ],
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["errors"]["privs"].is_string(), "{body}");
    let long = "x".repeat(65);
    let (code, _) = check(
        &api,
        &[
            ("authid", &long),
            ("vncticket", &t),
            ("path", "/vms/100"),
            ("privs", "VM.Console"),
        ],
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = check(
        &api,
        &[
            ("authid", "member@pve"),
            ("vncticket", &t),
            ("path", "/vms/100"),
            ("privs", "VM.Console"),
            ("port", "99999"),
        ],
    )
    .await;
    assert_eq!(code, 400, "port out of range");
}
