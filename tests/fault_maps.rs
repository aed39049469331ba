//! Runtime maps under an attacker who sends a new key with every request (issue 11 item 3):
//! each stays within its bound. The bounds and eviction rules:
//! - per-token rate buckets: only *authenticated* tokens get one (unknown ids and wrong
//!   secrets do not), so the map is bounded by the configured tokens; full buckets are swept;
//! - login throttle: `max_entries` keys per table (sources, user+source pairs, users);
//!   entries below their limit or past their window are purged first, then new keys are not
//!   tracked (tests/ticket_throttle.rs covers address spraying);
//! - verified-ticket cache: only tickets that verified are inserted, `max_entries` at most
//!   (tests/ticket_cache.rs);
//! - pending WebAuthn challenges: `MAX_PENDING` per user and kind, oldest dropped.

mod gateway_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;

use aclgate::auth::tfa::store::{MAX_PENDING, PendingChallenge, TfaStore};
use aclgate::auth::throttle::{Throttle, ThrottleConfig};
use gateway_support::{Gateway, secret_of, write_atomic};

const PATH: &str = "/api2/json/nodes/n1/qemu/100/status/current";

#[tokio::test]
async fn unauthenticated_token_ids_create_no_rate_buckets() {
    let gw = Gateway::start().await;
    write_atomic(
        &gw.state().join("token-options.cfg"),
        "token: joe@pve!full\n\trate-limit 1000\n\n",
    );
    gw.reload().await.unwrap();
    let mut conn = gw.h1_connection().await;
    for i in 0..600 {
        // A new unknown token id each time, and the real id with wrong secrets.
        let auth = if i % 2 == 0 {
            format!("PVEAPIToken=u{i}@pve!t{i}={}", secret_of("x"))
        } else {
            format!("PVEAPIToken=joe@pve!full=wrong-{i}")
        };
        let req = http::Request::get(PATH)
            .header("host", "gw")
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .unwrap();
        conn.ready().await.unwrap();
        assert_eq!(conn.send_request(req).await.unwrap().status(), 401);
    }
    assert_eq!(
        gw.reader.runtime().rate_limits.len(),
        0,
        "no bucket for a failed request"
    );
    let req = http::Request::get(PATH)
        .header("host", "gw")
        .header("authorization", Gateway::token_header("joe@pve!full"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    conn.ready().await.unwrap();
    assert_eq!(conn.send_request(req).await.unwrap().status(), 200);
    assert_eq!(gw.reader.runtime().rate_limits.len(), 1);
}

#[test]
fn unique_usernames_from_many_sources_stay_within_the_throttle_bound() {
    let max = 500;
    let throttle = Throttle::new(ThrottleConfig {
        max_entries: max,
        ..ThrottleConfig::default()
    });
    let now = Instant::now();
    for i in 0u32..20_000 {
        let source = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        throttle.record_failure(source, &format!("user{i}@pve"), now);
    }
    let (sources, pairs, users) = throttle.sizes();
    // Inserts racing a purge may overshoot by one per thread; this test has one thread.
    assert!(
        sources <= max && pairs <= max && users <= max,
        "{sources} {pairs} {users}"
    );
}

#[test]
fn pending_webauthn_challenges_per_user_are_capped() {
    let mut store = TfaStore::default();
    let userid = "joe@pve".parse().unwrap();
    for i in 0..100 {
        let challenge = PendingChallenge {
            challenge: format!("c{i}"),
            created: 1000,
            description: String::new(),
            state: serde_json::Value::Null,
        };
        store.challenges_mut(&userid).push_auth(challenge.clone());
        store.challenges_mut(&userid).push_registration(challenge);
    }
    let ch = store.challenges_mut(&userid);
    for list in [&ch.webauthn_auths, &ch.webauthn_registrations] {
        assert_eq!(list.len(), MAX_PENDING);
        assert_eq!(list.last().unwrap().challenge, "c99", "the newest is kept");
    }
}
