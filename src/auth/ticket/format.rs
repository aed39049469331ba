//! Ticket text: `PVE:<data>:<T>::<S>` (spec §6.5), created and verified by pure functions.
//!
//! - `<data>`: the userid (full ticket) or `!tfa!<challenge JSON>` (TFA-pending half ticket),
//!   percent-encoded: `:` as Proxmox does, and also `%` (spec §10.12: Proxmox decodes the
//!   whole field on verification, so a userid containing `%3A` would come back as another
//!   userid), space, control and non-ASCII bytes. Decoding is the exact inverse.
//! - `<T>`: creation time, exactly 8 uppercase hex digits.
//! - `<S>`: standard base64 with `=` padding (canonical only) of the signature over
//!   `PVE:<data>:<T>`, followed by `:<aad>` when additional data is bound: TFA-pending tickets
//!   bind the userid, which is not part of their text.
//!
//! Valid iff −300 < now − T < 7200 and a key of the ring may vouch for `T` and made `S`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::keyring::KeyRing;
use super::{CLOCK_SKEW, TICKET_LIFETIME, TicketError};
use crate::identity::Userid;

/// A full ticket that verified: who it was issued to, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTicket {
    /// The user the ticket was issued to (still to be checked against the current state:
    /// exists, enabled, not expired, not logged out).
    pub userid: Userid,
    /// The ticket's time stamp (seconds since the epoch).
    pub issued_at: i64,
}

/// A TFA-pending half ticket that verified for its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfaPending {
    /// The challenge JSON the first login step stored in the ticket.
    pub challenge: String,
    /// The ticket's time stamp (seconds since the epoch).
    pub issued_at: i64,
}

/// Create a full ticket for `userid`, stamped `now`, signed with the ring's current key.
pub fn create(ring: &KeyRing, userid: &Userid, now: i64) -> Result<String, TicketError> {
    let mut data = encode(userid.as_str());
    // A user name may start with `!tfa!`: encode its `!` so the ticket is not read as a
    // TFA-pending one (decoding gives the same userid back).
    if data.starts_with('!') {
        data.replace_range(..1, "%21");
    }
    sign(ring, &data, now, None)
}

/// Create a TFA-pending half ticket holding `challenge` (JSON), bound to `userid`.
pub fn create_tfa_pending(
    ring: &KeyRing,
    userid: &Userid,
    challenge: &str,
    now: i64,
) -> Result<String, TicketError> {
    let data = encode(&format!("{TFA_PREFIX}{challenge}"));
    sign(ring, &data, now, Some(userid.as_str()))
}

/// Verify a full ticket. TFA-pending tickets are refused ([`TicketError::TfaPending`]).
pub fn verify(ring: &KeyRing, ticket: &str, now: i64) -> Result<VerifiedTicket, TicketError> {
    let parsed = Parsed::new(ticket, now)?;
    if parsed.data.starts_with(TFA_PREFIX) {
        return Err(TicketError::TfaPending);
    }
    parsed.check_signature(ring, now, None)?;
    let userid = decode(parsed.data)
        .and_then(|text| text.parse().ok())
        .ok_or(TicketError::BadUserid)?;
    Ok(VerifiedTicket {
        userid,
        issued_at: parsed.stamp,
    })
}

/// Verify a TFA-pending ticket of `userid` and return its challenge. Full tickets are
/// refused ([`TicketError::NotTfaPending`]).
pub fn verify_tfa_pending(
    ring: &KeyRing,
    ticket: &str,
    userid: &Userid,
    now: i64,
) -> Result<TfaPending, TicketError> {
    let parsed = Parsed::new(ticket, now)?;
    let Some(challenge) = parsed.data.strip_prefix(TFA_PREFIX) else {
        return Err(TicketError::NotTfaPending);
    };
    parsed.check_signature(ring, now, Some(userid.as_str()))?;
    let challenge = decode(challenge).ok_or(TicketError::Malformed)?;
    Ok(TfaPending {
        challenge,
        issued_at: parsed.stamp,
    })
}

/// The parts of a ticket, borrowed from its text; nothing verified yet except the age.
struct Parsed<'a> {
    /// `PVE:<data>:<T>`: what the signature covers (before any aad).
    plain: &'a str,
    /// `<data>`, still percent-encoded.
    data: &'a str,
    /// `<T>`.
    stamp: i64,
    /// `<S>`, decoded.
    signature: Vec<u8>,
}

// === impl Parsed ===

impl<'a> Parsed<'a> {
    /// Split the text and check the layout and the general age window. Cheap checks come
    /// first so that junk costs no signature verification.
    fn new(ticket: &'a str, now: i64) -> Result<Parsed<'a>, TicketError> {
        if ticket.len() > MAX_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        let (plain, signature) = ticket.split_once("::").ok_or(TicketError::Malformed)?;
        let rest = plain.strip_prefix(PREFIX).ok_or(TicketError::Malformed)?;
        let (data, stamp) = rest.rsplit_once(':').ok_or(TicketError::Malformed)?;
        if data.is_empty() || data.contains(':') || signature.len() > MAX_SIGNATURE_LEN {
            return Err(TicketError::Malformed);
        }
        let stamp = parse_stamp(stamp).ok_or(TicketError::Malformed)?;
        let age = now.saturating_sub(stamp);
        if age <= -CLOCK_SKEW {
            return Err(TicketError::NotYetValid);
        }
        if age >= TICKET_LIFETIME {
            return Err(TicketError::Expired);
        }
        // The canonical decoder refuses missing or extra padding and stray bits, so each
        // signature has exactly one spelling.
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| TicketError::Malformed)?;
        Ok(Parsed {
            plain,
            data,
            stamp,
            signature,
        })
    }

    fn check_signature(
        &self,
        ring: &KeyRing,
        now: i64,
        aad: Option<&str>,
    ) -> Result<(), TicketError> {
        let ok = match aad {
            None => ring.verify(self.plain.as_bytes(), &self.signature, self.stamp, now),
            Some(aad) => {
                let message = format!("{}:{aad}", self.plain);
                ring.verify(message.as_bytes(), &self.signature, self.stamp, now)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(TicketError::BadSignature)
        }
    }
}

fn sign(ring: &KeyRing, data: &str, now: i64, aad: Option<&str>) -> Result<String, TicketError> {
    let stamp = u32::try_from(now).map_err(|_| TicketError::BadTime(now))?;
    let mut ticket = format!("{PREFIX}{data}:{stamp:08X}");
    let signature = match aad {
        None => ring.sign(ticket.as_bytes()),
        Some(aad) => ring.sign(format!("{ticket}:{aad}").as_bytes()),
    };
    ticket.push_str("::");
    STANDARD.encode_string(signature, &mut ticket);
    Ok(ticket)
}

/// Exactly 8 uppercase hex digits.
fn parse_stamp(text: &str) -> Option<i64> {
    let ok = text.len() == 8
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if !ok {
        return None;
    }
    u32::from_str_radix(text, 16).ok().map(i64::from)
}

/// Percent-encode every byte that is not visible ASCII, and `:` and `%`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_graphic() && b != b':' && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode`]: `%XX` (either case) becomes the byte; a `%` without two hex
/// digits, or a result that is not UTF-8, is refused.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const PREFIX: &str = "PVE:";
const TFA_PREFIX: &str = "!tfa!";
/// Longer texts are refused before any parsing (a TFA challenge may take a few KiB).
const MAX_TICKET_LEN: usize = 16 * 1024;
/// base64 of a 64-byte Ed25519 signature.
const MAX_SIGNATURE_LEN: usize = 88;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_escapes_separators() {
        for text in ["joe@pve", "a:b", "50%3A@pve", "{\"k\": \"é\"}", "%", ""] {
            let enc = encode(text);
            assert!(!enc.contains(':'), "{text:?} -> {enc}");
            assert_eq!(decode(&enc).as_deref(), Some(text), "{text:?} -> {enc}");
        }
        assert_eq!(encode("a%3Ab:c"), "a%253Ab%3Ac");
        for bad in ["%", "%4", "%zz", "%C3"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stamps_are_eight_uppercase_hex_digits() {
        assert_eq!(parse_stamp("0000000A"), Some(10));
        assert_eq!(parse_stamp("FFFFFFFF"), Some(0xFFFF_FFFF));
        for bad in [
            "0000000a",
            "000000A",
            "00000000A",
            "+000000A",
            "0000 00A",
            "",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad:?}");
        }
    }
}
