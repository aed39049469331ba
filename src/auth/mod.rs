//! Authentication: find the credential in the request headers ([`Credential::extract`]) and
//! establish an [`Authid`] from it against one snapshot ([`authenticate`]); password realms
//! ([`realm`]), login tickets and CSRF prevention tokens ([`ticket`]), the logout list
//! ([`logout`]), login throttling ([`throttle`]) and per-token rate limits ([`rate_limit`]).
//!
//! A ticket (cookie `PVEAuthCookie` or `Authorization: PVEAuthCookie=...`) always wins over
//! an API token header. Tickets are verified by the [`ticket::TicketAuthority`] (cached), then
//! the user is re-checked against the snapshot and its logout list on every request.

mod header;
pub mod logout;
pub mod rate_limit;
pub mod realm;
pub mod tfa;
pub mod throttle;
pub mod ticket;
mod token;

use std::borrow::Cow;
use std::net::IpAddr;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::config::token_options::RateLimit;
use crate::identity::{Authid, Tokenid, Userid};
use crate::snapshot::Snapshot;
use ticket::TicketAuthority;

pub use header::{TICKET_KEY, TOKEN_KEY, find_key, strip_credentials};

/// A credential as presented, not yet verified. Never logged (it holds a secret).
pub enum Credential {
    /// Nothing presented.
    None,
    /// `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`.
    Token {
        /// The token id text, as sent (percent-decoded).
        tokenid: String,
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

/// Who a request was authenticated as.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The authenticated id (a full token id for tokens).
    pub authid: Authid,
    /// Whether an API token was used (for `allowtoken`).
    pub via_token: bool,
    /// The token's rate limit from `token-options.cfg` (enforced by the caller, which holds
    /// the buckets); `None` for tickets and unlimited tokens.
    pub rate_limit: Option<RateLimit>,
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
    #[error("source address not allowed")]
    SourceNotAllowed,
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
    pub fn extract(headers: &HeaderMap) -> Credential {
        for cookie in headers.get_all(http::header::COOKIE) {
            if let Ok(text) = cookie.to_str()
                && let Some(raw) = find_key(text, TICKET_KEY)
            {
                return ticket_credential(raw);
            }
        }
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Credential::None;
        };
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

/// Verify a credential sent from `peer` against the snapshot at time `now` (seconds since the
/// epoch). `tickets` verifies ticket credentials; without it every ticket is refused. `peer`
/// matters only for tokens with `allowed-ips`.
pub fn authenticate(
    snapshot: &Snapshot,
    tickets: Option<&TicketAuthority>,
    credential: &Credential,
    peer: IpAddr,
    now: u64,
) -> Result<Authenticated, AuthError> {
    match credential {
        Credential::None => Err(AuthError::NoCredentials),
        Credential::Malformed => Err(AuthError::Malformed),
        Credential::Token { tokenid, secret } => {
            let id: Tokenid = tokenid.parse().map_err(|_| AuthError::Malformed)?;
            let rate_limit = token::verify(snapshot, &id, secret, peer, now)?;
            Ok(Authenticated {
                authid: Authid::Token(id),
                via_token: true,
                rate_limit,
            })
        }
        Credential::Ticket { ticket } => {
            let tickets = tickets.ok_or(AuthError::NoTicketAuthority)?;
            let userid = verify_ticket(snapshot, tickets, ticket, now)?;
            Ok(Authenticated {
                authid: Authid::User(userid),
                via_token: false,
                rate_limit: None,
            })
        }
    }
}

/// A full ticket whose signature and age are valid (cached), whose user exists, is enabled
/// and unexpired in `snapshot`, and that no logout has revoked.
pub fn verify_ticket(
    snapshot: &Snapshot,
    tickets: &TicketAuthority,
    ticket: &str,
    now: u64,
) -> Result<Userid, AuthError> {
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let verified = tickets.authenticate(ticket, now_i).map_err(|e| match e {
        ticket::TicketError::TfaPending => AuthError::TfaPending,
        _ => AuthError::BadTicket,
    })?;
    let user = snapshot
        .auth_index
        .user(verified.userid.as_str())
        .ok_or(AuthError::UnknownUser)?;
    if !user.is_usable(now) {
        return Err(AuthError::UserUnusable);
    }
    if snapshot
        .logout
        .is_revoked(&verified.userid, verified.issued_at)
    {
        return Err(AuthError::LoggedOut);
    }
    Ok(verified.userid)
}
