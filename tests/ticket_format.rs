//! Ticket text and validity (spec §6.5): round trips, tampering, age window, wrong keys,
//! TFA-pending half tickets, percent-encoding of the userid, and a property test that no input
//! makes parsing panic and no edited ticket verifies.

use aclgate::auth::ticket::{
    Algorithm, KeyRing, TicketError, create, create_tfa_pending, verify, verify_tfa_pending,
};
use aclgate::identity::Userid;
use proptest::prelude::*;

const T0: i64 = 1_700_000_000;

fn user(text: &str) -> Userid {
    text.parse().unwrap()
}

fn ring(algorithm: Algorithm) -> KeyRing {
    KeyRing::generate(algorithm, T0 - 1000)
}

#[test]
fn layout_is_proxmox_textual_form() {
    let ring = ring(Algorithm::Ed25519);
    let ticket = create(&ring, &user("joe@pve"), T0).unwrap();
    let expected_start = format!("PVE:joe@pve:{T0:08X}::");
    assert!(ticket.starts_with(&expected_start), "{ticket}");
    // 64-byte Ed25519 signature, standard base64 with padding.
    let sig = &ticket[expected_start.len()..];
    assert_eq!(sig.len(), 88, "{ticket}");
    assert!(sig.ends_with("=="), "{ticket}");
    let hmac = create(&self::ring(Algorithm::HmacSha256), &user("joe@pve"), T0).unwrap();
    assert_eq!(hmac.len() - expected_start.len(), 44, "{hmac}");
}

#[test]
fn round_trip_for_both_algorithms_and_odd_userids() {
    for algorithm in [Algorithm::Ed25519, Algorithm::HmacSha256] {
        let ring = ring(algorithm);
        for id in [
            "joe@pve",
            "root@pam",
            "a%3Ab@pve",
            "50%@pve",
            "é!x,y;z@ldap-1",
        ] {
            let ticket = create(&ring, &user(id), T0).unwrap();
            // PVE, data, time, empty, signature: the data holds no raw `:`.
            assert_eq!(ticket.split(':').count(), 5, "{ticket}");
            let verified = verify(&ring, &ticket, T0 + 10)
                .unwrap_or_else(|e| panic!("{algorithm:?} {id}: {e}"));
            assert_eq!(verified.userid.as_str(), id, "{algorithm:?} {ticket}");
            assert_eq!(verified.issued_at, T0);
        }
    }
}

#[test]
fn percent_in_userid_is_escaped_so_it_cannot_turn_into_another_user() {
    // Spec §10.12: with only `:` escaped, `a%3Ab@pve` would read back as `a:b@pve`.
    let ring = ring(Algorithm::Ed25519);
    let ticket = create(&ring, &user("a%3Ab@pve"), T0).unwrap();
    assert!(ticket.starts_with("PVE:a%253Ab@pve:"), "{ticket}");
    assert_eq!(
        verify(&ring, &ticket, T0).unwrap().userid.as_str(),
        "a%3Ab@pve"
    );
}

#[test]
fn age_window_is_minus_300_exclusive_to_7200_exclusive() {
    let ring = ring(Algorithm::Ed25519);
    let ticket = create(&ring, &user("joe@pve"), T0).unwrap();
    #[rustfmt::skip]
    let cases: &[(i64, Result<(), &str>)] = &[
        (T0 - 301, Err("future")),
        (T0 - 300, Err("future")),
        (T0 - 299, Ok(())),
        (T0,        Ok(())),
        (T0 + 7199, Ok(())),
        (T0 + 7200, Err("expired")),
        (T0 + 99_999, Err("expired")),
    ];
    for &(now, want) in cases {
        let got = verify(&ring, &ticket, now);
        let ok = matches!(
            (want, &got),
            (Ok(()), Ok(_))
                | (Err("future"), Err(TicketError::NotYetValid))
                | (Err("expired"), Err(TicketError::Expired))
        );
        assert!(ok, "now = T0{:+}: want {want:?}, got {got:?}", now - T0);
    }
}

#[test]
fn tampering_with_any_part_is_refused() {
    let ring = ring(Algorithm::Ed25519);
    let ticket = create(&ring, &user("joe@pve"), T0).unwrap();
    let stamp = format!("{T0:08X}");
    let later = format!("{:08X}", T0 + 1);
    let sig_start = ticket.find("::").unwrap() + 2;
    let mut flipped = ticket.clone().into_bytes();
    flipped[sig_start + 5] = if flipped[sig_start + 5] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let flipped = String::from_utf8(flipped).unwrap();
    #[rustfmt::skip]
    let cases: Vec<(&str, String)> = vec![
        ("other user", ticket.replace("joe@pve", "jon@pve")),
        ("root", ticket.replace("joe@pve", "root@pam")),
        ("encoded user", ticket.replace("joe@pve", "jo%65@pve")),
        ("time", ticket.replace(&stamp, &later)),
        ("signature", flipped),
        ("no padding", ticket.trim_end_matches('=').to_owned()),
        ("prefix", ticket.replacen("PVE:", "PBS:", 1)),
        ("lowercase time", ticket.replace(&stamp, &stamp.to_lowercase())),
        ("extra field", ticket.replacen("PVE:", "PVE:x:", 1)),
        ("truncated", ticket[..ticket.len() - 4].to_owned()),
        ("empty", String::new()),
    ];
    for (what, text) in cases {
        assert_ne!(text, ticket, "{what}: the edit did nothing");
        let got = verify(&ring, &text, T0);
        assert!(got.is_err(), "{what}: `{text}` verified as {got:?}");
    }
}

#[test]
fn a_ticket_of_another_key_is_refused() {
    let ticket = create(&ring(Algorithm::Ed25519), &user("joe@pve"), T0).unwrap();
    for other in [ring(Algorithm::Ed25519), ring(Algorithm::HmacSha256)] {
        assert!(matches!(
            verify(&other, &ticket, T0),
            Err(TicketError::BadSignature)
        ));
    }
}

#[test]
fn tfa_pending_tickets_are_never_authentication() {
    let ring = ring(Algorithm::Ed25519);
    let joe = user("joe@pve");
    let challenge = r#"{"totp":true,"recovery":[1,2]}"#;
    let half = create_tfa_pending(&ring, &joe, challenge, T0).unwrap();
    assert!(half.starts_with("PVE:!tfa!{\"totp\"%3Atrue"), "{half}");
    assert!(matches!(
        verify(&ring, &half, T0),
        Err(TicketError::TfaPending)
    ));

    let pending = verify_tfa_pending(&ring, &half, &joe, T0 + 60).unwrap();
    assert_eq!(pending.challenge, challenge);
    assert_eq!(pending.issued_at, T0);
    // Bound to its user through the aad.
    assert!(matches!(
        verify_tfa_pending(&ring, &half, &user("eve@pve"), T0),
        Err(TicketError::BadSignature)
    ));
    // A full ticket is not a challenge.
    let full = create(&ring, &joe, T0).unwrap();
    assert!(matches!(
        verify_tfa_pending(&ring, &full, &joe, T0),
        Err(TicketError::NotTfaPending)
    ));
    // Same age window.
    assert!(matches!(
        verify_tfa_pending(&ring, &half, &joe, T0 + 7200),
        Err(TicketError::Expired)
    ));
}

#[test]
fn times_that_do_not_fit_eight_hex_digits_cannot_be_stamped() {
    let ring = ring(Algorithm::Ed25519);
    for now in [-1, 0x1_0000_0000] {
        assert!(matches!(
            create(&ring, &user("joe@pve"), now),
            Err(TicketError::BadTime(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}", now in any::<i64>()) {
        let ring = KeyRing::generate(Algorithm::Ed25519, T0);
        prop_assert!(verify(&ring, &text, now).is_err());
        let _ = verify_tfa_pending(&ring, &text, &user("joe@pve"), now);
    }

    #[test]
    fn ticket_shaped_text_never_panics(
        data in "[!-~]{0,40}",
        stamp in "[0-9A-Fa-f]{0,9}",
        sig in "[A-Za-z0-9+/=:]{0,100}",
        now in any::<i64>(),
    ) {
        let ring = KeyRing::generate(Algorithm::Ed25519, T0);
        let text = format!("PVE:{data}:{stamp}::{sig}");
        prop_assert!(verify(&ring, &text, now).is_err());
    }

    #[test]
    fn any_edit_of_a_valid_ticket_is_refused(
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
        delete in any::<bool>(),
    ) {
        let ring = KeyRing::generate(Algorithm::Ed25519, T0);
        let ticket = create(&ring, &user("joe@pve"), T0).unwrap();
        let mut bytes = ticket.clone().into_bytes();
        let i = position.index(bytes.len());
        if delete {
            bytes.remove(i);
        } else {
            bytes[i] = replacement;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text != ticket {
            prop_assert!(verify(&ring, &text, T0).is_err(), "{} verified", text);
        }
    }
}
