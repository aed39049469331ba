//! crypt(3) password hashes for the `pve` realm's `priv/shadow.cfg` (spec §2.3).
//!
//! Verifies SHA-256-crypt (`$5$`), SHA-512-crypt (`$6$`) and yescrypt (`$y$`) with RustCrypto's
//! pure-Rust `sha-crypt` and `yescrypt` crates, which compare the digests in constant time.
//! New hashes are written as Proxmox writes them (`PVE::Tools::encrypt_pw`): `$5$`, default
//! 5000 rounds, an 8-character salt — but from the OS random generator, not from the time.
//! Other schemes (`$1$`, `$2b$`, DES) are refused: Proxmox itself never writes them.

use rand::RngCore;
use sha_crypt::{CustomizedPasswordHasher, Params, PasswordVerifier, ShaCrypt};
use thiserror::Error;

/// Shortest password the API accepts (Proxmox `minLength`).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password the API accepts (Proxmox `maxLength`).
pub const MAX_PASSWORD_CHARS: usize = 64;

/// Why a new password was refused (the password itself is never part of the message).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Fewer than 8 characters.
    #[error("password is too short (minimum {MIN_PASSWORD_CHARS} characters)")]
    TooShort,
    /// More than 64 characters.
    #[error("password is too long (maximum {MAX_PASSWORD_CHARS} characters)")]
    TooLong,
    /// The hasher failed (not expected with the fixed parameters).
    #[error("cannot hash the password")]
    Hash,
}

/// Check a new password against the API limits (8..=64 characters).
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// Hash a new password as `$5$<8-char salt>$<hash>` (CPU-bound: call from blocking context).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    // 6 random bytes are exactly 8 characters of crypt's base64 alphabet.
    let mut salt = [0u8; 6];
    rand::rng().fill_bytes(&mut salt);
    let mcf = ShaCrypt::SHA256
        .hash_password_customized(password.as_bytes(), &salt, None, None, Params::RECOMMENDED)
        .map_err(|_| PasswordError::Hash)?;
    // The crate spells the default rounds out (`$5$rounds=5000$salt$hash`); glibc and Proxmox
    // omit them. The digest is the same either way.
    let text = mcf.as_str();
    Ok(match text.strip_prefix("$5$rounds=5000$") {
        Some(rest) => format!("$5${rest}"),
        None => text.to_owned(),
    })
}

/// Whether `password` matches the crypt(3) `hash` (CPU-bound: call from blocking context).
/// An empty password never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    if password.is_empty() {
        return false;
    }
    let pw = password.as_bytes();
    if hash.starts_with("$5$") || hash.starts_with("$6$") {
        ShaCrypt::default().verify_password(pw, hash).is_ok()
    } else if hash.starts_with("$y$") {
        yescrypt::Yescrypt::default()
            .verify_password(pw, hash)
            .is_ok()
    } else {
        tracing::warn!("pve realm: unsupported password hash scheme in shadow.cfg");
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_look_like_proxmox_ones_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts.len(), 4, "{hash}");
        assert_eq!(parts[1], "5");
        assert_eq!(parts[2].len(), 8, "salt of {hash}");
        assert_eq!(parts[3].len(), 43, "digest of {hash}");
        assert!(verify("correct horse", &hash));
        assert!(!verify("correct horsf", &hash));
        assert_ne!(
            hash,
            hash_password("correct horse").unwrap(),
            "salts differ"
        );
    }

    #[test]
    fn password_limits() {
        let check = |pw: &str, want: Result<(), PasswordError>| {
            assert_eq!(check_new_password(pw), want, "check_new_password({pw:?})");
        };
        check("1234567", Err(PasswordError::TooShort));
        check("12345678", Ok(()));
        check(&"x".repeat(64), Ok(()));
        check(&"x".repeat(65), Err(PasswordError::TooLong));
        check("äöüäöüäö", Ok(()));
    }

    #[test]
    fn unknown_schemes_and_empty_passwords_never_match() {
        assert!(!verify("", "$5$abcdefgh$x"));
        assert!(!verify("pw", "$1$abc$def"));
        assert!(!verify("pw", "garbage"));
    }
}
