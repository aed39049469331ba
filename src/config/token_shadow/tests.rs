//! Tests of the parent module.

use super::*;

fn tid(s: &str) -> Tokenid {
    s.parse().unwrap()
}

#[test]
fn verify_right_wrong_and_unknown() {
    let mut shadow = TokenShadow::default();
    let secret = TokenShadow::generate_secret();
    shadow.set_secret(&tid("joe@pve!mon"), &secret);
    let check = |id: &str, secret: &str, want: bool| {
        assert_eq!(shadow.verify(id, secret), want, "verify({id}, {secret})");
    };
    check("joe@pve!mon", &secret, true);
    check("joe@pve!mon", &secret.to_uppercase(), false);
    check("joe@pve!mon", "", false);
    check("joe@pve!mon", &secret[..35], false);
    check("joe@pve!other", &secret, false);
    check("nonsense", &secret, false);
}

#[test]
fn secrets_are_lowercase_uuids_and_distinct() {
    let a = TokenShadow::generate_secret();
    let b = TokenShadow::generate_secret();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert!(
        a.bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f' | b'-')),
        "{a}"
    );
}

#[test]
fn write_then_parse_round_trips_and_keeps_verifying() {
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&tid("b@pve!tk"), "secret-b");
    shadow.set_secret(&tid("a@pve!tk"), "secret-a");
    let text = shadow.write();
    assert!(!text.contains("secret-a") && !text.contains("secret-b"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("a@pve!tk sha256$"), "{text}");
    let fields: Vec<&str> = lines[0].split(['$', ' ']).collect();
    assert_eq!((fields[2].len(), fields[3].len()), (32, 64), "{text}");
    let (again, warnings) = TokenShadow::parse(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(again, shadow);
    assert!(again.verify("a@pve!tk", "secret-a"));
    assert!(!again.verify("a@pve!tk", "secret-b"));
}

#[test]
fn same_secret_gets_different_salts() {
    let mut a = TokenShadow::default();
    let mut b = TokenShadow::default();
    a.set_secret(&tid("a@pve!tk"), "s");
    b.set_secret(&tid("a@pve!tk"), "s");
    assert_ne!(a.write(), b.write());
}

#[test]
fn remove_and_contains() {
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&tid("a@pve!tk"), "s");
    assert!(shadow.contains(&tid("a@pve!tk")));
    shadow.remove(&tid("a@pve!tk"));
    assert!(!shadow.contains(&tid("a@pve!tk")));
    assert!(!shadow.verify("a@pve!tk", "s"));
    assert!(shadow.is_empty());
}

#[test]
fn lenient_parse_skips_bad_lines_without_leaking_them() {
    let good = format!("sha256${}${}", "ab".repeat(16), "cd".repeat(32));
    let text = format!(
        "a@pve!tk {good}\n\
         \n\
         joe@pve!plain 1b7e2f6e-plaintext-secret\n\
         not-a-token {good}\n\
         b@pve!tk sha256$XX$YY\n\
         b@pve!tk {good} extra\n\
         c@pve!tk sha256${}${}\n\
         a@pve!tk {good}\n",
        "AB".repeat(16),
        "cd".repeat(32)
    );
    let (shadow, warnings) = TokenShadow::parse(&text);
    assert_eq!(shadow.len(), 1);
    let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8], "{warnings:?}");
    for w in &warnings {
        assert!(!w.message.contains("plaintext-secret"), "{w:?}");
    }
}

#[test]
fn rotation_keeps_the_old_secret_until_the_overlap_ends() {
    let id = tid("a@pve!tk");
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&id, "old");
    shadow.rotate(&id, "new", 1000);
    // (secret, now, accepted)
    let cases = [
        ("new", 0, true),
        ("old", 0, true),
        ("old", 999, true),
        ("old", 1000, false),
        ("new", 1000, true),
        ("other", 0, false),
        ("", 0, false),
    ];
    for (secret, now, want) in cases {
        assert_eq!(
            shadow.verify_at("a@pve!tk", secret, now),
            want,
            "verify_at({secret}, now={now})"
        );
    }
    assert_eq!(shadow.previous_until("a@pve!tk", 999), Some(1000));
    assert_eq!(shadow.previous_until("a@pve!tk", 1000), None);
}

#[test]
fn a_second_rotation_or_a_plain_set_ends_the_overlap() {
    let id = tid("a@pve!tk");
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&id, "one");
    shadow.rotate(&id, "two", 1000);
    shadow.rotate(&id, "three", 2000);
    assert!(
        !shadow.verify_at("a@pve!tk", "one", 0),
        "only one previous secret"
    );
    assert!(shadow.verify_at("a@pve!tk", "two", 0));
    assert!(shadow.verify_at("a@pve!tk", "three", 0));
    shadow.set_secret(&id, "four");
    assert!(
        !shadow.verify_at("a@pve!tk", "three", 0),
        "set_secret ends it at once"
    );
    assert_eq!(shadow.previous_until("a@pve!tk", 0), None);
    // Rotating a token without a secret just sets one.
    shadow.rotate(&tid("b@pve!tk"), "b", 1000);
    assert_eq!(shadow.previous_until("b@pve!tk", 0), None);
    assert!(shadow.verify_at("b@pve!tk", "b", 0));
}

#[test]
fn previous_hash_round_trips_and_expired_ones_are_dropped() {
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&tid("a@pve!tk"), "old-a");
    shadow.rotate(&tid("a@pve!tk"), "new-a", 5000);
    shadow.set_secret(&tid("b@pve!tk"), "old-b");
    shadow.rotate(&tid("b@pve!tk"), "new-b", 100);
    let text = shadow.write();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains(" prev=sha256$") && lines[0].ends_with("@5000"),
        "{text}"
    );
    assert!(!text.contains("old-a") && !text.contains("new-a"), "{text}");
    let (again, warnings) = TokenShadow::parse(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(again, shadow);
    assert!(again.verify_at("a@pve!tk", "old-a", 4999));
    let mut pruned = again.clone();
    pruned.drop_expired(100);
    let text = pruned.write();
    assert_eq!(
        text.matches("prev=").count(),
        1,
        "b's overlap ended: {text}"
    );
    assert!(
        !pruned.verify_at("b@pve!tk", "old-b", 0),
        "dropped, even at an earlier now"
    );
    assert!(pruned.verify_at("a@pve!tk", "old-a", 100));
}

#[test]
fn previous_field_parse_table() {
    let hash = format!("sha256${}${}", "ab".repeat(16), "cd".repeat(32));
    let check = |third: &str, ok: bool| {
        let text = format!("a@pve!tk {hash} {third}\n");
        let (shadow, warnings) = TokenShadow::parse(&text);
        assert_eq!(shadow.len() == 1, ok, "third field {third:?}: {warnings:?}");
        assert_eq!(
            warnings.is_empty(),
            ok,
            "third field {third:?}: {warnings:?}"
        );
    };
    check(&format!("prev={hash}@1700000000"), true);
    check(&format!("prev={hash}@0"), true);
    check(&format!("prev={hash}"), false);
    check(&format!("prev={hash}@"), false);
    check(&format!("prev={hash}@-1"), false);
    check(&format!("prev={hash}@+5"), false);
    check(&format!("prev={hash}@99999999999999999999999"), false);
    check(&format!("previous={hash}@5"), false);
    check("prev=sha256$xx$yy@5", false);
    check(&format!("{hash}@5"), false);
}

#[test]
fn rotation_keeps_the_salt_so_one_digest_serves_both_hashes() {
    let mut shadow = TokenShadow::default();
    shadow.set_secret(&tid("a@pve!tk"), "old");
    shadow.rotate(&tid("a@pve!tk"), "new", 1000);
    assert!(!shadow.two_salts, "a rotation written now shares the salt");
    let text = shadow.write();
    // `a@pve!tk sha256$<salt>$<hash> prev=sha256$<salt>$<hash>@1000`
    let fields: Vec<&str> = text.trim_end().split(['$', ' ', '@']).collect();
    assert_eq!(fields.len(), 9, "{text}");
    assert_eq!(fields[3], fields[6], "same salt: {text}");
    assert_ne!(fields[4], fields[7], "different secrets: {text}");
    let (again, warnings) = TokenShadow::parse(&text);
    assert!(warnings.is_empty() && !again.two_salts, "{warnings:?}");
    for (secret, now, want) in [("new", 999, true), ("old", 999, true), ("old", 1000, false)] {
        assert_eq!(
            again.verify_at("a@pve!tk", secret, now),
            want,
            "verify_at({secret}, now={now})"
        );
    }
}

#[test]
fn older_files_with_a_salt_per_hash_still_verify() {
    // As the previous writer left a rotation: each hash under a salt of its own.
    let hash = |salt: u8, secret: &str| {
        let mut out = String::new();
        SecretHash::new([salt; SALT_LEN], secret).write_to(&mut out);
        out
    };
    let text = format!(
        "a@pve!tk {} prev={}@1000\nb@pve!tk {}\n",
        hash(1, "new-a"),
        hash(2, "old-a"),
        hash(3, "b"),
    );
    let (shadow, warnings) = TokenShadow::parse(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(shadow.two_salts, "every verification computes both digests");
    // (token, secret, now, accepted)
    let cases = [
        ("a@pve!tk", "new-a", 0, true),
        ("a@pve!tk", "old-a", 999, true),
        ("a@pve!tk", "old-a", 1000, false),
        ("a@pve!tk", "b", 0, false),
        ("b@pve!tk", "b", 0, true),
        ("b@pve!tk", "old-a", 0, false),
        ("c@pve!tk", "b", 0, false),
    ];
    for (id, secret, now, want) in cases {
        assert_eq!(
            shadow.verify_at(id, secret, now),
            want,
            "verify_at({id}, {secret}, now={now})"
        );
    }
    assert_eq!(shadow.write(), text, "written back unchanged");
    // Once the old overlap is gone, one digest is enough again.
    let mut pruned = shadow.clone();
    pruned.drop_expired(1000);
    assert!(!pruned.two_salts);
    assert!(pruned.verify_at("a@pve!tk", "new-a", 1000));
    // A new rotation replaces the old pair with one under a single salt.
    let mut rotated = shadow;
    rotated.rotate(&tid("a@pve!tk"), "newer-a", 2000);
    assert!(!rotated.two_salts);
    assert!(rotated.verify_at("a@pve!tk", "new-a", 1999));
    assert!(rotated.verify_at("a@pve!tk", "newer-a", 1999));
    assert!(!rotated.verify_at("a@pve!tk", "old-a", 0));
}

#[test]
fn digest_eq_sees_every_byte() {
    let a: [u8; 32] = std::array::from_fn(|i| i as u8);
    assert!(bool::from(digest_eq(&a, &a)));
    for i in 0..32 {
        let mut b = a;
        b[i] ^= 0x80;
        assert!(!bool::from(digest_eq(&a, &b)), "byte {i} differs");
    }
}
