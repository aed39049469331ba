//! CSRF prevention tokens (spec §6.6): `<T>:<S>`, `<T>` = 8 uppercase hex digits (seconds
//! since the epoch), `<S>` = unpadded base64 (43 characters) of HMAC-SHA256 over
//! `"<T>:<userid>"` keyed with the secret in `priv/csrf.key` (32 random bytes, 0600, created
//! on first use). Valid iff the MAC matches for the user and −300 < now − T < 7200. Bound to
//! the user, not to a ticket (as in Proxmox, spec §10.22). Proxmox's legacy 27-character
//! SHA-1 form is not accepted.

use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CLOCK_SKEW, TICKET_LIFETIME, TicketError};
use crate::config::{StateDir, StateError};
use crate::identity::Userid;

/// The server secret that CSRF tokens are keyed with.
#[derive(Clone)]
pub struct CsrfSecret {
    bytes: Zeroizing<[u8; 32]>,
    /// HMAC state after the key was absorbed: cloning it saves two hash blocks per token.
    keyed: Hmac<Sha256>,
}

/// Create a CSRF prevention token for `userid`, stamped `now`.
pub fn create_csrf(secret: &CsrfSecret, userid: &Userid, now: i64) -> Result<String, TicketError> {
    let stamp = u32::try_from(now).map_err(|_| TicketError::BadTime(now))?;
    let stamp = format!("{stamp:08X}");
    let mac = secret.mac(&stamp, userid).finalize().into_bytes();
    Ok(format!("{stamp}:{}", STANDARD_NO_PAD.encode(mac)))
}

/// Whether `token` is a valid CSRF prevention token for `userid` at `now`. The MAC is
/// compared in constant time.
pub fn verify_csrf(secret: &CsrfSecret, token: &str, userid: &Userid, now: i64) -> bool {
    let Some((stamp, mac)) = token.split_once(':') else {
        return false;
    };
    let stamp_ok = stamp.len() == 8
        && stamp
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if !stamp_ok || mac.len() != MAC_LEN {
        return false;
    }
    let Ok(time) = u32::from_str_radix(stamp, 16) else {
        return false;
    };
    let age = now.saturating_sub(i64::from(time));
    if age <= -CLOCK_SKEW || age >= TICKET_LIFETIME {
        return false;
    }
    let Ok(mac) = STANDARD_NO_PAD.decode(mac) else {
        return false;
    };
    secret.mac(stamp, userid).verify_slice(&mac).is_ok()
}

// === impl CsrfSecret ===

impl CsrfSecret {
    /// `<state>/priv/csrf.key`.
    pub fn path(state: &StateDir) -> PathBuf {
        state.priv_dir().join("csrf.key")
    }

    /// Read the secret, creating it (under the state lock, 0600) if it does not exist yet.
    pub fn load_or_create(state: &StateDir) -> Result<CsrfSecret, TicketError> {
        if let Some(secret) = Self::read(state)? {
            return Ok(secret);
        }
        let _lock = state.lock()?;
        if let Some(secret) = Self::read(state)? {
            return Ok(secret);
        }
        let secret = Self::generate();
        state.write_secret(&Self::path(state), secret.bytes.as_slice())?;
        Ok(secret)
    }

    /// A fresh random secret (not stored).
    pub fn generate() -> CsrfSecret {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> CsrfSecret {
        // INVARIANT: HMAC accepts keys of any length.
        let keyed =
            Hmac::<Sha256>::new_from_slice(bytes.as_slice()).expect("hmac takes any key length");
        CsrfSecret { bytes, keyed }
    }

    fn read(state: &StateDir) -> Result<Option<CsrfSecret>, TicketError> {
        let path = Self::path(state);
        let data = match fs::read(&path) {
            Ok(data) => Zeroizing::new(data),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }.into()),
        };
        let bytes: [u8; 32] = data
            .as_slice()
            .try_into()
            .map_err(|_| TicketError::KeyFile {
                path,
                line: 0,
                message: format!("expected 32 bytes, found {}", data.len()),
            })?;
        Ok(Some(Self::from_bytes(Zeroizing::new(bytes))))
    }

    fn mac(&self, stamp: &str, userid: &Userid) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(stamp.as_bytes());
        mac.update(b":");
        mac.update(userid.as_str().as_bytes());
        mac
    }
}

impl fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(..)")
    }
}

/// Unpadded base64 of a 32-byte MAC.
const MAC_LEN: usize = 43;
