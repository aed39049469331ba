//! The login's userid lookup (spec §1, `PVE::AccessControl::lookup_username`).
//!
//! For a realm with `case-sensitive 0` the submitted userid is compared case-insensitively with
//! every userid in user.cfg: exactly one match gives the stored spelling (used from then on,
//! also inside the ticket), several matches refuse the login, no match keeps the submitted
//! spelling (the later "user exists" check then fails). Everything else is case-sensitive.

use thiserror::Error;

use crate::config::{DomainsConfig, UserConfig};
use crate::identity::Userid;

/// Why no userid could be settled on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LookupError {
    /// The submitted text is not a valid userid.
    #[error("invalid user id '{0}'")]
    Invalid(String),
    /// Several stored userids differ from the submitted one only in case.
    #[error("ambiguous case insensitive match of username '{0}', cannot safely grant access")]
    Ambiguous(String),
}

/// The userid to log in as: the stored spelling for `case-sensitive 0` realms.
pub fn canonical_userid(
    users: &UserConfig,
    domains: &DomainsConfig,
    submitted: &str,
) -> Result<Userid, LookupError> {
    let userid: Userid = submitted
        .parse()
        .map_err(|_| LookupError::Invalid(submitted.to_owned()))?;
    let case_sensitive = domains
        .realm(userid.realm())
        .is_none_or(|r| r.case_sensitive());
    if case_sensitive {
        return Ok(userid);
    }
    let wanted = submitted.to_lowercase();
    let mut matches = users
        .users
        .keys()
        .filter(|u| u.as_str().to_lowercase() == wanted);
    match (matches.next(), matches.next()) {
        (Some(only), None) => Ok(only.clone()),
        (Some(_), Some(_)) => Err(LookupError::Ambiguous(submitted.to_owned())),
        (None, _) => Ok(userid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::user_cfg::User;

    fn users(ids: &[&str]) -> UserConfig {
        let mut cfg = UserConfig::default();
        for id in ids {
            cfg.users.insert(id.parse().unwrap(), User::new());
        }
        cfg
    }

    fn check(
        users: &UserConfig,
        domains: &DomainsConfig,
        submitted: &str,
        want: Result<&str, LookupError>,
    ) {
        let got = canonical_userid(users, domains, submitted);
        let got = got.as_ref().map(|u| u.as_str()).map_err(Clone::clone);
        assert_eq!(got, want, "canonical_userid({submitted:?})");
    }

    #[test]
    fn case_insensitive_realms_map_to_the_stored_spelling() {
        let (domains, w) = DomainsConfig::parse(
            "ldap: corp\n\tserver1 ldap.example\n\tbase_dn dc=example\n\tuser_attr uid\n\tcase-sensitive 0\n\n\
             ldap: strict\n\tserver1 ldap.example\n\tbase_dn dc=example\n\tuser_attr uid\n",
        );
        assert!(w.is_empty(), "{w:?}");
        let u = users(&[
            "Alice@corp",
            "bob@corp",
            "BOB@corp",
            "Carol@strict",
            "dave@pve",
        ]);
        check(&u, &domains, "alice@corp", Ok("Alice@corp"));
        check(&u, &domains, "ALICE@corp", Ok("Alice@corp"));
        // The realm itself is looked up exactly, as in Proxmox: `CORP` is no realm, so
        // the comparison stays case-sensitive.
        check(&u, &domains, "alice@CORP", Ok("alice@CORP"));
        check(&u, &domains, "Alice@corp", Ok("Alice@corp"));
        check(
            &u,
            &domains,
            "bob@corp",
            Err(LookupError::Ambiguous("bob@corp".into())),
        );
        check(&u, &domains, "erin@corp", Ok("erin@corp"));
        check(&u, &domains, "carol@strict", Ok("carol@strict"));
        check(&u, &domains, "DAVE@pve", Ok("DAVE@pve"));
        check(
            &u,
            &domains,
            "no-realm",
            Err(LookupError::Invalid("no-realm".into())),
        );
    }
}
