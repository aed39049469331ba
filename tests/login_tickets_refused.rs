//! Which tickets the gateway refuses (tampered, expired, future-dated, wrong key, TFA-pending,
//! unusable or logged-out users), renewal, logout across two instances on one state
//! directory, login throttling per source, and the two-step TOTP login (codes from pyotp).

mod login_support;

use aclgate::auth::logout::LogoutList;
use aclgate::auth::tfa::{TfaStore, manage};
use aclgate::auth::ticket::{Algorithm, KeyRing, epoch_now, format};
use aclgate::config::StateDir;
use aclgate::identity::Userid;
use login_support::{Fixture, Running, cookie, pyotp_now};

const GET_VM: &str = "/api2/json/nodes/n1/qemu/100/status/current";

async fn get_status(gw: &Running, ticket: &str) -> u16 {
    gw.client()
        .get(gw.url(GET_VM))
        .header("cookie", cookie(ticket))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn uid(s: &str) -> Userid {
    s.parse().unwrap()
}

#[tokio::test]
async fn bad_tickets_are_refused() {
    let fx = Fixture::new("").await;
    let now = epoch_now();
    // A key old enough to sign tickets stamped two hours ago, written before the gateway
    // starts (the gateway adopts it).
    let state = StateDir::new(fx.state());
    let ring = KeyRing::generate(Algorithm::Ed25519, now - 10_000);
    std::fs::create_dir_all(state.priv_dir()).unwrap();
    state
        .write_secret(&KeyRing::path(&state), ring.write().as_bytes())
        .unwrap();
    let gw = fx.start().await;
    let joe = uid("joe@pve");
    let good = format::create(&ring, &joe, now - 60).unwrap();
    assert_eq!(get_status(&gw, &good).await, 200, "a valid ticket");

    let other_ring = KeyRing::generate(Algorithm::Ed25519, now - 10_000);
    let tampered_user = good.replacen("joe@pve", "tina@pve", 1);
    let mut tampered_sig = good.clone();
    let last = tampered_sig.pop().unwrap();
    tampered_sig.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        ("expired", format::create(&ring, &joe, now - 7_300).unwrap()),
        (
            "future-dated",
            format::create(&ring, &joe, now + 400).unwrap(),
        ),
        (
            "wrong key",
            format::create(&other_ring, &joe, now - 60).unwrap(),
        ),
        ("other user in the data", tampered_user),
        ("signature changed", tampered_sig),
        (
            "tfa pending",
            format::create_tfa_pending(&ring, &joe, r#"{"totp":true}"#, now - 60).unwrap(),
        ),
        (
            "disabled user",
            format::create(&ring, &uid("off@pve"), now - 60).unwrap(),
        ),
        (
            "expired user",
            format::create(&ring, &uid("old@pve"), now - 60).unwrap(),
        ),
        (
            "unknown user",
            format::create(&ring, &uid("ghost@pve"), now - 60).unwrap(),
        ),
        ("not a ticket", "PVE:garbage".to_owned()),
    ];
    for (what, ticket) in cases {
        assert_eq!(get_status(&gw, &ticket).await, 401, "{what}");
        // Nor does it renew.
        let (status, _) = gw
            .login(&[("username", "joe@pve"), ("password", &ticket)])
            .await;
        assert_eq!(status, 401, "{what} as a renewal");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn renewal() {
    let fx = Fixture::new("").await;
    let gw = fx.start().await;
    let (joe_ticket, _) = gw.ticket("joe@pve", "joe-secret-1").await;
    let (status, body) = gw
        .login(&[("username", "joe@pve"), ("password", &joe_ticket)])
        .await;
    assert_eq!(status, 200, "joe renews his own ticket: {body}");
    let renewed = body["data"]["ticket"].as_str().unwrap();
    assert_eq!(get_status(&gw, renewed).await, 200);
    assert!(body["data"]["cap"].is_object(), "{body}");

    let (status, _) = gw
        .login(&[("username", "tina@pve"), ("password", &joe_ticket)])
        .await;
    assert_eq!(status, 401, "joe's ticket does not renew for tina");

    let root = gw
        .services
        .tickets
        .issue(&uid("root@pam"), epoch_now())
        .unwrap();
    let (status, body) = gw
        .login(&[("username", "tina@pve"), ("password", &root.ticket)])
        .await;
    assert_eq!(status, 200, "root@pam's ticket renews for anyone: {body}");
    assert_eq!(body["data"]["username"], "tina@pve");
    gw.shutdown().await;
}

#[tokio::test]
async fn logout_revokes_old_tickets_on_every_instance() {
    let fx = Fixture::new("").await;
    let a = fx.start().await;
    let b = fx.start().await;
    let now = epoch_now();
    // Stamped before the logout: issued through instance A's keys (shared by B via the file).
    let old = a
        .services
        .tickets
        .issue(&uid("joe@pve"), now - 10)
        .unwrap()
        .ticket;
    assert_eq!(get_status(&a, &old).await, 200, "A before the logout");
    assert_eq!(get_status(&b, &old).await, 200, "B accepts A's ticket");

    LogoutList::logout(&StateDir::new(fx.state()), &uid("joe@pve"), now - 5).unwrap();
    a.reload.reload().await.unwrap();
    b.reload.reload().await.unwrap();
    assert_eq!(get_status(&a, &old).await, 401, "A after the logout");
    assert_eq!(get_status(&b, &old).await, 401, "B after the logout");
    let (status, _) = a
        .login(&[("username", "joe@pve"), ("password", &old)])
        .await;
    assert_eq!(status, 401, "a revoked ticket does not renew");

    let (fresh, _) = a.ticket("joe@pve", "joe-secret-1").await;
    assert_eq!(get_status(&a, &fresh).await, 200, "a new login works on A");
    assert_eq!(get_status(&b, &fresh).await, 200, "and on B");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn throttling_per_source() {
    let fx = Fixture::new("").await;
    let gw = fx
        .start_with(|c| {
            c.login_throttle.per_user_source = 3;
            c.login_throttle.per_source = 100;
        })
        .await;
    let here = gw.client_from(Some("127.0.0.1".parse().unwrap()));
    let there = gw.client_from(Some("127.0.0.2".parse().unwrap()));
    for n in 0..3 {
        let (status, _) = gw
            .login_from(&here, &[("username", "joe@pve"), ("password", "guess")])
            .await;
        assert_eq!(status, 401, "failure {n}");
    }
    let good = [("username", "joe@pve"), ("password", "joe-secret-1")];
    let (status, throttled) = gw.login_from(&here, &good).await;
    assert_eq!(status, 401, "the right password from the throttled source");
    assert_eq!(
        throttled,
        serde_json::json!({"data": null, "message": "authentication failure\n"}),
        "a throttled attempt looks like a failed one"
    );
    let (status, body) = gw.login_from(&there, &good).await;
    assert_eq!(status, 200, "another source still logs in: {body}");
    let (status, _) = gw
        .login_from(
            &here,
            &[("username", "tina@pve"), ("password", "tina-secret-2")],
        )
        .await;
    assert_eq!(status, 200, "another user from the first source");
    gw.shutdown().await;
}

#[tokio::test]
async fn two_step_totp_login() {
    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let fx = Fixture::new("").await;
    let state = StateDir::new(fx.state());
    let tina = uid("tina@pve");
    TfaStore::modify(&state, |store| {
        let uri = format!("otpauth://totp/tina?secret={SECRET}");
        manage::add_totp(store, &tina, "phone", &uri, &pyotp_now(SECRET), epoch_now())
    })
    .unwrap();
    let gw = fx.start().await;

    let (status, body) = gw
        .login(&[("username", "tina@pve"), ("password", "tina-secret-2")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["NeedTFA"], 1, "{body}");
    assert!(body["data"].get("cap").is_none(), "{body}");
    let half = body["data"]["ticket"].as_str().unwrap().to_owned();
    assert!(half.starts_with("PVE:!tfa!"), "{half}");
    assert!(half.contains("totp"), "the challenge offers totp: {half}");
    assert_eq!(
        get_status(&gw, &half).await,
        401,
        "a half ticket is no authentication"
    );

    let step2 = |password: String, challenge: String| {
        let gw = &gw;
        async move {
            gw.login(&[
                ("username", "tina@pve"),
                ("password", &password),
                ("tfa-challenge", &challenge),
            ])
            .await
        }
    };
    let (status, _) = step2("totp:000000".into(), half.clone()).await;
    assert_eq!(status, 401, "wrong code");
    let (status, _) = step2(format!("totp:{}", pyotp_now(SECRET)), "PVE:!tfa!x".into()).await;
    assert_eq!(status, 401, "bad challenge ticket");
    // The code used to add the entry is spent; the next step's code is accepted.
    let code = next_code(SECRET);
    let (status, body) = step2(format!("totp:{code}"), half.clone()).await;
    assert_eq!(status, 200, "{body}");
    let full = body["data"]["ticket"].as_str().unwrap();
    assert!(full.starts_with("PVE:tina@pve:"), "{full}");
    assert_eq!(get_status(&gw, full).await, 200);
    let (status, _) = step2(format!("totp:{code}"), half).await;
    assert_eq!(status, 401, "a replayed code");
    gw.shutdown().await;
}

/// The code of the next 30 s step (accepted within the ±1 window, never yet used).
fn next_code(secret: &str) -> String {
    let out = std::process::Command::new(login_support::python())
        .args([
            "-c",
            &format!("import pyotp, time; print(pyotp.TOTP('{secret}').at(time.time() + 30))"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
