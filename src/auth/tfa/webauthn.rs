//! WebAuthn second factors (spec §7.6) with `webauthn-rs` security keys: registration
//! (challenge + finish) and login (challenge + verify). The server-side state of every
//! challenge is kept in the store under `challenges` and expires after
//! [`super::CHALLENGE_TIMEOUT_SECS`]; each challenge is used at most once.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::store::{PendingChallenge, TfaEntry, TfaStore};
use super::{CHALLENGE_TIMEOUT_SECS, TfaError};
use crate::config::datacenter_cfg::WebauthnConfig;
use crate::identity::Userid;

/// Start registering a security key: returns the `CreationChallengeResponse` JSON for the
/// client (`navigator.credentials.create`). The caller persists the store.
pub fn registration_challenge(
    store: &mut TfaStore,
    userid: &Userid,
    description: &str,
    config: &WebauthnConfig,
    now: i64,
) -> Result<Value, TfaError> {
    let wa = instance(config)?;
    let exclude: Vec<_> = enabled_keys(store, userid)
        .iter()
        .map(|k| k.cred_id().clone())
        .collect();
    let (ccr, state) = wa
        .start_securitykey_registration(
            user_uuid(userid),
            userid.as_str(),
            userid.as_str(),
            Some(exclude),
            None,
            None,
        )
        .map_err(webauthn_error)?;
    let ccr = to_value(&ccr)?;
    let challenge = challenge_text(&ccr)?;
    store.expire_challenges(now);
    store
        .challenges_mut(userid)
        .webauthn_registrations
        .push(PendingChallenge {
            challenge,
            created: now,
            description: description.to_owned(),
            state: to_value(&state)?,
        });
    Ok(ccr)
}

/// Finish a registration: `challenge` is the challenge text (`publicKey.challenge` of the
/// registration challenge), `response` the client's `RegisterPublicKeyCredential` JSON.
/// Returns the new entry's id. The pending challenge is consumed even on failure.
pub fn registration_finish(
    store: &mut TfaStore,
    userid: &Userid,
    challenge: &str,
    response: &str,
    config: &WebauthnConfig,
    now: i64,
) -> Result<String, TfaError> {
    let wa = instance(config)?;
    store.expire_challenges(now);
    let pending = take_pending(store, userid, challenge, true).ok_or(TfaError::NoSuchChallenge)?;
    let state: SecurityKeyRegistration =
        serde_json::from_value(pending.state).map_err(|_| TfaError::NoSuchChallenge)?;
    let response: RegisterPublicKeyCredential =
        serde_json::from_str(response).map_err(|e| TfaError::BadResponse(e.to_string()))?;
    let key = wa
        .finish_securitykey_registration(&response, &state)
        .map_err(webauthn_error)?;
    let entry = TfaEntry::new(pending.description, to_value(&key)?, now);
    let id = entry.id.clone();
    store
        .users
        .entry(userid.clone())
        .or_default()
        .webauthn
        .push(entry);
    Ok(id)
}

/// A login challenge over the user's enabled keys (`RequestChallengeResponse` JSON), or
/// `None` without usable keys or without WebAuthn configuration.
pub fn auth_challenge(
    store: &mut TfaStore,
    userid: &Userid,
    config: Option<&WebauthnConfig>,
    now: i64,
) -> Result<Option<Value>, TfaError> {
    let Some(config) = config else {
        return Ok(None);
    };
    let keys = enabled_keys(store, userid);
    if keys.is_empty() {
        return Ok(None);
    }
    let wa = instance(config)?;
    let (rcr, state) = wa
        .start_securitykey_authentication(&keys)
        .map_err(webauthn_error)?;
    let rcr = to_value(&rcr)?;
    store.expire_challenges(now);
    store
        .challenges_mut(userid)
        .webauthn_auths
        .push(PendingChallenge {
            challenge: challenge_text(&rcr)?,
            created: now,
            description: String::new(),
            state: to_value(&state)?,
        });
    Ok(Some(rcr))
}

/// Verify a login response against the challenge that was sent (from the signed half
/// ticket). The pending challenge is consumed; the key's counter is updated on success.
pub fn auth_verify(
    store: &mut TfaStore,
    userid: &Userid,
    sent: &Value,
    response: &str,
    config: Option<&WebauthnConfig>,
    now: i64,
) -> Result<(), TfaError> {
    let config = config.ok_or(TfaError::NotConfigured("webauthn"))?;
    let wa = instance(config)?;
    let challenge = challenge_text(sent)?;
    store.expire_challenges(now);
    let pending =
        take_pending(store, userid, &challenge, false).ok_or(TfaError::NoSuchChallenge)?;
    let state: SecurityKeyAuthentication =
        serde_json::from_value(pending.state).map_err(|_| TfaError::NoSuchChallenge)?;
    let response: PublicKeyCredential =
        serde_json::from_str(response).map_err(|e| TfaError::BadResponse(e.to_string()))?;
    let result = wa
        .finish_securitykey_authentication(&response, &state)
        .map_err(webauthn_error)?;
    let user = store
        .users
        .get_mut(userid)
        .ok_or(TfaError::NoSuchChallenge)?;
    for entry in user.webauthn.iter_mut().filter(|e| e.enable) {
        if let Ok(mut key) = serde_json::from_value::<SecurityKey>(entry.entry.clone())
            && key.cred_id() == result.cred_id()
        {
            if key.update_credential(&result) == Some(true) {
                entry.entry = to_value(&key)?;
            }
            return Ok(());
        }
    }
    Err(TfaError::Failed)
}

/// The user's enabled keys that aclgate can read (others are skipped with a warning).
fn enabled_keys(store: &TfaStore, userid: &Userid) -> Vec<SecurityKey> {
    let Some(user) = store.users.get(userid) else {
        return Vec::new();
    };
    user.webauthn
        .iter()
        .filter(|e| e.enable)
        .filter_map(|e| match serde_json::from_value(e.entry.clone()) {
            Ok(key) => Some(key),
            Err(_) => {
                tracing::warn!(userid = %userid, id = %e.id, "tfa: unusable webauthn entry skipped");
                None
            }
        })
        .collect()
}

fn take_pending(
    store: &mut TfaStore,
    userid: &Userid,
    challenge: &str,
    registration: bool,
) -> Option<PendingChallenge> {
    let ch = store.challenges.get_mut(userid)?;
    let list = if registration {
        &mut ch.webauthn_registrations
    } else {
        &mut ch.webauthn_auths
    };
    let pos = list.iter().position(|p| p.challenge == challenge)?;
    let out = list.remove(pos);
    store.tidy(userid);
    Some(out)
}

fn instance(config: &WebauthnConfig) -> Result<Webauthn, TfaError> {
    let origin = config
        .origin
        .as_deref()
        .and_then(|o| Url::parse(o).ok())
        .ok_or(TfaError::NotConfigured("webauthn origin"))?;
    let secs = u64::try_from(CHALLENGE_TIMEOUT_SECS).unwrap_or(120);
    WebauthnBuilder::new(&config.id, &origin)
        .map_err(webauthn_error)?
        .rp_name(&config.rp)
        .allow_subdomains(config.allow_subdomains)
        .timeout(Duration::from_secs(secs))
        .build()
        .map_err(webauthn_error)
}

/// A stable per-user handle (WebAuthn wants 16 bytes, not the name).
fn user_uuid(userid: &Userid) -> Uuid {
    let digest = Sha256::digest(userid.as_str().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn challenge_text(options: &Value) -> Result<String, TfaError> {
    options
        .pointer("/publicKey/challenge")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(TfaError::NoSuchChallenge)
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, TfaError> {
    serde_json::to_value(v).map_err(|e| TfaError::Config(e.to_string()))
}

fn webauthn_error(e: webauthn_rs::prelude::WebauthnError) -> TfaError {
    TfaError::Webauthn(e.to_string())
}
