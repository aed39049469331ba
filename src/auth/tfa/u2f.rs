//! FIDO U2F second factors (spec §7.6; datacenter.cfg `u2f: appid=...[,origin=...]`):
//! registration (challenge, then the device's registration response) and login, with the
//! entries in proxmox-tfa's tfa.cfg layout:
//!
//! ```json
//! { "key": { "keyHandle": "<base64url>", "version": "U2F_V2" },
//!   "public-key": "<base64, 65-byte P-256 point>", "certificate": "<base64 DER>",
//!   "counter": 17 }
//! ```
//! `counter` is aclgate's addition (proxmox-tfa ignores unknown keys there): the highest
//! signature counter seen. A response whose counter is not above it is refused, so a cloned
//! key that lags behind the original cannot log in.
//!
//! A login response (`u2f:<JSON>`) is either the U2F API's `{keyHandle, clientData,
//! signatureData}` or a WebAuthn assertion made with the `appid` extension (browsers no longer
//! offer the U2F API; `navigator.credentials.get` with `extensions: {appid}` makes a
//! U2F-registered key sign the same bytes: SHA-256(appid) ‖ flags ‖ counter ‖
//! SHA-256(client data)).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::TfaError;
use super::store::{PendingChallenge, TfaEntry, TfaStore};
use crate::config::datacenter_cfg::U2fConfig;
use crate::identity::Userid;

/// The only U2F protocol version.
pub const U2F_VERSION: &str = "U2F_V2";

/// User presence flag of the signed flags byte.
const USER_PRESENT: u8 = 0x01;

/// Start a registration: the challenge JSON text for `u2f.register`
/// (`{"challenge", "version", "appId"}`), recorded as pending. The caller persists the store.
pub fn registration_challenge(
    store: &mut TfaStore,
    userid: &Userid,
    description: &str,
    config: &U2fConfig,
    now: i64,
) -> String {
    let text = json!({
        "challenge": random_challenge(),
        "version": U2F_VERSION,
        "appId": config.appid,
    })
    .to_string();
    store.expire_challenges(now);
    store.challenges_mut(userid).push_u2f(
        PendingChallenge {
            challenge: text.clone(),
            created: now,
            description: description.to_owned(),
            state: Value::Null,
        },
        true,
    );
    text
}

/// Finish a registration: `challenge` is the text [`registration_challenge`] returned,
/// `response` the device's `{registrationData, clientData, version}`. Returns the entry id.
/// The pending challenge is consumed even on failure.
pub fn registration_finish(
    store: &mut TfaStore,
    userid: &Userid,
    challenge: &str,
    response: &str,
    config: &U2fConfig,
    now: i64,
) -> Result<String, TfaError> {
    store.expire_challenges(now);
    let pending = take_pending(store, userid, |p| p.challenge == challenge, true)
        .ok_or(TfaError::NoSuchChallenge)?;
    let sent: Value =
        serde_json::from_str(&pending.challenge).map_err(|_| TfaError::NoSuchChallenge)?;
    let response: Value =
        serde_json::from_str(response).map_err(|_| bad("response is not JSON"))?;
    let client_data = decode(field(&response, "clientData")?)?;
    check_client_data(
        &client_data,
        &sent["challenge"],
        "navigator.id.finishEnrollment",
        config,
    )?;
    let raw = decode(field(&response, "registrationData")?)?;
    let reg = parse_registration(&raw)?;
    // The attestation signature: 0x00 ‖ SHA-256(appid) ‖ SHA-256(client data) ‖ key handle ‖
    // public key, by the attestation certificate's key.
    let mut signed = vec![0u8];
    signed.extend_from_slice(&Sha256::digest(config.appid.as_bytes()));
    signed.extend_from_slice(&Sha256::digest(&client_data));
    signed.extend_from_slice(reg.key_handle);
    signed.extend_from_slice(reg.public_key);
    verify_signature(&reg.attestation_key, &signed, reg.signature)?;
    point(reg.public_key)?;
    let handle = URL_SAFE_NO_PAD.encode(reg.key_handle);
    if store.users.get(userid).is_some_and(|u| {
        u.u2f
            .iter()
            .any(|e| e.entry["key"]["keyHandle"] == handle.as_str())
    }) {
        return Err(bad("this key is already registered"));
    }
    let version = response["version"].as_str().unwrap_or(U2F_VERSION);
    let entry = json!({
        "key": { "keyHandle": handle, "version": version },
        "public-key": STANDARD.encode(reg.public_key),
        "certificate": STANDARD.encode(reg.certificate),
    });
    let entry = TfaEntry::new(pending.description, entry, now);
    let id = entry.id.clone();
    store
        .users
        .entry(userid.clone())
        .or_default()
        .u2f
        .push(entry);
    Ok(id)
}

/// A login challenge over the user's enabled U2F keys (`{challenge: {challenge, appId,
/// version}, keys: [{keyHandle, version}]}`, proxmox-tfa's `U2fChallenge`), or `None` without
/// keys or configuration.
pub fn auth_challenge(
    store: &mut TfaStore,
    userid: &Userid,
    config: Option<&U2fConfig>,
    now: i64,
) -> Option<Value> {
    let config = config?;
    let keys: Vec<Value> = store
        .users
        .get(userid)?
        .u2f
        .iter()
        .filter(|e| e.enable)
        .map(|e| e.entry["key"].clone())
        .collect();
    if keys.is_empty() {
        return None;
    }
    let challenge = random_challenge();
    store.expire_challenges(now);
    store.challenges_mut(userid).push_u2f(
        PendingChallenge {
            challenge: challenge.clone(),
            created: now,
            description: String::new(),
            state: json!(config.appid),
        },
        false,
    );
    Some(json!({
        "challenge": { "challenge": challenge, "appId": config.appid, "version": U2F_VERSION },
        "keys": keys,
    }))
}

/// Verify a login response against the challenge that was sent (from the signed half
/// ticket). The pending challenge is consumed; the key's counter is raised on success.
pub fn auth_verify(
    store: &mut TfaStore,
    userid: &Userid,
    sent: &Value,
    response: &str,
    config: Option<&U2fConfig>,
    now: i64,
) -> Result<(), TfaError> {
    let config = config.ok_or(TfaError::NotConfigured("u2f"))?;
    let challenge = sent["challenge"]["challenge"]
        .as_str()
        .ok_or(TfaError::NoSuchChallenge)?;
    store.expire_challenges(now);
    take_pending(store, userid, |p| p.challenge == challenge, false)
        .ok_or(TfaError::NoSuchChallenge)?;
    let response: Value =
        serde_json::from_str(response).map_err(|_| bad("response is not JSON"))?;
    let signed = signed_assertion(&response, challenge, config)?;
    let user = store
        .users
        .get_mut(userid)
        .ok_or(TfaError::NoSuchChallenge)?;
    let entry = user
        .u2f
        .iter_mut()
        .filter(|e| e.enable)
        .find(|e| {
            e.entry["key"]["keyHandle"]
                .as_str()
                .is_some_and(|h| same_handle(h, &signed.key_handle))
        })
        .ok_or(TfaError::Failed)?;
    let public_key = entry.entry["public-key"].as_str().ok_or(TfaError::Failed)?;
    let key = point(&STANDARD.decode(public_key).map_err(|_| TfaError::Failed)?)?;
    verify_signature(&key, &signed.message, &signed.signature)?;
    if signed.flags & USER_PRESENT == 0 {
        return Err(TfaError::Failed);
    }
    let stored = entry.entry["counter"].as_u64().unwrap_or(0);
    if (signed.counter != 0 || stored != 0) && u64::from(signed.counter) <= stored {
        tracing::warn!(
            userid = %userid, id = %entry.id,
            "tfa: u2f counter did not increase, possibly a cloned key"
        );
        return Err(TfaError::Failed);
    }
    entry.entry["counter"] = json!(signed.counter);
    Ok(())
}

/// What a login response signed, in either form.
struct SignedAssertion {
    key_handle: Vec<u8>,
    flags: u8,
    counter: u32,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// Parse a U2F sign response or a WebAuthn assertion (appid extension) and rebuild the bytes
/// the key signed, after checking the client data (challenge, origin, type) and, for
/// WebAuthn, that the assertion was made for the AppID.
fn signed_assertion(
    response: &Value,
    challenge: &str,
    config: &U2fConfig,
) -> Result<SignedAssertion, TfaError> {
    let appid_hash = Sha256::digest(config.appid.as_bytes());
    if let Some(inner) = response.get("response").filter(|r| r.is_object()) {
        // WebAuthn: authenticatorData = rpIdHash ‖ flags ‖ counter ‖ ..., signed with the
        // hash of clientDataJSON.
        let key_handle = decode(
            response["rawId"]
                .as_str()
                .or_else(|| response["id"].as_str())
                .ok_or_else(|| bad("missing 'id'"))?,
        )?;
        let client_data = decode(field(inner, "clientDataJSON")?)?;
        check_client_data(&client_data, &json!(challenge), "webauthn.get", config)?;
        let auth_data = decode(field(inner, "authenticatorData")?)?;
        if auth_data.len() < 37 || auth_data[..32] != appid_hash[..] {
            return Err(bad("assertion was not made for the u2f appid"));
        }
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        return Ok(SignedAssertion {
            key_handle,
            flags: auth_data[32],
            counter: u32::from_be_bytes([
                auth_data[33],
                auth_data[34],
                auth_data[35],
                auth_data[36],
            ]),
            message,
            signature: decode(field(inner, "signature")?)?,
        });
    }
    let key_handle = decode(field(response, "keyHandle")?)?;
    let client_data = decode(field(response, "clientData")?)?;
    check_client_data(
        &client_data,
        &json!(challenge),
        "navigator.id.getAssertion",
        config,
    )?;
    let data = decode(field(response, "signatureData")?)?;
    if data.len() < 5 + 8 {
        return Err(bad("signature data too short"));
    }
    let mut message = appid_hash.to_vec();
    message.extend_from_slice(&data[..5]);
    message.extend_from_slice(&Sha256::digest(&client_data));
    Ok(SignedAssertion {
        key_handle,
        flags: data[0],
        counter: u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
        message,
        signature: data[5..].to_vec(),
    })
}

/// The client data must name the challenge we sent and our origin (the AppID unless
/// `origin` is set); a `typ`/`type`, when present, must be the expected one.
fn check_client_data(
    client_data: &[u8],
    challenge: &Value,
    kind: &str,
    config: &U2fConfig,
) -> Result<(), TfaError> {
    let data: Value =
        serde_json::from_slice(client_data).map_err(|_| bad("client data is not JSON"))?;
    let challenge = challenge.as_str().ok_or(TfaError::NoSuchChallenge)?;
    if data["challenge"].as_str() != Some(challenge) {
        return Err(bad("challenge did not match"));
    }
    let origin = config.origin.as_deref().unwrap_or(&config.appid);
    if data["origin"].as_str() != Some(origin) {
        return Err(bad("origin did not match"));
    }
    let typ = data.get("typ").or_else(|| data.get("type"));
    if typ.is_some_and(|t| t.as_str() != Some(kind)) {
        return Err(bad("wrong client data type"));
    }
    Ok(())
}

/// A registration message: 0x05 ‖ public key (65) ‖ handle length ‖ handle ‖ X.509
/// certificate (DER) ‖ signature (DER).
struct RegistrationData<'a> {
    public_key: &'a [u8],
    key_handle: &'a [u8],
    certificate: &'a [u8],
    signature: &'a [u8],
    attestation_key: VerifyingKey,
}

fn parse_registration(data: &[u8]) -> Result<RegistrationData<'_>, TfaError> {
    if data.len() < 67 || data[0] != 0x05 {
        return Err(bad("invalid registration data"));
    }
    let public_key = &data[1..66];
    let handle_len = usize::from(data[66]);
    let rest = &data[67..];
    if rest.len() <= handle_len {
        return Err(bad("registration data too short"));
    }
    let (key_handle, rest) = rest.split_at(handle_len);
    let (signature, cert) = x509_parser::parse_x509_certificate(rest)
        .map_err(|_| bad("invalid attestation certificate"))?;
    let certificate = &rest[..rest.len() - signature.len()];
    let attestation_key = point(&cert.public_key().subject_public_key.data)
        .map_err(|_| bad("attestation certificate has no P-256 key"))?;
    Ok(RegistrationData {
        public_key,
        key_handle,
        certificate,
        signature,
        attestation_key,
    })
}

fn point(bytes: &[u8]) -> Result<VerifyingKey, TfaError> {
    VerifyingKey::from_sec1_bytes(bytes).map_err(|_| bad("invalid public key"))
}

fn verify_signature(key: &VerifyingKey, message: &[u8], der: &[u8]) -> Result<(), TfaError> {
    let signature = Signature::from_der(der).map_err(|_| TfaError::Failed)?;
    key.verify(message, &signature)
        .map_err(|_| TfaError::Failed)
}

fn take_pending(
    store: &mut TfaStore,
    userid: &Userid,
    matches: impl Fn(&PendingChallenge) -> bool,
    registration: bool,
) -> Option<PendingChallenge> {
    let ch = store.challenges.get_mut(userid)?;
    let list = if registration {
        &mut ch.u2f_registrations
    } else {
        &mut ch.u2f_auths
    };
    let out = list.remove(list.iter().position(matches)?);
    store.tidy(userid);
    Some(out)
}

fn same_handle(stored: &str, handle: &[u8]) -> bool {
    decode(stored).is_ok_and(|h| h == handle)
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, TfaError> {
    v[name]
        .as_str()
        .ok_or_else(|| bad(&format!("missing '{name}'")))
}

/// base64url, padded or not (clients differ).
fn decode(text: &str) -> Result<Vec<u8>, TfaError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| bad("invalid base64url"))
}

fn random_challenge() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn bad(message: &str) -> TfaError {
    TfaError::BadResponse(message.to_owned())
}
