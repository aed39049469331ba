//! Proxmox identifiers as types parsed at the edge (spec §1): [`Realm`], [`Userid`], [`TokenName`],
//! [`Tokenid`], [`Authid`], and the group, role and pool ids.
//!
//! Every type keeps its canonical text and orders by it, so sorted collections of ids sort exactly
//! as Proxmox's writer does (Perl `sort`, byte order). The ids that repeat by the million in a large
//! `user.cfg` (users, tokens, groups, roles) hold their text in an `Arc<str>`: a clone shares it,
//! so a parser that interns each distinct id stores its text once (docs/scale.md).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;

/// A string that is not a valid identifier of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("invalid realm '{0}'")]
    Realm(String),
    #[error("invalid user name in '{0}'")]
    UserName(String),
    #[error("value '{0}' does not look like a valid user name (name@realm)")]
    Userid(String),
    #[error("user name '{0}' is too short")]
    UseridTooShort(String),
    #[error("user name '{0}' is too long ({1} > 64)")]
    UseridTooLong(String, usize),
    #[error("invalid token name '{0}'")]
    TokenName(String),
    #[error("value '{0}' does not look like a valid token id (name@realm!token)")]
    Tokenid(String),
    #[error("invalid group id '{0}'")]
    Group(String),
    #[error("invalid role id '{0}'")]
    Role(String),
    #[error("invalid pool id '{0}'")]
    Pool(String),
}

/// Realm: `[A-Za-z][A-Za-z0-9._-]+`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Realm(String);

/// User id `name@realm`; the realm follows the last `@`. 3 to 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Userid {
    text: Arc<str>,
    /// Byte offset of the `@` that separates name and realm.
    at: usize,
}

/// Token name (the part after `!`): same grammar as a realm.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenName(String);

/// Full token id `name@realm!token`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tokenid {
    text: Arc<str>,
    /// Byte offset of the `!` that separates the owner from the token name.
    bang: usize,
}

/// Authentication id: a user or a token. This is what every permission check compares against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Authid {
    User(Userid),
    Token(Tokenid),
}

/// Group id: `[A-Za-z0-9._-]+`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(Arc<str>);

/// Role id: `[A-Za-z0-9._-]+`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleId(Arc<str>);

/// Pool id: one to three levels joined by `/`, each `[A-Za-z0-9._-]+`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolId(String);

// === impl Realm ===

impl Realm {
    /// The realm text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Realm {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_realm_like(s) {
            Ok(Realm(s.to_owned()))
        } else {
            Err(IdError::Realm(s.to_owned()))
        }
    }
}

// === impl Userid ===

impl Userid {
    /// The superuser, who passes every check.
    pub const ROOT: &'static str = "root@pam";

    /// The full `name@realm` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The name part (before the last `@`).
    pub fn name(&self) -> &str {
        &self.text[..self.at]
    }

    /// The realm part (after the last `@`).
    pub fn realm(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// Whether this is `root@pam`.
    pub fn is_root(&self) -> bool {
        &*self.text == Self::ROOT
    }

    /// Build `name@realm` from its parts, checking the whole.
    pub fn from_parts(name: &str, realm: &str) -> Result<Self, IdError> {
        format!("{name}@{realm}").parse()
    }
}

impl FromStr for Userid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        // Length first, as Proxmox's verify_username reports it.
        if s.len() < 3 {
            return Err(IdError::UseridTooShort(s.to_owned()));
        }
        if s.len() > 64 {
            return Err(IdError::UseridTooLong(s.to_owned(), s.len()));
        }
        let at = userid_at(s).ok_or_else(|| IdError::Userid(s.to_owned()))?;
        Ok(Userid { text: s.into(), at })
    }
}

// === impl TokenName ===

impl TokenName {
    /// The token name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TokenName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_realm_like(s) {
            Ok(TokenName(s.to_owned()))
        } else {
            Err(IdError::TokenName(s.to_owned()))
        }
    }
}

// === impl Tokenid ===

impl Tokenid {
    /// The full `name@realm!token` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The owner's userid text (before the last `!`).
    pub fn user_str(&self) -> &str {
        &self.text[..self.bang]
    }

    /// The owner.
    pub fn user(&self) -> Userid {
        let at = self.text[..self.bang].rfind('@').unwrap_or(0);
        Userid {
            text: self.text[..self.bang].into(),
            at,
        }
    }

    /// The token name (after the last `!`).
    pub fn name(&self) -> &str {
        &self.text[self.bang + 1..]
    }

    /// Build `user!name`.
    pub fn new(user: &Userid, name: &TokenName) -> Self {
        Tokenid {
            text: format!("{}!{}", user.as_str(), name.as_str()).into(),
            bang: user.as_str().len(),
        }
    }
}

impl FromStr for Tokenid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bang = s.rfind('!').ok_or_else(|| IdError::Tokenid(s.to_owned()))?;
        let (user, name) = (&s[..bang], &s[bang + 1..]);
        // The owner is checked in place: parsing it as a Userid would allocate its text.
        if userid_at(user).is_none() || !is_realm_like(name) {
            return Err(IdError::Tokenid(s.to_owned()));
        }
        Ok(Tokenid {
            text: s.into(),
            bang,
        })
    }
}

// === impl Authid ===

impl Authid {
    /// The full text: a userid or a full token id.
    pub fn as_str(&self) -> &str {
        match self {
            Authid::User(u) => u.as_str(),
            Authid::Token(t) => t.as_str(),
        }
    }

    /// The user behind this id: itself, or the token's owner.
    pub fn user_str(&self) -> &str {
        match self {
            Authid::User(u) => u.as_str(),
            Authid::Token(t) => t.user_str(),
        }
    }

    /// Whether this is the user `root@pam` itself (tokens of root are not root).
    pub fn is_root(&self) -> bool {
        matches!(self, Authid::User(u) if u.is_root())
    }

    /// Whether this is a token id.
    pub fn is_token(&self) -> bool {
        matches!(self, Authid::Token(_))
    }
}

impl FromStr for Authid {
    type Err = IdError;
    /// A token if the text has the full token-id shape, else a userid (as Proxmox decides).
    fn from_str(s: &str) -> Result<Self, IdError> {
        match s.parse::<Tokenid>() {
            Ok(t) => Ok(Authid::Token(t)),
            Err(_) => s.parse::<Userid>().map(Authid::User),
        }
    }
}

impl From<Userid> for Authid {
    fn from(u: Userid) -> Self {
        Authid::User(u)
    }
}

impl From<Tokenid> for Authid {
    fn from(t: Tokenid) -> Self {
        Authid::Token(t)
    }
}

// === impl GroupId, RoleId, PoolId ===

impl GroupId {
    /// The group id text (without `@`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GroupId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_safe_id(s) {
            Ok(GroupId(s.into()))
        } else {
            Err(IdError::Group(s.to_owned()))
        }
    }
}

impl RoleId {
    /// The role id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoleId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if is_safe_id(s) {
            Ok(RoleId(s.into()))
        } else {
            Err(IdError::Role(s.to_owned()))
        }
    }
}

impl PoolId {
    /// The pool id text, levels joined by `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent pool of a nested pool (`a/b` → `a`), if any.
    pub fn parent(&self) -> Option<PoolId> {
        self.0.rfind('/').map(|i| PoolId(self.0[..i].to_owned()))
    }
}

impl FromStr for PoolId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let levels = s.split('/').count();
        if levels <= 3 && s.split('/').all(is_safe_id) {
            Ok(PoolId(s.to_owned()))
        } else {
            Err(IdError::Pool(s.to_owned()))
        }
    }
}

// === Display, serde ===

macro_rules! text_id {
    ($($ty:ident => |$v:ident| $text:expr;)*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $v = self;
                f.write_str($text)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let $v = self;
                s.serialize_str($text)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

text_id! {
    Realm => |v| &v.0;
    Userid => |v| &v.text;
    TokenName => |v| &v.0;
    Tokenid => |v| &v.text;
    Authid => |v| v.as_str();
    GroupId => |v| &v.0;
    RoleId => |v| &v.0;
    PoolId => |v| &v.0;
}

// === grammar helpers ===

/// Storage id (`pve-storage-id`): `[a-z][a-z0-9._-]*[a-z0-9]`, case-insensitive.
pub fn is_storage_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| is_safe_byte(c))
}

/// Where the `@` of a valid userid is (its last one): 3 to 64 bytes, `name@realm`.
fn userid_at(s: &str) -> Option<usize> {
    if !(3..=64).contains(&s.len()) {
        return None;
    }
    let at = s.rfind('@')?;
    (is_user_name(&s[..at]) && is_realm_like(&s[at + 1..])).then_some(at)
}

/// `[A-Za-z][A-Za-z0-9._-]+`: realms and token names.
fn is_realm_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1..].iter().all(|&c| is_safe_byte(c))
}

/// `[^\s:/]+`: the name part of a userid.
fn is_user_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == ':' || c == '/')
}

/// `[A-Za-z0-9._-]+`: group, role and pool-level ids.
pub(crate) fn is_safe_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_safe_byte)
}

fn is_safe_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_userid(s: &str, ok: bool) {
        assert_eq!(s.parse::<Userid>().is_ok(), ok, "userid '{s}'");
    }

    #[test]
    fn userid_grammar() {
        for (s, ok) in [
            ("joe@pve", true),
            ("a@pam", true),
            ("a!b%c;d,e@pve", true),
            ("x@y@pve", true),
            ("joe@p", false),
            ("joe@1ve", false),
            ("jo e@pve", false),
            ("jo:e@pve", false),
            ("jo/e@pve", false),
            ("@pve", false),
            ("joe", false),
            ("joe@pve!tok", false),
        ] {
            check_userid(s, ok);
        }
        let long = format!("{}@pve", "a".repeat(61));
        assert!(matches!(
            long.parse::<Userid>(),
            Err(IdError::UseridTooLong(_, 65))
        ));
        let u: Userid = "x@y@pve".parse().unwrap();
        assert_eq!((u.name(), u.realm()), ("x@y", "pve"));
    }

    #[test]
    fn tokenid_and_authid() {
        let t: Tokenid = "a!b@pve!mon".parse().unwrap();
        assert_eq!((t.user_str(), t.name()), ("a!b@pve", "mon"));
        assert_eq!(t.user().realm(), "pve");
        assert!("joe@pve!m".parse::<Tokenid>().is_err());
        assert!("joe@pve!1m".parse::<Tokenid>().is_err());
        assert!(matches!(
            "joe@pve!mon".parse::<Authid>(),
            Ok(Authid::Token(_))
        ));
        assert!(matches!(
            "x@pve!t@pam".parse::<Authid>(),
            Ok(Authid::User(_))
        ));
        assert!(!"root@pam!tk".parse::<Authid>().unwrap().is_root());
        assert!("root@pam".parse::<Authid>().unwrap().is_root());
    }

    #[test]
    fn pool_ids() {
        assert!("a/b/c".parse::<PoolId>().is_ok());
        assert!("a/b/c/d".parse::<PoolId>().is_err());
        assert!("a//b".parse::<PoolId>().is_err());
        let p: PoolId = "a/b".parse().unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "a");
    }
}
