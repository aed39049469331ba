//! API-token credentials (spec §6.4): parse the header value, verify against the snapshot
//! (secret, owner, expiry, and aclgate's per-token `allowed-ips`).

use std::net::IpAddr;

use super::{AuthError, Credential};
use crate::config::token_options::RateLimit;
use crate::config::user_cfg::AuthIndex;
use crate::config::{TokenOptions, TokenShadow};
use crate::identity::Tokenid;
use crate::snapshot::Snapshot;

/// Parse the raw value after `PVEAPIToken=`: percent-decode, split at the LAST `=`.
pub(super) fn parse(raw: &str) -> Credential {
    let Some(decoded) = super::percent_decoded(raw) else {
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
    let state = State {
        shadow: &snapshot.tokens,
        index: &snapshot.auth_index,
        options: &snapshot.token_options,
    };
    state.verify(id, secret, peer, now)
}

/// The parts of a snapshot a token check reads.
struct State<'a> {
    shadow: &'a TokenShadow,
    index: &'a AuthIndex,
    options: &'a TokenOptions,
}

impl State<'_> {
    fn verify(
        &self,
        id: &Tokenid,
        secret: &str,
        peer: IpAddr,
        now: u64,
    ) -> Result<Option<RateLimit>, AuthError> {
        // The secret is verified first and always, so that the time taken does not depend on
        // whether the user or token exists.
        let secret_ok = self.shadow.verify_at(id.as_str(), secret, now);
        // One hashed lookup answers for owner and token; the owner alone only on failure, to tell
        // an unknown user from an unknown token (the same order of checks as in `user.cfg`).
        let index = self.index;
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
        // Checked after the secret, so the log reason `source address not allowed` means a valid
        // credential was presented from elsewhere (a leaked token, or a stale allow-list).
        let options = self.options.find(id.as_str());
        if options.is_some_and(|o| !o.allows(peer)) {
            return Err(AuthError::SourceNotAllowed);
        }
        Ok(options.and_then(|o| o.rate_limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

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
        let state = State {
            shadow: &shadow,
            index: &index,
            options: &options,
        };
        let limit = options.find("joe@pve!net").and_then(|o| o.rate_limit);
        let check =
            |id: &str, secret: &str, peer: &str, want: Result<Option<RateLimit>, AuthError>| {
                let got = state.verify(&id.parse().unwrap(), secret, peer.parse().unwrap(), 200);
                assert_eq!(got, want, "verify({id}, {secret}, from {peer})");
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
            "right",
            "127.0.0.1",
            Err(AuthError::SourceNotAllowed),
        );
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
