//! Yubico OTP (spec §7.7): an OTP of 32..48 characters whose first 12 are the key id,
//! validated online with the Yubico validation protocol 2.0: `GET <url>?id=..&nonce=..&otp=..
//! &timestamp=1&h=<sig>` where `sig` = base64 HMAC-SHA1 (key = base64-decoded API key) over the
//! parameters sorted by name and joined `k=v&k=v`; the answer is `key=value` lines, signed the
//! same way over all lines but `h`. Accepted only with `status=OK`, the same `otp` and `nonce`
//! echoed, and (with an API key) a valid signature.
//!
//! The HTTP client is `ureq` 2 (blocking, rustls with webpki roots): call from a blocking
//! thread (`tokio::task::spawn_blocking`) in async code.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::TfaError;

/// Where and as whom OTPs are validated (the realm's `tfa` property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YubicoServer {
    /// Validation URL (default [`DEFAULT_URL`]).
    pub url: String,
    /// API client id.
    pub id: String,
    /// API key (base64); responses are signature-checked when set.
    pub key: Option<String>,
}

/// Yubico's public validation server.
pub const DEFAULT_URL: &str = "https://api2.yubico.com/wsapi/2.0/verify";

/// The key id (first 12 characters, lowercase) of a well-formed OTP.
pub fn key_id(otp: &str) -> Result<String, TfaError> {
    let otp = otp.trim();
    if !(32..=48).contains(&otp.len()) || !otp.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TfaError::BadYubicoOtp);
    }
    Ok(otp[..12].to_ascii_lowercase())
}

/// Validate `otp` with the server; returns its key id. Does not check that the key belongs
/// to anyone (see [`super::login`]).
pub fn validate(server: &YubicoServer, otp: &str) -> Result<String, TfaError> {
    let otp = otp.trim();
    let key_id = key_id(otp)?;
    let secret = match &server.key {
        Some(k) => Some(
            STANDARD
                .decode(k)
                .map_err(|_| TfaError::Yubico("bad api key".into()))?,
        ),
        None => None,
    };
    let nonce: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut params = BTreeMap::new();
    params.insert("id", server.id.clone());
    params.insert("nonce", nonce.clone());
    params.insert("otp", otp.to_owned());
    params.insert("timestamp", "1".to_owned());
    let mut query = join(params.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(secret) = &secret {
        let sig = sign(secret, &query);
        let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
        query.push_str("&h=");
        query.push_str(&sig);
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let body = agent
        .get(&format!("{}?{query}", server.url))
        .call()
        .map_err(|e| {
            TfaError::Yubico(format!(
                "validation server: {}",
                redact(&e.to_string(), otp)
            ))
        })?
        .into_string()
        .map_err(|e| TfaError::Yubico(e.to_string()))?;
    let mut answer: BTreeMap<String, String> = BTreeMap::new();
    for line in body.lines() {
        if let Some((k, v)) = line.split_once('=')
            && !k.is_empty()
            && !k.contains(char::is_whitespace)
        {
            answer.insert(
                k.to_owned(),
                v.chars().filter(|c| !c.is_whitespace()).collect(),
            );
        }
    }
    let their_sig = answer.remove("h");
    if let Some(secret) = &secret {
        let text = join(answer.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let ours = sign(secret, &text);
        let ok = their_sig.is_some_and(|s| bool::from(s.as_bytes().ct_eq(ours.as_bytes())));
        if !ok {
            return Err(TfaError::Yubico(
                "response signature verification failed".into(),
            ));
        }
    }
    let status = answer.get("status").map_or("missing", String::as_str);
    if status != "OK" {
        return Err(TfaError::Yubico(format!("status '{status}'")));
    }
    if answer.get("otp").map(String::as_str) != Some(otp) {
        return Err(TfaError::Yubico("response for another otp".into()));
    }
    if answer.get("nonce") != Some(&nonce) {
        return Err(TfaError::Yubico("response for another nonce".into()));
    }
    Ok(key_id)
}

/// Base64 HMAC-SHA1 of `text` under `secret` (the protocol's `h`).
pub fn sign(secret: &[u8], text: &str) -> String {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("any key size");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn join<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Error texts from the client may quote the URL: keep the OTP out of messages.
fn redact(text: &str, otp: &str) -> String {
    text.replace(otp, "<otp>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_takes_first_twelve_lowercase() {
        let otp = "ccccccbcgujhingjrdejhgfnuetrgigvejhhgbkugded";
        assert_eq!(key_id(otp).unwrap(), "ccccccbcgujh");
        assert_eq!(key_id(&otp.to_uppercase()).unwrap(), "ccccccbcgujh");
        for bad in [
            "short",
            &"c".repeat(31),
            &"c".repeat(49),
            &format!("{}!", "c".repeat(40)),
        ] {
            assert!(key_id(bad).is_err(), "{bad}");
        }
    }
}
