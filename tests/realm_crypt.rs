//! pve realm hashes: vectors made by Debian's mkpasswd and openssl (tests/fixtures/realms)
//! verify, and a new hash equals what `openssl passwd -5` computes for the same salt.

use std::process::Command;

use aclgate::auth::realm::crypt;

const VECTORS: &str = include_str!("fixtures/realms/crypt_vectors.tsv");

#[test]
fn mkpasswd_and_openssl_vectors_verify() {
    let mut schemes = std::collections::BTreeSet::new();
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        let (password, hash) = line.split_once('\t').unwrap();
        schemes.insert(&hash[..3]);
        assert!(
            crypt::verify(password, hash),
            "verify({password:?}, {hash})"
        );
        let wrong = format!("{password}x");
        assert!(
            !crypt::verify(&wrong, hash),
            "verify({wrong:?}, {hash}) must fail"
        );
    }
    assert_eq!(
        schemes.into_iter().collect::<Vec<_>>(),
        vec!["$5$", "$6$", "$y$"]
    );
}

#[test]
fn new_hashes_match_openssl_for_the_same_salt() {
    assert!(
        std::path::Path::new("/usr/bin/openssl").exists(),
        "/usr/bin/openssl missing: run `bash scripts/test.sh`"
    );
    for password in ["Secr3t-pw", "pässwörd-ünï", "with space and : colon"] {
        let hash = crypt::hash_password(password).unwrap();
        let salt = hash.split('$').nth(2).unwrap();
        let out = Command::new("/usr/bin/openssl")
            .args(["passwd", "-5", "-salt", salt, password])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            hash,
            "password {password:?}"
        );
    }
}
