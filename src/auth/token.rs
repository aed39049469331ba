//! API-token credentials (spec §6.4): parse the header value, verify against the snapshot
//! (secret, owner, expiry, and aclgate's per-token `allowed-ips`).

use std::net::IpAddr;

use percent_encoding::percent_decode_str;

use super::{AuthError, Credential};
use crate::config::token_options::RateLimit;
use crate::identity::Tokenid;
use crate::snapshot::Snapshot;

/// Parse the raw value after `PVEAPIToken=`: percent-decode, split at the LAST `=`.
pub(super) fn parse(raw: &str) -> Credential {
    let Ok(decoded) = percent_decode_str(raw).decode_utf8() else {
        return Credential::Malformed;
    };
    match decoded.rsplit_once('=') {
        Some((id, secret)) => Credential::Token {
            tokenid: id.to_owned(),
            secret: secret.to_owned(),
        },
        None => Credential::Malformed,
    }
}

/// Owner exists, enabled, unexpired; token exists, unexpired; secret matches (constant time;
/// during a rotation the previous secret too, until its overlap ends); `peer` lies in the
/// token's `allowed-ips`. Answers the token's rate limit, if it has one.
pub(super) fn verify(
    snapshot: &Snapshot,
    id: &Tokenid,
    secret: &str,
    peer: IpAddr,
    now: u64,
) -> Result<Option<RateLimit>, AuthError> {
    // The secret is verified first and always, so that the time taken does not depend on
    // whether the user or token exists.
    let secret_ok = snapshot.tokens.verify_at(id.as_str(), secret, now);
    let user = snapshot
        .user_cfg
        .users
        .get(&id.user())
        .ok_or(AuthError::UnknownUser)?;
    if !user.is_usable(now) {
        return Err(AuthError::UserUnusable);
    }
    let token = snapshot.user_cfg.token(id).ok_or(AuthError::UnknownToken)?;
    if !token.is_unexpired(now) {
        return Err(AuthError::TokenExpired);
    }
    if !secret_ok {
        return Err(AuthError::BadSecret);
    }
    // Checked after the secret, so the log reason `source address not allowed` means a valid
    // credential was presented from elsewhere (a leaked token, or a stale allow-list).
    let options = snapshot.token_options.find(id.as_str());
    if options.is_some_and(|o| !o.allows(peer)) {
        return Err(AuthError::SourceNotAllowed);
    }
    Ok(options.and_then(|o| o.rate_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        fn check(raw: &str, want: Option<(&str, &str)>) {
            let got = match parse(raw) {
                Credential::Token { tokenid, secret } => Some((tokenid, secret)),
                _ => None,
            };
            let want = want.map(|(a, b)| (a.to_owned(), b.to_owned()));
            assert_eq!(got, want, "parse({raw:?})");
        }
        check("joe@pve!mon=abc", Some(("joe@pve!mon", "abc")));
        check("joe@pve!mon=a=b", Some(("joe@pve!mon=a", "b")));
        check("joe%40pve%21mon%3Dabc", Some(("joe@pve!mon", "abc")));
        check("joe@pve!mon=abc ", Some(("joe@pve!mon", "abc ")));
        check("nosecret", None);
        check("%ff%fe=x", None);
    }
}
