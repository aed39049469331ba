//! The gate every request passes, in two steps over one snapshot:
//! [`authenticate`] turns the request's credential into a [`Principal`] (anonymous, a user by
//! ticket, or an API token), and [`decide`] turns the principal, the route and the request's
//! parameters into a [`Permit`] — a proof, carrying the reason that allowed — or a [`Denial`].
//! Every rule that is policy lives in `decide`: the route's check and `allowtoken`, the CSRF
//! token of ticket requests, a token's `allowed-ips` and its rate limit. `aclgate explain`
//! calls the same `decide`.
//!
//! Above `snapshot` (it reads one) and below `proxy` (which dispatches the permit) and `error`
//! (which maps a denial to its HTTP answer).

mod decide;

use http::HeaderMap;

use crate::auth::verified;
use crate::auth::{self, AuthError, Credential, Directory, ticket::TicketAuthority};
use crate::identity::Authid;
use crate::snapshot::Snapshot;

pub use decide::{Context, Denial, Facts, Permit, decide, retry_after_secs};

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No identity: the route is `user = "world"`, which is never authenticated.
    Anonymous {
        /// Whether an API token came along anyway (it still meets `allowtoken = false`).
        sent_token: bool,
    },
    /// A user, by login ticket. Always an [`Authid::User`].
    User(Authid),
    /// An API token. Always an [`Authid::Token`] (the full token id).
    Token(Authid),
}

// === impl Principal ===

impl Principal {
    /// The authenticated id; `None` for [`Principal::Anonymous`].
    pub fn authid(&self) -> Option<&Authid> {
        match self {
            Principal::Anonymous { .. } => None,
            Principal::User(a) | Principal::Token(a) => Some(a),
        }
    }

    /// Whether the request carries an API token (authenticated or not).
    pub fn via_token(&self) -> bool {
        match self {
            Principal::Anonymous { sent_token } => *sent_token,
            Principal::User(_) => false,
            Principal::Token(_) => true,
        }
    }
}

/// Authenticate a request by its headers, as [`authenticate`] does with the credential
/// [`Credential::extract`] finds in them. A token credential that verified before in this
/// snapshot is answered from the snapshot's [`verified::VerifiedTokens`] (the owner and the token are
/// still checked against `now`), without parsing it or hashing the secret again.
pub fn authenticate_request(
    snapshot: &Snapshot,
    tickets: Option<&TicketAuthority>,
    headers: &HeaderMap,
    world: bool,
    now: u64,
) -> Result<Principal, AuthError> {
    if world {
        return authenticate(snapshot, tickets, Credential::extract(headers), world, now);
    }
    let cache = &snapshot.verified_tokens;
    Ok(
        match verified::authenticate_cached(cache, directory(snapshot), tickets, headers, now)? {
            authid @ Authid::User(_) => Principal::User(authid),
            authid @ Authid::Token(_) => Principal::Token(authid),
        },
    )
}

/// Authenticate a request's `credential` against `snapshot` at `now` (seconds since the epoch).
/// A `world` route is never authenticated (Proxmox ignores tickets there): its principal is
/// anonymous. Everything else — including paths without a route, so nobody can probe which
/// paths exist — needs a valid ticket (verified by `tickets`; none = tickets refused) or token.
pub fn authenticate(
    snapshot: &Snapshot,
    tickets: Option<&TicketAuthority>,
    credential: Credential,
    world: bool,
    now: u64,
) -> Result<Principal, AuthError> {
    if world {
        let sent_token = matches!(credential, Credential::Token { .. });
        return Ok(Principal::Anonymous { sent_token });
    }
    Ok(
        match auth::authenticate(directory(snapshot), tickets, credential, now)? {
            authid @ Authid::User(_) => Principal::User(authid),
            authid @ Authid::Token(_) => Principal::Token(authid),
        },
    )
}

/// What authentication reads of `snapshot`.
fn directory(snapshot: &Snapshot) -> Directory<'_> {
    Directory {
        index: &snapshot.auth_index,
        tokens: &snapshot.tokens,
        logout: &snapshot.logout,
    }
}
