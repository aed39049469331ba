//! Realm-enforced TFA (spec §7.2): the `tfa` property of a realm (`type=oath|yubico
//! [,digits=6..8][,step=N][,id=..][,key=..][,url=..]`) and the import of legacy secrets from
//! user.cfg `keys` into tfa.cfg (after which `keys` is the marker `x`).

use totp_rs::Secret;

use super::TfaError;
use super::store::{TfaEntry, TfaStore};
use super::totp::TotpEntry;
use super::yubico::{DEFAULT_URL, YubicoServer};
use crate::config::RealmConfig;
use crate::identity::Userid;

/// What a realm enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmTfa {
    /// TOTP (`type=oath`): legacy keys use these digits and step.
    Oath {
        /// Code length (default 6).
        digits: u8,
        /// Step in seconds (default 30).
        step: u64,
    },
    /// Yubico OTP (`type=yubico`), validated against this server.
    Yubico(YubicoServer),
}

// === impl RealmTfa ===

impl RealmTfa {
    /// The realm's enforced TFA, if its `tfa` option is set.
    pub fn of_realm(realm: &RealmConfig) -> Result<Option<RealmTfa>, TfaError> {
        realm.option("tfa").map(RealmTfa::parse).transpose()
    }

    /// Parse a `tfa` property string.
    pub fn parse(text: &str) -> Result<RealmTfa, TfaError> {
        let bad = |why: String| TfaError::Config(format!("realm tfa: {why}"));
        let (mut kind, mut digits, mut step) = (None, 6u8, 30u64);
        let (mut id, mut key, mut url) = (None, None, None);
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or(("type", part));
            let v = v.trim();
            match k.trim() {
                "type" => kind = Some(v.to_owned()),
                "digits" => {
                    digits = v.parse().map_err(|_| bad(format!("bad digits '{v}'")))?;
                    if !(6..=8).contains(&digits) {
                        return Err(bad(format!("bad digits '{v}'")));
                    }
                }
                "step" => {
                    step = v.parse().map_err(|_| bad(format!("bad step '{v}'")))?;
                    if step < 10 {
                        return Err(bad(format!("bad step '{v}'")));
                    }
                }
                "id" => id = Some(v.to_owned()),
                "key" => key = Some(v.to_owned()),
                "url" => url = Some(v.to_owned()),
                other => return Err(bad(format!("unknown property '{other}'"))),
            }
        }
        match kind.as_deref() {
            Some("oath") => Ok(RealmTfa::Oath { digits, step }),
            Some("yubico") => Ok(RealmTfa::Yubico(YubicoServer {
                url: url.unwrap_or_else(|| DEFAULT_URL.to_owned()),
                id: id.ok_or_else(|| bad("yubico needs 'id'".into()))?,
                key,
            })),
            other => Err(bad(format!("unknown type '{}'", other.unwrap_or("")))),
        }
    }

    /// The response type this realm accepts besides `recovery`.
    pub fn response_type(&self) -> &'static str {
        match self {
            RealmTfa::Oath { .. } => "totp",
            RealmTfa::Yubico(_) => "yubico",
        }
    }
}

/// Import legacy secrets from user.cfg `keys` into the store (Proxmox does this at login).
/// Returns true when `keys` should now be set to `x` (the caller writes user.cfg). `keys`
/// of `x` or empty imports nothing. Unrecognised secrets are skipped.
pub fn import_legacy_keys(
    store: &mut TfaStore,
    userid: &Userid,
    keys: &str,
    realm: &RealmTfa,
    now: i64,
) -> bool {
    let keys = keys.trim();
    if keys.is_empty() || keys == "x" {
        return false;
    }
    let user = store.users.entry(userid.clone()).or_default();
    let list = keys.split([' ', ',', ';', '\t']).filter(|k| !k.is_empty());
    for (n, key) in list.enumerate() {
        let description = format!("<old userconfig key {n}>");
        match realm {
            RealmTfa::Oath { digits, step } => {
                let Some(secret) = legacy_secret(key) else {
                    tracing::warn!(userid = %userid, "tfa: skipping unrecognised legacy oath key {n}");
                    continue;
                };
                if let Ok(entry) = TotpEntry::from_secret(&secret, *digits, *step, userid.as_str())
                {
                    user.totp.push(TfaEntry::new(description, entry, now));
                }
            }
            RealmTfa::Yubico(_) => {
                user.yubico
                    .push(TfaEntry::new(description, key.to_ascii_lowercase(), now));
            }
        }
    }
    true
}

/// Decode a legacy oath secret: 16-char base32, 40-char hex, `v2-0x<hex>`, `v2-<base32>`.
fn legacy_secret(key: &str) -> Option<Vec<u8>> {
    let base32 = |s: &str| {
        Secret::try_from_base32(s.trim_end_matches('='))
            .ok()
            .map(|s| s.as_ref().to_vec())
    };
    if let Some(rest) = key.strip_prefix("v2-") {
        return match rest.strip_prefix("0x") {
            Some(h) => hex::decode(h).ok(),
            None => base32(rest),
        };
    }
    if key.len() == 16
        && key
            .bytes()
            .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7' | b'='))
    {
        return base32(key);
    }
    if key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(key).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_realm_tfa() {
        assert_eq!(
            RealmTfa::parse("type=oath,digits=8,step=60").unwrap(),
            RealmTfa::Oath {
                digits: 8,
                step: 60
            }
        );
        let RealmTfa::Yubico(y) = RealmTfa::parse("type=yubico,id=42,key=a2V5").unwrap() else {
            panic!("not yubico")
        };
        assert_eq!(
            (y.url.as_str(), y.id.as_str(), y.key.as_deref()),
            (DEFAULT_URL, "42", Some("a2V5"))
        );
        for bad in [
            "type=totp",
            "type=yubico",
            "type=oath,digits=9",
            "type=oath,foo=1",
            "type=oath,step=1",
        ] {
            assert!(RealmTfa::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_secret_formats() {
        let check = |key: &str, want: Option<usize>| {
            assert_eq!(legacy_secret(key).map(|s| s.len()), want, "{key}");
        };
        check("JBSWY3DPEHPK3PXP", Some(10));
        check(&"ab".repeat(20), Some(20));
        check("v2-0x00112233445566778899", Some(10));
        check("v2-JBSWY3DPEHPK3PXPJBSWY3DP", Some(15)); // 24 base32 chars = 120 bits
        check("ccccccbcgujh", None);
        check("jbswy3dpehpk3pxp", None);
    }
}
