//! Which options each realm type takes in `domains.cfg`, and how their values are checked
//! (spec §2.4; Proxmox `PVE::Auth::{Plugin,PVE,PAM,LDAP,AD,OpenId}` `properties`/`options`).
//!
//! Values are checked and normalised (booleans become `0`/`1`) by [`check_value`]; the parser
//! and the `realm add|modify` commands share it, so the file and the CLI accept the same values.

use std::net::IpAddr;

use super::{DomainsError, RealmType};
use crate::config::text::split_list;

/// One option a realm type accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OptionSpec {
    /// The key as written in the file.
    pub key: &'static str,
    /// Whether a section without it is skipped (and `realm add` refuses to create it).
    pub required: bool,
    /// The value's shape.
    pub kind: Kind,
}

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `1|0|yes|no|on|off|true|false` (case-insensitive), written `1`/`0`; a bare key means 1.
    Bool,
    /// Integer 1..=65535.
    Port,
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// Any single-line text up to the length, with an extra check.
    Text(usize, Check),
}

/// Extra checks on text values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing beyond the length.
    None,
    /// `\S+`.
    NoSpace,
    /// `\S{2,}`.
    NoSpace2,
    /// An IP address or DNS name (`address` format).
    Address,
    /// `\w+=[^,]+(,\s*\w+=[^,]+)*`.
    SyncAttributes,
    /// One LDAP attribute name.
    Attr,
    /// A list of LDAP attribute names.
    AttrList,
    /// The `tfa` property string.
    Tfa,
    /// The `sync-defaults-options` property string.
    SyncOptions,
    /// `[A-Za-z0-9._-]+` (OpenID `groups-claim`).
    Claim,
    /// No control characters, space, `<`, `>`, `#` or `"` (OpenID `acr-values`).
    AcrValues,
}

const MAX_256: usize = 256;
const UNLIMITED: usize = usize::MAX;

const fn opt(key: &'static str, kind: Kind) -> OptionSpec {
    OptionSpec {
        key,
        required: false,
        kind,
    }
}

const fn req(key: &'static str, kind: Kind) -> OptionSpec {
    OptionSpec {
        key,
        required: true,
        kind,
    }
}

const TEXT_256: Kind = Kind::Text(MAX_256, Check::None);
const TEXT: Kind = Kind::Text(UNLIMITED, Check::None);
const COMMENT: OptionSpec = opt("comment", Kind::Text(4096, Check::None));
const DEFAULT: OptionSpec = opt("default", Kind::Bool);
const TFA: OptionSpec = opt("tfa", Kind::Text(128, Check::Tfa));

const SIMPLE: &[OptionSpec] = &[COMMENT, DEFAULT, TFA];

/// The options ldap and ad share (everything but server1, base_dn/user_attr/domain).
const DIRECTORY_COMMON: &[OptionSpec] = &[
    COMMENT,
    DEFAULT,
    TFA,
    opt("server2", Kind::Text(MAX_256, Check::Address)),
    opt("bind_dn", TEXT_256),
    opt("port", Kind::Port),
    opt("secure", Kind::Bool),
    opt(
        "sslversion",
        Kind::Enum(&["tlsv1", "tlsv1_1", "tlsv1_2", "tlsv1_3"]),
    ),
    opt("verify", Kind::Bool),
    opt("capath", TEXT),
    opt("cert", TEXT),
    opt("certkey", TEXT),
    opt("filter", Kind::Text(2048, Check::None)),
    opt(
        "sync_attributes",
        Kind::Text(UNLIMITED, Check::SyncAttributes),
    ),
    opt("user_classes", Kind::Text(UNLIMITED, Check::AttrList)),
    opt("group_dn", TEXT_256),
    opt("group_name_attr", Kind::Text(MAX_256, Check::Attr)),
    opt("group_filter", Kind::Text(2048, Check::None)),
    opt("group_classes", Kind::Text(UNLIMITED, Check::AttrList)),
    opt(
        "sync-defaults-options",
        Kind::Text(UNLIMITED, Check::SyncOptions),
    ),
    opt("mode", Kind::Enum(&["ldap", "ldaps", "ldap+starttls"])),
    opt("case-sensitive", Kind::Bool),
];

const LDAP_OWN: &[OptionSpec] = &[
    req("server1", Kind::Text(MAX_256, Check::Address)),
    req("base_dn", TEXT_256),
    req("user_attr", Kind::Text(MAX_256, Check::NoSpace2)),
];

const AD_OWN: &[OptionSpec] = &[
    req("server1", Kind::Text(MAX_256, Check::Address)),
    req("domain", Kind::Text(MAX_256, Check::NoSpace)),
    opt("base_dn", TEXT_256),
    opt("user_attr", Kind::Text(MAX_256, Check::NoSpace2)),
];

const OPENID: &[OptionSpec] = &[
    COMMENT,
    DEFAULT,
    req("issuer-url", TEXT_256),
    req("client-id", TEXT_256),
    opt("client-key", TEXT_256),
    opt("autocreate", Kind::Bool),
    opt("username-claim", TEXT),
    opt("groups-claim", Kind::Text(MAX_256, Check::Claim)),
    opt("groups-autocreate", Kind::Bool),
    opt("groups-overwrite", Kind::Bool),
    opt("prompt", Kind::Text(UNLIMITED, Check::NoSpace)),
    opt("scopes", TEXT),
    opt("acr-values", Kind::Text(UNLIMITED, Check::AcrValues)),
    opt("audiences", TEXT),
    opt("query-userinfo", Kind::Bool),
];

/// Whether `key` may be set only when a realm of type `kind` is created (Proxmox's `fixed`
/// options: the OpenID `username-claim`, since the userids already made from it would no
/// longer match).
pub(crate) fn is_fixed(kind: RealmType, key: &str) -> bool {
    kind == RealmType::Openid && key == "username-claim"
}

/// The spec of `key` for realms of type `kind`, if that type takes it.
pub(crate) fn spec(kind: RealmType, key: &str) -> Option<OptionSpec> {
    tables(kind)
        .iter()
        .flat_map(|t| t.iter())
        .find(|s| s.key == key)
        .copied()
}

/// Every option of `kind`.
pub(crate) fn all(kind: RealmType) -> impl Iterator<Item = &'static OptionSpec> {
    tables(kind).iter().flat_map(|t| t.iter())
}

fn tables(kind: RealmType) -> &'static [&'static [OptionSpec]] {
    match kind {
        RealmType::Pve | RealmType::Pam => &[SIMPLE],
        RealmType::Ldap => &[LDAP_OWN, DIRECTORY_COMMON],
        RealmType::Ad => &[AD_OWN, DIRECTORY_COMMON],
        RealmType::Openid => &[OPENID],
    }
}

/// Check `value` for `key` on a realm of type `kind`; the normalised value to store.
pub(crate) fn check_value(kind: RealmType, key: &str, value: &str) -> Result<String, DomainsError> {
    let spec = spec(kind, key).ok_or_else(|| DomainsError::UnknownOption {
        key: key.to_owned(),
        kind,
    })?;
    let bad = |reason: &str| DomainsError::InvalidValue {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if value.contains(['\n', '\r']) {
        return Err(bad("value contains a line feed"));
    }
    match spec.kind {
        Kind::Bool => parse_bool(value)
            .map(|b| if b { "1" } else { "0" }.to_owned())
            .ok_or_else(|| bad("not a boolean (1|0|yes|no|on|off|true|false)")),
        Kind::Port => match value.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => Ok(p.to_string()),
            _ => Err(bad("not a port number (1-65535)")),
        },
        Kind::Enum(words) => {
            if words.contains(&value) {
                Ok(value.to_owned())
            } else {
                Err(bad(&format!("must be one of {}", words.join(", "))))
            }
        }
        Kind::Text(max, check) => {
            if value.is_empty() {
                return Err(bad("empty value"));
            }
            if value.chars().count() > max {
                return Err(bad(&format!("longer than {max} characters")));
            }
            if !check_text(check, value) {
                return Err(bad(check_reason(check)));
            }
            Ok(value.to_owned())
        }
    }
}

/// Proxmox's boolean words.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Some(true),
        "0" | "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

fn check_text(check: Check, v: &str) -> bool {
    let no_space = |s: &str| !s.is_empty() && !s.chars().any(char::is_whitespace);
    match check {
        Check::None => true,
        Check::NoSpace => no_space(v),
        Check::NoSpace2 => no_space(v) && v.chars().count() >= 2,
        Check::Address => is_address(v),
        Check::SyncAttributes => v.split(',').enumerate().all(|(i, pair)| {
            let pair = if i == 0 { pair } else { pair.trim_start() };
            match pair.split_once('=') {
                Some((k, val)) => is_word(k) && !val.is_empty(),
                None => false,
            }
        }),
        Check::Attr => is_attr(v),
        Check::AttrList => {
            let mut items = split_list(v).peekable();
            items.peek().is_some() && items.all(is_attr)
        }
        Check::Tfa => is_tfa(v),
        Check::SyncOptions => is_sync_options(v),
        Check::Claim => v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
        Check::AcrValues => !v
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '<' | '>' | '#' | '"')),
    }
}

fn check_reason(check: Check) -> &'static str {
    match check {
        Check::None => "invalid value",
        Check::NoSpace => "must not contain whitespace",
        Check::NoSpace2 => "must be at least 2 characters without whitespace",
        Check::Address => "not an IP address or DNS name",
        Check::SyncAttributes => "not a list of key=value pairs",
        Check::Attr => "not an LDAP attribute name",
        Check::AttrList => "not a list of LDAP attribute names",
        Check::Tfa => {
            "not a tfa setting (type=oath|yubico[,digits=6..8][,step=N][,id=..][,key=..][,url=..])"
        }
        Check::SyncOptions => {
            "not sync options (scope=users|groups|both,remove-vanished=..,enable-new=..)"
        }
        Check::Claim => "must match [A-Za-z0-9._-]+",
        Check::AcrValues => "contains characters not allowed in a URI",
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn is_attr(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// An IP address or a DNS name (labels of letters, digits and inner hyphens).
pub(crate) fn is_address(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Key/value pairs of a property string; `None` if a pair has no `=` or a key repeats.
fn property_pairs(s: &str) -> Option<Vec<(&str, &str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in s.split(',') {
        let (k, v) = part.split_once('=')?;
        if out.iter().any(|(seen, _)| *seen == k) {
            return None;
        }
        out.push((k, v));
    }
    Some(out)
}

fn is_tfa(s: &str) -> bool {
    let Some(pairs) = property_pairs(s) else {
        return false;
    };
    let mut has_type = false;
    pairs.iter().all(|(k, v)| match *k {
        "type" => {
            has_type = true;
            matches!(*v, "oath" | "yubico")
        }
        "digits" => v.parse::<u8>().is_ok_and(|d| (6..=8).contains(&d)),
        "step" => v.parse::<u64>().is_ok_and(|d| d >= 10),
        "id" | "key" | "url" => !v.is_empty(),
        _ => false,
    }) && has_type
}

fn is_sync_options(s: &str) -> bool {
    let Some(pairs) = property_pairs(s) else {
        return false;
    };
    pairs.iter().all(|(k, v)| match *k {
        "scope" => matches!(*v, "users" | "groups" | "both"),
        "remove-vanished" => {
            *v == "none"
                || v.split(';')
                    .all(|x| matches!(x, "acl" | "properties" | "entry"))
        }
        "enable-new" | "full" | "purge" => parse_bool(v).is_some(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: RealmType, key: &str, value: &str, want: Option<&str>) {
        let got = check_value(kind, key, value).ok();
        assert_eq!(
            got.as_deref(),
            want,
            "check_value({kind:?}, {key:?}, {value:?})"
        );
    }

    #[test]
    fn values_are_checked_and_normalised() {
        use RealmType::*;
        check(Pve, "default", "yes", Some("1"));
        check(Pve, "default", "Off", Some("0"));
        check(Pve, "default", "2", None);
        check(Pve, "server1", "x", None);
        check(
            Ldap,
            "server1",
            "ldap.example.com",
            Some("ldap.example.com"),
        );
        check(Ldap, "server1", "127.0.0.1", Some("127.0.0.1"));
        check(Ldap, "server1", "::1", Some("::1"));
        check(Ldap, "server1", "-bad.example", None);
        check(Ldap, "server1", "a b", None);
        check(Ldap, "port", "636", Some("636"));
        check(Ldap, "port", "0", None);
        check(Ldap, "port", "65536", None);
        check(Ldap, "mode", "ldap+starttls", Some("ldap+starttls"));
        check(Ldap, "mode", "tls", None);
        check(Ldap, "user_attr", "uid", Some("uid"));
        check(Ldap, "user_attr", "u", None);
        check(Ldap, "domain", "example.com", None);
        check(Ad, "domain", "example.com", Some("example.com"));
        check(Ad, "domain", "a b", None);
        check(
            Pam,
            "tfa",
            "type=oath,step=30,digits=6",
            Some("type=oath,step=30,digits=6"),
        );
        check(Pam, "tfa", "type=oath,digits=9", None);
        check(Pam, "tfa", "digits=6", None);
        check(Pam, "tfa", "type=totp", None);
        check(
            Ldap,
            "sync_attributes",
            "email=mail, firstname=givenName",
            Some("email=mail, firstname=givenName"),
        );
        check(Ldap, "sync_attributes", "email", None);
        check(
            Ldap,
            "user_classes",
            "inetorgperson, posixaccount",
            Some("inetorgperson, posixaccount"),
        );
        check(Ldap, "user_classes", "bad!class", None);
        check(
            Ldap,
            "sync-defaults-options",
            "scope=both,enable-new=1,remove-vanished=acl;entry",
            Some("scope=both,enable-new=1,remove-vanished=acl;entry"),
        );
        check(Ldap, "sync-defaults-options", "scope=all", None);
        check(
            Openid,
            "issuer-url",
            "https://id.example",
            Some("https://id.example"),
        );
        check(Openid, "tfa", "type=oath", None);
        check(Openid, "groups-claim", "groups", Some("groups"));
        check(Openid, "groups-claim", "a/b", None);
        check(Ldap, "comment", "two\nlines", None);
        check(Ldap, "password", "secret", None);
    }
}
