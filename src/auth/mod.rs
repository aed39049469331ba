//! Authentication: find the credential in the request headers ([`Credential::extract`]) and
//! establish an [`Authid`] from it against the parts of one snapshot it reads
//! ([`authenticate`] with a [`Directory`]); password realms
//! ([`realm`]), login tickets and CSRF prevention tokens ([`ticket`]), the logout list
//! ([`logout`]), login throttling ([`throttle`]) and per-token rate limits ([`rate_limit`]).
//!
//! A ticket (cookie `PVEAuthCookie` or `Authorization: PVEAuthCookie=...`) always wins over
//! an API token header. Tickets are verified by the [`ticket::TicketAuthority`] (cached), then
//! the user is re-checked against the snapshot and its logout list on every request. What an
//! authenticated caller may then do — including a token's `allowed-ips` and rate limit, and
//! the CSRF token of ticket requests — is decided by `gate::decide`, not here.

mod header;
pub mod logout;
pub mod rate_limit;
pub mod realm;
pub mod tfa;
pub mod throttle;
pub mod ticket;
mod token;
pub mod verified;

use std::borrow::Cow;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::config::TokenShadow;
use crate::config::user_cfg::AuthIndex;
use crate::header_scan;
use crate::identity::{Authid, Tokenid, Userid};
use logout::LogoutList;
use ticket::TicketAuthority;

pub use header::{TICKET_KEY, TOKEN_KEY, find_key, strip_credentials};

/// A credential as presented, not yet verified. Never logged (it holds a secret).
pub enum Credential {
    /// Nothing presented.
    None,
    /// `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`.
    Token {
        /// The token id, percent-decoded and parsed (an invalid id is [`Credential::Malformed`]).
        tokenid: Tokenid,
        /// The secret, as sent.
        secret: String,
    },
    /// A login ticket from the `PVEAuthCookie` cookie or `Authorization` header.
    Ticket {
        /// The ticket text (percent-decoded).
        ticket: String,
    },
    /// Something credential-shaped that cannot be a valid credential.
    Malformed,
}

/// What authentication reads of one snapshot: users and tokens by id, the token secrets and
/// the logout list. Borrowed, so that authentication needs no snapshot (and sits below it).
#[derive(Debug, Clone, Copy)]
pub struct Directory<'a> {
    /// Users and tokens hashed by id text.
    pub index: &'a AuthIndex,
    /// `priv/token.shadow`.
    pub tokens: &'a TokenShadow,
    /// `logout.cfg`.
    pub logout: &'a LogoutList,
}

/// Authentication did not establish an identity. The variant is for logs only; clients see
/// the same answer for every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    NoCredentials,
    #[error("malformed credentials")]
    Malformed,
    #[error("unknown user")]
    UnknownUser,
    #[error("user disabled or expired")]
    UserUnusable,
    #[error("unknown token")]
    UnknownToken,
    #[error("token expired")]
    TokenExpired,
    #[error("wrong token secret")]
    BadSecret,
    #[error("invalid ticket")]
    BadTicket,
    #[error("ticket is waiting for a second factor")]
    TfaPending,
    #[error("ticket revoked by logout")]
    LoggedOut,
    #[error("tickets are not accepted here")]
    NoTicketAuthority,
}

// === impl Credential ===

impl Credential {
    /// Extract the credential (spec §6.2): a `PVEAuthCookie` ticket in `Cookie`, else in
    /// `Authorization`; only then `PVEAPIToken` in `Authorization`. A ticket always wins.
    /// More than one `Authorization` header is [`Credential::Malformed`].
    pub fn extract(headers: &HeaderMap) -> Credential {
        for cookie in header_scan::get_all(headers, &http::header::COOKIE) {
            if let Ok(text) = cookie.to_str()
                && let Some(raw) = find_key(text, TICKET_KEY)
            {
                return ticket_credential(raw);
            }
        }
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let Some(auth) = values.next() else {
            return Credential::None;
        };
        // Proxmox reads several headers as one value joined by `, `, which is no valid
        // credential: refuse them all rather than pick one.
        if values.next().is_some() {
            return Credential::Malformed;
        }
        let Ok(auth) = auth.to_str() else {
            return Credential::Malformed;
        };
        if let Some(raw) = find_key(auth, TICKET_KEY) {
            return ticket_credential(raw);
        }
        match find_key(auth, TOKEN_KEY) {
            Some(raw) => token::parse(raw),
            None => Credential::None,
        }
    }

    /// Whether this is a ticket (CSRF checks apply to ticket requests only).
    pub fn is_ticket(&self) -> bool {
        matches!(self, Credential::Ticket { .. })
    }
}

fn ticket_credential(raw: &str) -> Credential {
    match percent_decoded(raw) {
        Some(t) if !t.is_empty() => Credential::Ticket {
            ticket: t.into_owned(),
        },
        _ => Credential::Malformed,
    }
}

/// `raw` percent-decoded, `None` if the result is not UTF-8. Text without a `%` is answered
/// as it is, without running the decoder (which would give the same bytes).
fn percent_decoded(raw: &str) -> Option<Cow<'_, str>> {
    if raw.as_bytes().contains(&b'%') {
        percent_decode_str(raw).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// Verify a credential against `dir` at time `now` (seconds since the epoch): a token gives
/// its full token id, a ticket its user. `tickets` verifies ticket credentials; without it
/// every ticket is refused.
pub fn authenticate(
    dir: Directory<'_>,
    tickets: Option<&TicketAuthority>,
    credential: Credential,
    now: u64,
) -> Result<Authid, AuthError> {
    match credential {
        Credential::None => Err(AuthError::NoCredentials),
        Credential::Malformed => Err(AuthError::Malformed),
        Credential::Token { tokenid, secret } => {
            token::verify(dir, &tokenid, &secret, now)?;
            Ok(Authid::Token(tokenid))
        }
        Credential::Ticket { ticket } => {
            let tickets = tickets.ok_or(AuthError::NoTicketAuthority)?;
            verify_ticket(dir, tickets, &ticket, now).map(Authid::User)
        }
    }
}

/// A full ticket whose signature and age are valid (cached), whose user exists, is enabled
/// and unexpired in `dir`, and that no logout has revoked.
pub fn verify_ticket(
    dir: Directory<'_>,
    tickets: &TicketAuthority,
    ticket: &str,
    now: u64,
) -> Result<Userid, AuthError> {
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let verified = tickets.authenticate(ticket, now_i).map_err(|e| match e {
        ticket::TicketError::TfaPending => AuthError::TfaPending,
        _ => AuthError::BadTicket,
    })?;
    let user = dir
        .index
        .user(verified.userid.as_str())
        .ok_or(AuthError::UnknownUser)?;
    if !user.is_usable(now) {
        return Err(AuthError::UserUnusable);
    }
    if dir.logout.is_revoked(&verified.userid, verified.issued_at) {
        return Err(AuthError::LoggedOut);
    }
    Ok(verified.userid)
}
