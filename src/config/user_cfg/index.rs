//! [`AuthIndex`]: what authentication reads from `user.cfg` (is the account usable, is the
//! token defined and unexpired), in hashed maps keyed by the id text, built once per snapshot.
//!
//! The request path then looks a presented token id up as a `&str` with one hash lookup,
//! instead of parsing owner and token name and walking two ordered maps of thousands of users.

use rustc_hash::FxHashMap;

use super::{Change, Token, User, UserConfig};

/// The users and tokens of one [`UserConfig`], for lookups by id text.
#[derive(Debug, Default, Clone)]
pub struct AuthIndex {
    users: FxHashMap<Box<str>, Account>,
    tokens: FxHashMap<Box<str>, TokenAccount>,
}

/// A user's (or a token owner's) `enable` and `expire` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    enable: bool,
    expire: u64,
}

/// A defined token: its owner's account and its own expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenAccount {
    /// The owner.
    pub owner: Account,
    expire: u64,
}

// === impl AuthIndex ===

impl AuthIndex {
    /// Index every user and every token of `cfg`.
    pub fn build(cfg: &UserConfig) -> AuthIndex {
        let mut index = AuthIndex::default();
        index.users.reserve(cfg.users.len());
        for (userid, user) in &cfg.users {
            let owner = Account::of(user);
            index.users.insert(userid.as_str().into(), owner);
            for (name, token) in &user.tokens {
                let id = format!("{}!{}", userid.as_str(), name.as_str());
                index
                    .tokens
                    .insert(id.into_boxed_str(), TokenAccount::of(owner, token));
            }
        }
        index
    }

    /// Apply `change` (checked by [`UserConfig::apply`] first), as [`AuthIndex::build`] of
    /// the changed configuration would answer.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::UserSet { id, enable, expire } => {
                let account = Account {
                    enable: *enable,
                    expire: *expire,
                };
                self.users.insert(id.as_str().into(), account);
                let prefix = format!("{}!", id.as_str());
                for (tid, token) in &mut self.tokens {
                    if tid.starts_with(&prefix) {
                        token.owner = account;
                    }
                }
            }
            Change::UserRemove(id) => {
                self.users.remove(id.as_str());
                let prefix = format!("{}!", id.as_str());
                self.tokens.retain(|tid, _| !tid.starts_with(&prefix));
                if id.is_root() {
                    // root@pam is always defined (Proxmox forces it in).
                    self.users
                        .insert(id.as_str().into(), Account::of(&User::new()));
                }
            }
            Change::TokenSet { id, expire, .. } => {
                if let Some(owner) = self.user(id.user_str()) {
                    let token = TokenAccount {
                        owner,
                        expire: *expire,
                    };
                    self.tokens.insert(id.as_str().into(), token);
                }
            }
            Change::TokenRemove(id) => {
                self.tokens.remove(id.as_str());
            }
            Change::GroupMember { .. } | Change::RoleSet { .. } | Change::Acl { .. } => {}
        }
    }

    /// The user with this userid text, if defined.
    pub fn user(&self, userid: &str) -> Option<Account> {
        self.users.get(userid).copied()
    }

    /// The token with this full token id text, if its owner and the token are defined.
    pub fn token(&self, tokenid: &str) -> Option<TokenAccount> {
        self.tokens.get(tokenid).copied()
    }
}

// === impl Account, TokenAccount ===

impl Account {
    fn of(user: &User) -> Account {
        Account {
            enable: user.enable,
            expire: user.expire,
        }
    }

    /// As [`User::is_usable`]: enabled and not expired at `now`.
    pub fn is_usable(self, now: u64) -> bool {
        User::usable(self.enable, self.expire, now)
    }
}

impl TokenAccount {
    fn of(owner: Account, token: &Token) -> TokenAccount {
        TokenAccount {
            owner,
            expire: token.expire,
        }
    }

    /// As [`Token::is_unexpired`]: the token's own expiry allows use at `now`.
    pub fn is_unexpired(self, now: u64) -> bool {
        Token::unexpired(self.expire, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_the_config_does() {
        let text = "user:joe@pve:1:0::::::\n\
                    token:joe@pve!mon:0:1::\n\
                    token:joe@pve!old:100:1::\n\
                    user:off@pve:0:0::::::\n\
                    token:off@pve!tk:0:1::\n\
                    user:gone@pve:1:100::::::\n";
        let (cfg, warnings) = UserConfig::parse(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let index = AuthIndex::build(&cfg);
        // (token id, defined, owner usable at 200, token unexpired at 200)
        let cases = [
            ("joe@pve!mon", true, true, true),
            ("joe@pve!old", true, true, false),
            ("off@pve!tk", true, false, true),
            ("joe@pve!none", false, false, false),
            ("nobody@pve!mon", false, false, false),
            ("joe@pve", false, false, false),
        ];
        for (id, defined, usable, unexpired) in cases {
            let got = index.token(id);
            assert_eq!(got.is_some(), defined, "token({id})");
            let want = id.parse().ok().and_then(|t| cfg.token(&t)).is_some();
            assert_eq!(defined, want, "token({id}) as UserConfig::token says");
            if let Some(t) = got {
                assert_eq!(t.owner.is_usable(200), usable, "owner of {id}");
                assert_eq!(t.is_unexpired(200), unexpired, "expiry of {id}");
            }
        }
        // (userid, defined, usable at 200)
        for (id, defined, usable) in [
            ("joe@pve", true, true),
            ("off@pve", true, false),
            ("gone@pve", true, false),
            ("root@pam", true, true),
            ("nobody@pve", false, false),
        ] {
            let got = index.user(id);
            assert_eq!(got.is_some(), defined, "user({id})");
            assert_eq!(got.is_some_and(|a| a.is_usable(200)), usable, "user({id})");
        }
    }
}
