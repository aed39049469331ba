//! TOTP entries (spec §7.4): `otpauth://totp/<label>?secret=..[&digits][&period][&algorithm]
//! [&issuer]` URIs, codes per RFC 6238 computed by `totp-rs`, a −1..+1 step window and replay
//! protection through the entry's `last-count`.
//!
//! In tfa.cfg an entry is the URI string, or `{"totp": URI, "last-count": N}` once used.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret};

use super::TfaError;

/// A TOTP secret and its parameters, with the last accepted step.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEntry {
    /// The URI as given (written back unchanged).
    uri: String,
    secret: Vec<u8>,
    digits: u8,
    period: u64,
    algorithm: Algorithm,
    /// The last accepted step counter; only later steps are accepted.
    pub last_count: Option<i64>,
}

// === impl TotpEntry ===

impl TotpEntry {
    /// Parse an `otpauth://totp/` URI. Unknown query keys, a bad secret, digits outside 6..=8
    /// or a zero period are refused.
    pub fn parse(uri: &str) -> Result<TotpEntry, TfaError> {
        let bad = |why: &str| TfaError::BadTotp(why.to_owned());
        let url = url::Url::parse(uri).map_err(|_| bad("not a URI"))?;
        if url.scheme() != "otpauth" || url.host_str() != Some("totp") {
            return Err(bad("not an 'otpauth://totp/' URI"));
        }
        let (mut secret, mut digits, mut period, mut algorithm) =
            (None, 6u8, 30u64, Algorithm::SHA1);
        for (key, value) in url.query_pairs() {
            match &*key {
                "secret" => {
                    let s =
                        Secret::try_from_base32(value.trim_end_matches('=').to_ascii_uppercase())
                            .map_err(|_| bad("secret is not base32"))?;
                    secret = Some(s.as_ref().to_vec());
                }
                "digits" => {
                    digits = value.parse().map_err(|_| bad("bad digits"))?;
                    if !(6..=8).contains(&digits) {
                        return Err(bad("digits must be 6..8"));
                    }
                }
                "period" => {
                    period = value.parse().map_err(|_| bad("bad period"))?;
                    if period == 0 {
                        return Err(bad("period must be positive"));
                    }
                }
                "algorithm" => {
                    algorithm = match value.to_ascii_uppercase().as_str() {
                        "SHA1" => Algorithm::SHA1,
                        "SHA256" => Algorithm::SHA256,
                        "SHA512" => Algorithm::SHA512,
                        _ => return Err(bad("unknown algorithm")),
                    }
                }
                "issuer" => {}
                other => return Err(TfaError::BadTotp(format!("unknown parameter '{other}'"))),
            }
        }
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("missing secret"))?;
        Ok(TotpEntry {
            uri: uri.to_owned(),
            secret,
            digits,
            period,
            algorithm,
            last_count: None,
        })
    }

    /// An entry from raw secret bytes (legacy `oath` realm keys).
    pub fn from_secret(
        secret: &[u8],
        digits: u8,
        period: u64,
        label: &str,
    ) -> Result<TotpEntry, TfaError> {
        let b32 = Secret::from(secret.to_vec()).to_base32();
        let label: String = url::form_urlencoded::byte_serialize(label.as_bytes()).collect();
        let uri = format!(
            "otpauth://totp/{label}?secret={}&digits={digits}&period={period}&algorithm=SHA1",
            b32.trim_end_matches('=')
        );
        TotpEntry::parse(&uri)
    }

    /// The URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The code for step `counter`.
    pub fn code(&self, counter: i64) -> String {
        let step = u64::try_from(counter).unwrap_or(0);
        Builder::new()
            .with_algorithm(self.algorithm)
            .with_digits(self.digits)
            .with_step_duration(self.period)
            .with_skew(0)
            .with_secret(self.secret.clone())
            .build_noncompliant()
            .generate(step.saturating_mul(self.period))
            .to_string()
    }

    /// The step counter at `now`.
    pub fn counter(&self, now: i64) -> i64 {
        now.max(0) / i64::try_from(self.period).unwrap_or(i64::MAX)
    }

    /// The step whose code is `code` within −1..+1 steps of `now`, if any (ignoring
    /// `last-count`).
    pub fn matching_step(&self, code: &str, now: i64) -> Option<i64> {
        let code = code.trim();
        if code.len() != usize::from(self.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = self.counter(now);
        (current - 1..=current + 1)
            .filter(|&c| c >= 0)
            .find(|&c| bool::from(self.code(c).as_bytes().ct_eq(code.as_bytes())))
    }

    /// Check `code` at `now`: a matching step after `last-count` is accepted and recorded.
    pub fn verify(&mut self, code: &str, now: i64) -> bool {
        match self.matching_step(code, now) {
            Some(step) if self.last_count.is_none_or(|last| step > last) => {
                self.last_count = Some(step);
                true
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for TotpEntry {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEntry")
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("last_count", &self.last_count)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Uri(String),
    WithCount {
        totp: String,
        #[serde(rename = "last-count", default)]
        last_count: Option<i64>,
    },
}

impl Serialize for TotpEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.last_count {
            None => Stored::Uri(self.uri.clone()),
            Some(n) => Stored::WithCount {
                totp: self.uri.clone(),
                last_count: Some(n),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for TotpEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (uri, last_count) = match Stored::deserialize(d)? {
            Stored::Uri(uri) => (uri, None),
            Stored::WithCount { totp, last_count } => (totp, last_count),
        };
        let mut entry = TotpEntry::parse(&uri).map_err(serde::de::Error::custom)?;
        entry.last_count = last_count;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector_in_six_digits() {
        // RFC 6238 Appendix B, T = 59: 94287082 (8 digits).
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let e = TotpEntry::parse(&format!("otpauth://totp/x?secret={secret}&digits=8")).unwrap();
        assert_eq!(e.code(e.counter(59)), "94287082");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        for uri in [
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&foo=1",
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9",
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
            "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
            "otpauth://totp/x?digits=6",
            "otpauth://totp/x?secret=!!",
        ] {
            assert!(TotpEntry::parse(uri).is_err(), "{uri} should be refused");
        }
    }
}
