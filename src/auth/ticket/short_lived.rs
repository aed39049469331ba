//! Short-lived console tickets (spec §6.5, Proxmox `PVE::AccessControl::assemble_vnc_ticket`,
//! `assemble_tunnel_ticket`): `PVEVNC:<T>::<S>` and `PVETUNNEL:<T>::<S>`.
//!
//! Unlike a login ticket they carry no userid in clear: the signature covers
//! `<PREFIX>:<T>:<authid>:<path>[:<port>]`, so a ticket verifies only for the authid, the
//! normalised ACL path and (VNC) the port it was issued for. `<T>` is 8 uppercase hex digits,
//! `<S>` standard base64 with padding, as in full tickets, signed by the same key ring.
//!
//! Valid iff −20 < now − T < 40 (Proxmox's `verify_rsa_ticket(..., -20, 40)`). Proxmox's old
//! VNC password form `<8 chars>:PVEVNC:...` (the first 8 characters are the VNC password) is
//! accepted as well, as Proxmox's `verify_vnc_ticket` does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::TicketError;
use super::keyring::KeyRing;
use crate::identity::Authid;

/// A ticket is valid while its age is below this many seconds.
pub const SHORT_LIVED_MAX_AGE: i64 = 40;
/// ... and above this many (a ticket may be stamped up to 20 s in the future).
pub const SHORT_LIVED_MIN_AGE: i64 = -20;

/// The two kinds of short-lived tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortLivedKind {
    /// `PVEVNC`: VNC and terminal consoles (bound to a port when one is given).
    Vnc,
    /// `PVETUNNEL`: migration tunnels (never bound to a port).
    Tunnel,
}

/// What a short-lived ticket is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The user or token it was issued to.
    pub authid: &'a Authid,
    /// The ACL path, normalised by the caller (`access::AclPath::normalize`): the ticket
    /// binds the text as given.
    pub path: &'a str,
    /// The console port (VNC tickets only).
    pub port: Option<u16>,
}

/// Create a short-lived ticket of `kind` bound to `binding`, stamped `now`.
pub fn create_short_lived(
    ring: &KeyRing,
    kind: ShortLivedKind,
    binding: Binding<'_>,
    now: i64,
) -> Result<String, TicketError> {
    let stamp = u32::try_from(now).map_err(|_| TicketError::BadTime(now))?;
    let mut ticket = format!("{}:{stamp:08X}", kind.prefix());
    let signature = ring.sign(signed_text(&ticket, kind, binding).as_bytes());
    ticket.push_str("::");
    STANDARD.encode_string(signature, &mut ticket);
    Ok(ticket)
}

/// Verify a short-lived ticket of `kind` for `binding` at `now`.
pub fn verify_short_lived(
    ring: &KeyRing,
    kind: ShortLivedKind,
    ticket: &str,
    binding: Binding<'_>,
    now: i64,
) -> Result<(), TicketError> {
    let ticket = strip_vnc_password(kind, ticket);
    if ticket.len() > MAX_LEN {
        return Err(TicketError::Malformed);
    }
    let (plain, signature) = ticket.split_once("::").ok_or(TicketError::Malformed)?;
    let stamp = plain
        .strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(parse_stamp)
        .ok_or(TicketError::Malformed)?;
    let age = now.saturating_sub(stamp);
    if age <= SHORT_LIVED_MIN_AGE {
        return Err(TicketError::NotYetValid);
    }
    if age >= SHORT_LIVED_MAX_AGE {
        return Err(TicketError::Expired);
    }
    let signature = STANDARD
        .decode(signature)
        .map_err(|_| TicketError::Malformed)?;
    let message = signed_text(plain, kind, binding);
    if ring.verify(message.as_bytes(), &signature, stamp, now) {
        Ok(())
    } else {
        Err(TicketError::BadSignature)
    }
}

// === impl ShortLivedKind ===

impl ShortLivedKind {
    /// `PVEVNC` or `PVETUNNEL`.
    pub fn prefix(self) -> &'static str {
        match self {
            ShortLivedKind::Vnc => "PVEVNC",
            ShortLivedKind::Tunnel => "PVETUNNEL",
        }
    }
}

/// `<plain>:<authid>:<path>[:<port>]` (a tunnel ticket never binds a port).
fn signed_text(plain: &str, kind: ShortLivedKind, binding: Binding<'_>) -> String {
    let mut text = format!("{plain}:{}:{}", binding.authid.as_str(), binding.path);
    if let (ShortLivedKind::Vnc, Some(port)) = (kind, binding.port) {
        text.push_str(&format!(":{port}"));
    }
    text
}

/// Proxmox's legacy VNC password form: 8 characters, `:`, then the ticket.
fn strip_vnc_password(kind: ShortLivedKind, ticket: &str) -> &str {
    if kind != ShortLivedKind::Vnc {
        return ticket;
    }
    match ticket.char_indices().nth(8) {
        Some((i, ':')) if ticket[i + 1..].starts_with("PVEVNC:") => &ticket[i + 1..],
        _ => ticket,
    }
}

/// Exactly 8 uppercase hex digits.
fn parse_stamp(text: &str) -> Option<i64> {
    let ok = text.len() == 8
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    ok.then(|| u32::from_str_radix(text, 16).ok().map(i64::from))
        .flatten()
}

/// Longer texts are refused before any parsing.
const MAX_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ticket::Algorithm;

    fn binding<'a>(authid: &'a Authid, path: &'a str, port: Option<u16>) -> Binding<'a> {
        Binding { authid, path, port }
    }

    #[test]
    fn layout_and_age_window() {
        let ring = KeyRing::generate(Algorithm::Ed25519, 1_000);
        let authid: Authid = "joe@pve".parse().expect("valid authid");
        let b = binding(&authid, "/vms/100", Some(5900));
        let t = create_short_lived(&ring, ShortLivedKind::Vnc, b, 2_000).expect("ticket");
        assert!(t.starts_with("PVEVNC:000007D0::"), "{t}");
        let check = |now: i64| verify_short_lived(&ring, ShortLivedKind::Vnc, &t, b, now).is_ok();
        // −20 < age < 40, both ends open.
        assert!(!check(2_000 - 20));
        assert!(check(2_000 - 19));
        assert!(check(2_039));
        assert!(!check(2_040));
        let legacy = format!("abcdefgh:{t}");
        assert!(verify_short_lived(&ring, ShortLivedKind::Vnc, &legacy, b, 2_001).is_ok());
        assert!(verify_short_lived(&ring, ShortLivedKind::Tunnel, &t, b, 2_001).is_err());
    }
}
