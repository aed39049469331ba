//! Authentication: find the credential in the request headers ([`Credential::extract`]) and
//! establish an [`Authid`] from it against one snapshot ([`authenticate`]); password realms
//! ([`realm`]), login tickets and CSRF prevention tokens ([`ticket`]), the logout list
//! ([`logout`]) and login throttling ([`throttle`]).
//!
//! The gateway authenticates API tokens so far; a ticket credential is another [`Credential`]
//! variant verified through [`ticket`].

mod header;
pub mod logout;
pub mod realm;
pub mod tfa;
pub mod throttle;
pub mod ticket;
mod token;

use http::HeaderMap;

use crate::identity::{Authid, Tokenid};
use crate::snapshot::Snapshot;

pub use header::find_key;

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
}

// === impl Credential ===

impl Credential {
    /// Extract the credential (spec §6.2): a `PVEAuthCookie` ticket would win (tickets are not
    /// supported yet, so none is looked for); else `PVEAPIToken` in `Authorization`.
    pub fn extract(headers: &HeaderMap) -> Credential {
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Credential::None;
        };
        let Ok(auth) = auth.to_str() else {
            return Credential::Malformed;
        };
        match find_key(auth, "PVEAPIToken") {
            Some(raw) => token::parse(raw),
            None => Credential::None,
        }
    }
}

/// Verify a credential against the snapshot at time `now` (seconds since the epoch).
pub fn authenticate(
    snapshot: &Snapshot,
    credential: &Credential,
    now: u64,
) -> Result<Authenticated, AuthError> {
    match credential {
        Credential::None => Err(AuthError::NoCredentials),
        Credential::Malformed => Err(AuthError::Malformed),
        Credential::Token { tokenid, secret } => {
            let id: Tokenid = tokenid.parse().map_err(|_| AuthError::Malformed)?;
            token::verify(snapshot, &id, secret, now)?;
            Ok(Authenticated {
                authid: Authid::Token(id),
                via_token: true,
            })
        }
    }
}
