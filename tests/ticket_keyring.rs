//! Key ring: Proxmox's per-key windows across rotation, the ring file in the state directory
//! (mode, reuse, rotation after 24 h, no double rotation under parallel instances), and
//! instances sharing a state directory verifying each other's tickets after one rotates.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};

use aclgate::auth::ticket::{
    Algorithm, KEY_LIFETIME, KeyRing, TicketAuthority, TicketConfig, TicketError, create, verify,
};
use aclgate::config::StateDir;
use aclgate::identity::Userid;

const C0: i64 = 1_700_000_000;
const R: i64 = C0 + KEY_LIFETIME;

fn joe() -> Userid {
    "joe@pve".parse().unwrap()
}

/// Sign with `signer` at `stamp`, verify with `verifier` at `now`.
fn check(what: &str, signer: &KeyRing, stamp: i64, verifier: &KeyRing, now: i64, ok: bool) {
    let ticket = create(signer, &joe(), stamp).unwrap();
    let got = verify(verifier, &ticket, now);
    assert_eq!(
        got.is_ok(),
        ok,
        "{what}: stamp C0{:+}, now C0{:+}: {got:?}",
        stamp - C0,
        now - C0
    );
}

#[test]
fn windows_of_current_and_previous_key_follow_proxmox() {
    let k0 = KeyRing::generate(Algorithm::Ed25519, C0);
    let k1 = k0.rotated(Algorithm::Ed25519, R);
    let k2 = k1.rotated(Algorithm::Ed25519, R + KEY_LIFETIME);
    #[rustfmt::skip]
    let cases: &[(&str, &KeyRing, i64, &KeyRing, i64, bool)] = &[
        ("current key, fresh ticket",                  &k0, C0 + 10,   &k0, C0 + 20,  true),
        ("ticket older than its key - 300",            &k0, C0 - 301,  &k0, C0 + 10,  false),
        ("ticket older than its key, within skew",     &k0, C0 - 299,  &k0, C0 + 10,  true),
        ("overdue key: ticket stamped before due",     &k0, R - 1,     &k0, R + 100,  true),
        ("overdue key: ticket stamped when due",       &k0, R,         &k0, R + 100,  false),
        ("previous key: stamped before rotation",      &k0, R - 100,   &k1, R + 10,   true),
        ("previous key: stamped rotation + 299",       &k0, R + 299,   &k1, R + 300,  true),
        ("previous key: stamped rotation + 300",       &k0, R + 300,   &k1, R + 301,  false),
        ("previous key: still bound by 2 h age",       &k0, R - 100,   &k1, R + 7099, true),
        ("previous key: expired by age",               &k0, R - 100,   &k1, R + 7100, false),
        ("new key: ticket older than it - 300",        &k1, R - 301,   &k1, R + 10,   false),
        ("new key: fresh ticket",                      &k1, R + 5,     &k1, R + 10,   true),
        ("old ring does not know the new key",         &k1, R + 5,     &k0, R + 10,   false),
        ("key rotated out twice is gone",              &k0, R - 100,   &k2, R + 10,   false),
    ];
    for &(what, signer, stamp, verifier, now, ok) in cases {
        check(what, signer, stamp, verifier, now, ok);
    }
}

#[test]
fn the_ring_file_is_created_0600_reused_and_rotated_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state"));
    let first = KeyRing::load_or_create(&state, C0).unwrap();
    let path = KeyRing::path(&state);
    assert!(path.ends_with("priv/authkey.ring"), "{}", path.display());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&state.priv_dir()), 0o700);

    let again = KeyRing::load_or_create(&state, C0 + KEY_LIFETIME - 1).unwrap();
    assert_eq!(again, first, "reused before the day is over");
    assert!(
        first
            .rotate_if_due(&state, C0 + 100, Algorithm::Ed25519)
            .unwrap()
            .is_none()
    );

    let rotated = first
        .rotate_if_due(&state, R, Algorithm::Ed25519)
        .unwrap()
        .expect("due after 24 h");
    assert_eq!(rotated.current_created(), R);
    assert_eq!(rotated.previous_created(), Some(C0));
    assert_eq!(KeyRing::read(&state).unwrap(), Some(rotated.clone()));
    // A ticket of the old key still verifies with the rotated ring read back from disk.
    check("after rotation", &first, R - 10, &rotated, R + 1, true);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_key_created_in_the_future_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let future = KeyRing::load_or_create(&state, C0 + 10_000).unwrap();
    assert!(future.is_due(C0));
    let fixed = KeyRing::load_or_create(&state, C0).unwrap();
    assert_eq!(fixed.current_created(), C0);
}

#[test]
fn a_damaged_ring_file_is_an_error_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    KeyRing::load_or_create(&state, C0).unwrap();
    std::fs::write(KeyRing::path(&state), "current ed25519 oops\n").unwrap();
    let err = KeyRing::load_or_create(&state, C0).unwrap_err();
    assert!(matches!(err, TicketError::KeyFile { line: 1, .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(KeyRing::path(&state)).unwrap(),
        "current ed25519 oops\n"
    );
}

#[test]
fn parallel_instances_rotate_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let k0 = KeyRing::load_or_create(&state, C0).unwrap();
    let barrier = Arc::new(Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let (state, k0, barrier) = (state.clone(), k0.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                k0.rotate_if_due(&state, R + i, Algorithm::Ed25519)
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    let rings: Vec<KeyRing> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        rings.iter().all(|r| *r == rings[0]),
        "every instance adopted one rotation"
    );
    assert_eq!(rings[0].previous_created(), Some(C0));
}

#[test]
fn an_instance_verifies_tickets_of_a_key_another_instance_rotated_in() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let a = TicketAuthority::open(&state, C0, TicketConfig::default()).unwrap();
    let b = TicketAuthority::open(&state, C0 + 5, TicketConfig::default()).unwrap();
    assert_eq!(a.key_ring(), b.key_ring());
    let old = b.issue(&joe(), R - 60).unwrap();

    // B sees a forged ticket first: its miss re-reads the (unchanged) key file.
    let forged = create(&KeyRing::generate(Algorithm::Ed25519, C0), &joe(), R).unwrap();
    assert!(matches!(
        b.authenticate(&forged, R),
        Err(TicketError::BadSignature)
    ));

    // A logs someone in after the key is a day old: it rotates.
    let new = a.issue(&joe(), R).unwrap();
    assert_eq!(a.key_ring().current_created(), R);
    assert_ne!(b.key_ring(), a.key_ring(), "B has not reloaded");

    // Within the same second B does not re-read again (rate limit), one second later it does.
    assert!(matches!(
        b.authenticate(&new.ticket, R),
        Err(TicketError::BadSignature)
    ));
    let verified = b.authenticate(&new.ticket, R + 1).unwrap();
    assert_eq!(verified.userid, joe());
    assert_eq!(b.key_ring(), a.key_ring(), "B adopted A's rotation");

    // Tickets of the old key stay valid on both (stamped before the rotation).
    assert_eq!(
        a.authenticate(&old.ticket, R + 2).unwrap().issued_at,
        R - 60
    );
    assert_eq!(
        b.authenticate(&old.ticket, R + 2).unwrap().issued_at,
        R - 60
    );

    // B's next login signs with the new key, not the one A rotated out.
    let from_b = b.issue(&joe(), R + 3).unwrap();
    check_authority_agrees(&a, &from_b.ticket, R + 4);
}

#[test]
fn issuing_picks_up_a_rotation_made_elsewhere_before_signing() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let b = TicketAuthority::open(&state, C0, TicketConfig::default()).unwrap();
    // Another instance (here: the plain file API) rotates.
    let rotated = KeyRing::load_or_create(&state, R).unwrap();
    let issued = b.issue(&joe(), R + 400).unwrap();
    // Verifiable by a ring that knows only the new key (the old one would be refused for a
    // ticket stamped more than 300 s after the rotation).
    let only_new = KeyRing::parse(&rotated.write(), std::path::Path::new("x")).unwrap();
    assert!(verify(&only_new, &issued.ticket, R + 401).is_ok());
}

fn check_authority_agrees(a: &TicketAuthority, ticket: &str, now: i64) {
    let got = a.authenticate(ticket, now);
    assert!(got.is_ok(), "A refuses B's ticket: {got:?}");
}
