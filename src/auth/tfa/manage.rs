//! Adding second factors (the `POST /access/tfa/{userid}` cases, spec §7.9) and keeping
//! user.cfg `keys` in step: the first entry sets `x`, removing the last clears it.
//! WebAuthn registration is in [`super::webauthn`]; listing, deleting and unlocking on
//! [`super::TfaStore`].

use super::TfaError;
use super::recovery::Recovery;
use super::store::{TfaEntry, TfaStore};
use super::totp::TotpEntry;
use super::yubico::{self, YubicoServer};
use crate::config::user_cfg::User;
use crate::identity::Userid;

/// Add a TOTP entry: `uri` is the otpauth URI, `code` a currently valid code (so the user
/// proves the authenticator has the secret). Returns the entry id.
pub fn add_totp(
    store: &mut TfaStore,
    userid: &Userid,
    description: &str,
    uri: &str,
    code: &str,
    now: i64,
) -> Result<String, TfaError> {
    check_description(description)?;
    let mut entry = TotpEntry::parse(uri)?;
    if !entry.verify(code, now) {
        return Err(TfaError::Failed);
    }
    let entry = TfaEntry::new(description.to_owned(), entry, now);
    let id = entry.id.clone();
    store
        .users
        .entry(userid.clone())
        .or_default()
        .totp
        .push(entry);
    Ok(id)
}

/// Add the user's set of recovery keys; returns the 10 keys (show them once). A second set
/// is refused.
pub fn add_recovery(
    store: &mut TfaStore,
    userid: &Userid,
    now: i64,
) -> Result<Vec<String>, TfaError> {
    let user = store.users.entry(userid.clone()).or_default();
    if user.recovery.is_some() {
        return Err(TfaError::RecoveryExists);
    }
    let (set, keys) = Recovery::generate(now);
    user.recovery = Some(set);
    Ok(keys)
}

/// Add a Yubico key from one of its OTPs (the key id is stored). With a `server` the OTP is
/// validated online first. Returns the entry id.
pub fn add_yubico(
    store: &mut TfaStore,
    userid: &Userid,
    description: &str,
    otp: &str,
    server: Option<&YubicoServer>,
    now: i64,
) -> Result<String, TfaError> {
    check_description(description)?;
    let key_id = match server {
        Some(server) => yubico::validate(server, otp)?,
        None => yubico::key_id(otp)?,
    };
    let entry = TfaEntry::new(description.to_owned(), key_id, now);
    let id = entry.id.clone();
    store
        .users
        .entry(userid.clone())
        .or_default()
        .yubico
        .push(entry);
    Ok(id)
}

/// Bring user.cfg `keys` in line with the store: `x` when the user has entries (unless it
/// holds legacy keys not yet imported... which only happens before any tfa.cfg entry), empty
/// when the marker `x` is left without entries. Returns whether `keys` changed.
pub fn sync_keys(store: &TfaStore, userid: &Userid, user: &mut User) -> bool {
    let has = store.users.get(userid).is_some_and(|u| !u.is_empty());
    let want = if has {
        "x"
    } else if user.keys == "x" {
        ""
    } else {
        return false;
    };
    if user.keys == want {
        return false;
    }
    user.keys = want.to_owned();
    true
}

fn check_description(description: &str) -> Result<(), TfaError> {
    if description.trim().is_empty() || description.len() > 255 {
        return Err(TfaError::BadDescription);
    }
    Ok(())
}
