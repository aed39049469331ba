//! API-token credentials (spec §6.4): parse the header value, verify against the snapshot's
//! [`Directory`] (secret, owner, expiry). The token's `allowed-ips` and rate limit are rules
//! about an authenticated token: `gate::decide` applies them.

use super::{AuthError, Credential, Directory};
use crate::identity::Tokenid;

/// Parse the raw value after `PVEAPIToken=`: percent-decode, split at the LAST `=`.
pub(super) fn parse(raw: &str) -> Credential {
    let Some(decoded) = super::percent_decoded(raw) else {
        return Credential::Malformed;
    };
    match decoded.rsplit_once('=') {
        Some((id, secret)) => match id.parse() {
            Ok(tokenid) => Credential::Token {
                tokenid,
                secret: secret.to_owned(),
            },
            Err(_) => Credential::Malformed,
        },
        None => Credential::Malformed,
    }
}

/// Owner exists, enabled, unexpired; token exists, unexpired; secret matches (constant time;
/// during a rotation the previous secret too, until its overlap ends).
pub(super) fn verify(
    dir: Directory<'_>,
    id: &Tokenid,
    secret: &str,
    now: u64,
) -> Result<(), AuthError> {
    // The secret is verified first and always, so that the time taken does not depend on
    // whether the user or token exists.
    let secret_ok = dir.tokens.verify_at(id.as_str(), secret, now);
    // One hashed lookup answers for owner and token; the owner alone only on failure, to tell
    // an unknown user from an unknown token (the same order of checks as in `user.cfg`).
    let index = dir.index;
    let Some(token) = index.token(id.as_str()) else {
        return Err(match index.user(id.user_str()) {
            None => AuthError::UnknownUser,
            Some(owner) if !owner.is_usable(now) => AuthError::UserUnusable,
            Some(_) => AuthError::UnknownToken,
        });
    };
    if !token.owner.is_usable(now) {
        return Err(AuthError::UserUnusable);
    }
    if !token.is_unexpired(now) {
        return Err(AuthError::TokenExpired);
    }
    if !secret_ok {
        return Err(AuthError::BadSecret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::logout::LogoutList;
    use crate::config::token_options::RateLimit;
    use crate::config::user_cfg::AuthIndex;
    use crate::config::{TokenOptions, TokenShadow, UserConfig};

    #[test]
    fn verify_table() {
        let (cfg, warnings) = UserConfig::parse(
            "user:joe@pve:1:0:::::\n\
             token:joe@pve!ok:0:1::\n\
             token:joe@pve!old:100:1::\n\
             token:joe@pve!net:0:1::\n\
             user:off@pve:0:0:::::\n\
             token:off@pve!tk:0:1::\n\
             user:gone@pve:1:100:::::\n\
             token:gone@pve!tk:0:1::\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut shadow = TokenShadow::default();
        for id in [
            "joe@pve!ok",
            "joe@pve!old",
            "joe@pve!net",
            "off@pve!tk",
            "gone@pve!tk",
        ] {
            shadow.set_secret(&id.parse().unwrap(), "right");
        }
        // A secret without a token in user.cfg (deleted by hand) opens nothing.
        shadow.set_secret(&"joe@pve!stale".parse().unwrap(), "right");
        let (options, _) = TokenOptions::parse(
            "token: joe@pve!net\n\tallowed-ips 10.0.0.0/8\n\trate-limit 5\n\n",
            |_| true,
        )
        .unwrap();
        let index = AuthIndex::build(&cfg);
        let logout = LogoutList::default();
        let dir = Directory {
            index: &index,
            tokens: &shadow,
            logout: &logout,
        };
        // The token's `allowed-ips` and rate limit are `gate::decide`'s (tested there); here
        // the options only say what a verified token carries.
        let limit = options.find("joe@pve!net").and_then(|o| o.rate_limit);
        let check =
            |id: &str, secret: &str, _peer: &str, want: Result<Option<RateLimit>, AuthError>| {
                let got = verify(dir, &id.parse().unwrap(), secret, 200)
                    .map(|()| options.find(id).and_then(|o| o.rate_limit));
                assert_eq!(got, want, "verify({id}, {secret})");
            };
        check("joe@pve!ok", "right", "127.0.0.1", Ok(None));
        check(
            "joe@pve!ok",
            "wrong",
            "127.0.0.1",
            Err(AuthError::BadSecret),
        );
        check(
            "joe@pve!old",
            "right",
            "127.0.0.1",
            Err(AuthError::TokenExpired),
        );
        check(
            "joe@pve!old",
            "wrong",
            "127.0.0.1",
            Err(AuthError::TokenExpired),
        );
        check(
            "joe@pve!none",
            "right",
            "127.0.0.1",
            Err(AuthError::UnknownToken),
        );
        check(
            "joe@pve!stale",
            "right",
            "127.0.0.1",
            Err(AuthError::UnknownToken),
        );
        check(
            "nobody@pve!ok",
            "right",
            "127.0.0.1",
            Err(AuthError::UnknownUser),
        );
        check(
            "off@pve!tk",
            "right",
            "127.0.0.1",
            Err(AuthError::UserUnusable),
        );
        check(
            "off@pve!none",
            "right",
            "127.0.0.1",
            Err(AuthError::UserUnusable),
        );
        check(
            "gone@pve!tk",
            "right",
            "127.0.0.1",
            Err(AuthError::UserUnusable),
        );
        check("joe@pve!net", "right", "10.1.2.3", Ok(limit));
        check(
            "joe@pve!net",
            "wrong",
            "127.0.0.1",
            Err(AuthError::BadSecret),
        );
        assert!(limit.is_some(), "the options carry a rate limit");
    }

    #[test]
    fn parse_table() {
        fn check(raw: &str, want: Option<(&str, &str)>) {
            let got = match parse(raw) {
                Credential::Token { tokenid, secret } => Some((tokenid.to_string(), secret)),
                _ => None,
            };
            let want = want.map(|(a, b)| (a.to_owned(), b.to_owned()));
            assert_eq!(got, want, "parse({raw:?})");
        }
        check("joe@pve!mon=abc", Some(("joe@pve!mon", "abc")));
        // The id is parsed where it is read: `mon=a` is no token name.
        check("joe@pve!mon=a=b", None);
        check("joe%40pve%21mon%3Dabc", Some(("joe@pve!mon", "abc")));
        check("joe@pve!mon=abc ", Some(("joe@pve!mon", "abc ")));
        check("nosecret", None);
        check("%ff%fe=x", None);
    }
}
