//! The two-step login (spec §7.2, §7.3, §7.8): [`challenge_for`] builds the challenge that
//! goes into the TFA-pending half ticket; [`verify_response`] checks the second step's
//! `<type>:<value>` against it, with the lockout counters. Both change the store (pending
//! WebAuthn challenges, counters, `last-count`, spent recovery keys): the caller persists it
//! under the state lock ([`super::TfaStore::modify`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::realm::RealmTfa;
use super::store::TfaStore;
use super::{TfaError, u2f, webauthn, yubico};
use crate::config::datacenter_cfg::{U2fConfig, WebauthnConfig};
use crate::identity::Userid;

/// The challenge of a TFA-pending ticket (kebab-case keys, empty ones omitted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Challenge {
    /// A TOTP code is accepted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub totp: bool,
    /// Indices of the unused recovery keys; `Some([])` when every key of the set is spent
    /// (clients then tell the user to ask an admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Vec<usize>>,
    /// WebAuthn request options (`navigator.credentials.get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<Value>,
    /// U2F challenge (`{challenge: {challenge, appId, version}, keys}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u2f: Option<Value>,
    /// A Yubico OTP is accepted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub yubico: bool,
}

/// What [`verify_response`] needs besides the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyContext<'a> {
    /// The user's realm's enforced TFA.
    pub realm: Option<&'a RealmTfa>,
    /// WebAuthn settings (origin resolved, see [`WebauthnConfig::for_host`]).
    pub webauthn: Option<&'a WebauthnConfig>,
    /// U2F settings.
    pub u2f: Option<&'a U2fConfig>,
}

/// TOTP is locked after this many consecutive TOTP failures.
pub const TOTP_FAILURE_LIMIT: u32 = 8;
/// Every factor is locked after this many consecutive failures...
pub const TFA_FAILURE_LIMIT: u32 = 100;
/// ... for this long (seconds).
pub const TFA_LOCK_SECS: i64 = 3600;

/// The challenge for a user whose password was accepted: `None` = no second factor needed.
/// A realm with enforced TFA and a user without matching factors fails with
/// [`TfaError::MissingKeys`]. A WebAuthn challenge is recorded in the store.
pub fn challenge_for(
    store: &mut TfaStore,
    userid: &Userid,
    realm: Option<&RealmTfa>,
    webauthn_config: Option<&WebauthnConfig>,
    now: i64,
) -> Result<Option<Challenge>, TfaError> {
    challenge_with_u2f(store, userid, realm, webauthn_config, None, now)
}

/// [`challenge_for`] with U2F settings: U2F keys get a U2F challenge (recorded in the store).
pub fn challenge_with_u2f(
    store: &mut TfaStore,
    userid: &Userid,
    realm: Option<&RealmTfa>,
    webauthn_config: Option<&WebauthnConfig>,
    u2f_config: Option<&U2fConfig>,
    now: i64,
) -> Result<Option<Challenge>, TfaError> {
    let Some(user) = store.users.get(userid) else {
        return match realm {
            Some(_) => Err(TfaError::MissingKeys),
            None => Ok(None),
        };
    };
    let recovery = user.recovery.as_ref().map(|r| r.available());
    let has_totp = user.totp.iter().any(|e| e.enable);
    let totp = has_totp && !user.totp_locked;
    let has_yubico = user.yubico.iter().any(|e| e.enable);
    match realm {
        Some(RealmTfa::Oath { .. }) => {
            if !has_totp && recovery.is_none() {
                return Err(TfaError::MissingKeys);
            }
            Ok(Some(Challenge {
                totp,
                recovery,
                ..Challenge::default()
            }))
        }
        Some(RealmTfa::Yubico(_)) => {
            if !has_yubico && recovery.is_none() {
                return Err(TfaError::MissingKeys);
            }
            Ok(Some(Challenge {
                yubico: has_yubico,
                recovery,
                ..Challenge::default()
            }))
        }
        None => {
            if !user.has_enabled() {
                return Ok(None);
            }
            let webauthn = webauthn::auth_challenge(store, userid, webauthn_config, now)?;
            let u2f = u2f::auth_challenge(store, userid, u2f_config, now);
            // Fail closed: a user with only unusable factors (U2F without `u2f:` settings,
            // unreadable keys) gets an empty challenge that nothing can answer.
            Ok(Some(Challenge {
                totp,
                recovery,
                webauthn,
                u2f,
                ..Challenge::default()
            }))
        }
    }
}

/// Check the second step's `response` (`totp:<code>`, `recovery:<key>`, `webauthn:<JSON>`,
/// `u2f:<JSON>`, `yubico:<otp>`) against `challenge` (taken from the verified half
/// ticket). Updates counters and locks (spec §7.8); the caller persists the store either way.
/// Yubico responses make a blocking HTTP request.
pub fn verify_response(
    store: &mut TfaStore,
    userid: &Userid,
    challenge: &Challenge,
    response: &str,
    ctx: &VerifyContext<'_>,
    now: i64,
) -> Result<(), TfaError> {
    let (kind, value) = response
        .split_once(':')
        .ok_or(TfaError::BadResponse("expected '<type>:<value>'".into()))?;
    if let Some(realm) = ctx.realm
        && kind != "recovery"
        && kind != realm.response_type()
    {
        return Err(TfaError::RealmRequires(realm.response_type()));
    }
    let offered = match kind {
        "totp" => challenge.totp,
        "recovery" => challenge.recovery.as_ref().is_some_and(|r| !r.is_empty()),
        "webauthn" => challenge.webauthn.is_some(),
        "yubico" => challenge.yubico,
        "u2f" => challenge.u2f.is_some(),
        _ => {
            return Err(TfaError::BadResponse(format!(
                "unknown response type '{kind}'"
            )));
        }
    };
    if !offered {
        return Err(TfaError::NoSuchChallenge);
    }
    let user = store.users.get(userid).ok_or(TfaError::NoSuchChallenge)?;
    if user.tfa_locked_until.is_some_and(|until| until > now) {
        return Err(TfaError::Locked);
    }
    let result = match kind {
        "totp" => verify_totp(store, userid, value, now),
        "recovery" => verify_recovery(store, userid, value),
        "webauthn" => webauthn::auth_verify(
            store,
            userid,
            challenge.webauthn.as_ref().unwrap_or(&Value::Null),
            value,
            ctx.webauthn,
            now,
        ),
        "u2f" => u2f::auth_verify(
            store,
            userid,
            challenge.u2f.as_ref().unwrap_or(&Value::Null),
            value,
            ctx.u2f,
            now,
        ),
        _ => verify_yubico(store, userid, value, ctx.realm),
    };
    let counters = store.challenges_mut(userid);
    match &result {
        Ok(()) => {
            counters.tfa_failures = 0;
            if matches!(kind, "totp" | "recovery") {
                counters.totp_failures = 0;
            }
        }
        Err(_) => counters.tfa_failures = counters.tfa_failures.saturating_add(1),
    }
    let failures = counters.tfa_failures;
    if let Some(user) = store.users.get_mut(userid) {
        if result.is_ok() {
            user.tfa_locked_until = None;
        } else if failures >= TFA_FAILURE_LIMIT {
            user.tfa_locked_until = Some(now + TFA_LOCK_SECS);
            tracing::warn!(userid = %userid, "tfa: too many failed attempts, all second factors locked");
        }
    }
    store.tidy(userid);
    result
}

fn verify_totp(
    store: &mut TfaStore,
    userid: &Userid,
    code: &str,
    now: i64,
) -> Result<(), TfaError> {
    let user = store
        .users
        .get_mut(userid)
        .ok_or(TfaError::NoSuchChallenge)?;
    if user.totp_locked {
        return Err(TfaError::TotpLocked);
    }
    if user
        .totp
        .iter_mut()
        .filter(|e| e.enable)
        .any(|e| e.entry.verify(code, now))
    {
        return Ok(());
    }
    let counters = store.challenges_mut(userid);
    counters.totp_failures = counters.totp_failures.saturating_add(1);
    if counters.totp_failures >= TOTP_FAILURE_LIMIT
        && let Some(user) = store.users.get_mut(userid)
    {
        user.totp_locked = true;
        tracing::warn!(userid = %userid, "tfa: too many failed totp attempts, totp locked");
    }
    Err(TfaError::Failed)
}

fn verify_recovery(store: &mut TfaStore, userid: &Userid, key: &str) -> Result<(), TfaError> {
    let user = store
        .users
        .get_mut(userid)
        .ok_or(TfaError::NoSuchChallenge)?;
    let ok = user.recovery.as_mut().is_some_and(|r| r.consume(key));
    if !ok {
        return Err(TfaError::Failed);
    }
    // A recovery key is the way out of a TOTP lock.
    user.totp_locked = false;
    Ok(())
}

fn verify_yubico(
    store: &TfaStore,
    userid: &Userid,
    otp: &str,
    realm: Option<&RealmTfa>,
) -> Result<(), TfaError> {
    let Some(RealmTfa::Yubico(server)) = realm else {
        return Err(TfaError::NotConfigured("yubico"));
    };
    let key_id = yubico::key_id(otp)?;
    let user = store.users.get(userid).ok_or(TfaError::NoSuchChallenge)?;
    if !user
        .yubico
        .iter()
        .any(|e| e.enable && e.entry.eq_ignore_ascii_case(&key_id))
    {
        return Err(TfaError::Failed);
    }
    yubico::validate(server, otp).map(|_| ())
}

fn is_false(b: &bool) -> bool {
    !*b
}
