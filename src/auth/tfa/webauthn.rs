//! WebAuthn second factors (spec §7.6) with `webauthn-rs` security keys: registration
//! (challenge + finish) and login (challenge + verify). The server-side state of every
//! challenge is kept in the store under `challenges` and expires after
//! [`super::CHALLENGE_TIMEOUT_SECS`]; each challenge is used at most once.
//!
//! Credentials are stored in tfa.cfg the way proxmox-tfa stores them (`WebauthnCredential`:
//! `{"cred_id", "cred", "counter"}`), so that keys move between Proxmox and aclgate both ways;
//! `backup_eligible` is added when true (Proxmox ignores it; without it a synced passkey
//! would not verify again). Entries in webauthn-rs' own `SecurityKey` layout, as earlier
//! aclgate versions wrote them, are still read.

use std::time::Duration;

use serde_json::{Value, json};
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
        .push_registration(PendingChallenge {
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
    let entry = TfaEntry::new(pending.description, stored(&key)?, now);
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
    store.challenges_mut(userid).push_auth(PendingChallenge {
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
        if let Some(mut key) = key_of(&entry.entry)
            && key.cred_id() == result.cred_id()
        {
            if key.update_credential(&result) == Some(true) {
                entry.entry = stored(&key)?;
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
        .filter_map(|e| match key_of(&e.entry) {
            Some(key) => Some(key),
            None => {
                tracing::warn!(userid = %userid, id = %e.id, "tfa: unusable webauthn entry skipped");
                None
            }
        })
        .collect()
}

/// A key as tfa.cfg keeps it: proxmox-tfa's `WebauthnCredential` (+ `backup_eligible`).
fn stored(key: &SecurityKey) -> Result<Value, TfaError> {
    let full = to_value(key)?;
    let cred = &full["cred"];
    let mut out = json!({
        "cred_id": cred["cred_id"],
        "cred": cred["cred"],
        "counter": cred["counter"],
    });
    if cred["backup_eligible"] == Value::Bool(true) {
        out["backup_eligible"] = Value::Bool(true);
    }
    Ok(out)
}

/// A stored key: proxmox-tfa's layout, completed the way proxmox-tfa completes it (no
/// transports, not user-verified, UV discouraged, no attestation), or webauthn-rs' own.
fn key_of(entry: &Value) -> Option<SecurityKey> {
    let cred = if entry.get("cred_id").is_some() {
        json!({
            "cred_id": entry["cred_id"],
            "cred": entry["cred"],
            "counter": entry["counter"],
            "transports": null,
            "user_verified": false,
            "backup_eligible": entry.get("backup_eligible").and_then(Value::as_bool).unwrap_or(false),
            "backup_state": false,
            "registration_policy": "discouraged",
            "extensions": {},
            "attestation": { "data": "None", "metadata": "None" },
            "attestation_format": "none",
        })
    } else {
        entry.get("cred")?.clone()
    };
    serde_json::from_value(json!({ "cred": cred })).ok()
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
        // A second factor after the password: user presence, no PIN or biometrics asked
        // (Proxmox's `userVerification: "discouraged"`, and no credProtect demand).
        .danger_set_user_presence_only_security_keys(true)
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

#[cfg(test)]
mod tests {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softtoken::SoftToken;
    use webauthn_rs::prelude::CreationChallengeResponse;

    use super::*;
    use crate::config::datacenter_cfg::DatacenterTfa;

    /// A key registered through aclgate, and its stored form.
    fn registered() -> (SecurityKey, Value) {
        let (cfg, _) = DatacenterTfa::parse(
            "webauthn: rp=aclgate,origin=https://pve.example.test,id=pve.example.test\n",
        );
        let cfg = cfg.webauthn.unwrap();
        let alice: Userid = "alice@pve".parse().unwrap();
        let mut store = TfaStore::default();
        let ccr = registration_challenge(&mut store, &alice, "key", &cfg, 1).unwrap();
        let challenge = ccr["publicKey"]["challenge"].as_str().unwrap().to_owned();
        let ccr: CreationChallengeResponse = serde_json::from_value(ccr).unwrap();
        let (mut token, _) = SoftToken::new(true).unwrap();
        let origin = Url::parse("https://pve.example.test").unwrap();
        let reg = serde_json::to_string(&token.do_registration(origin, ccr).unwrap()).unwrap();
        registration_finish(&mut store, &alice, &challenge, &reg, &cfg, 2).unwrap();
        let entry = store.users[&alice].webauthn[0].entry.clone();
        (key_of(&entry).unwrap(), entry)
    }

    #[test]
    fn stored_like_proxmox_and_read_back_in_both_layouts() {
        let (key, entry) = registered();
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cred_id", "cred", "counter"], "{entry}");
        assert_eq!(stored(&key).unwrap(), entry, "stable");
        // webauthn-rs' own layout (written by earlier aclgate versions).
        let own = to_value(&key).unwrap();
        assert!(own["cred"]["attestation"].is_object(), "{own}");
        assert_eq!(
            key_of(&own).map(|k| k.cred_id().clone()),
            Some(key.cred_id().clone())
        );
        // Neither layout: skipped.
        assert!(key_of(&json!({"cred-id": "abc", "cred": {}, "counter": 0})).is_none());
    }

    #[test]
    fn backup_eligibility_is_kept() {
        let (key, _) = registered();
        let mut own = to_value(&key).unwrap();
        own["cred"]["backup_eligible"] = Value::Bool(true);
        let synced = key_of(&own).unwrap();
        let entry = stored(&synced).unwrap();
        assert_eq!(entry["backup_eligible"], true, "{entry}");
        let again = to_value(&key_of(&entry).unwrap()).unwrap();
        assert_eq!(again["cred"]["backup_eligible"], true, "{again}");
    }
}
