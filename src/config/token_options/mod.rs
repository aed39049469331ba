//! `state/token-options.cfg`: aclgate's per-token settings that Proxmox does not have — where a
//! token may be used from (`allowed-ips`) and how often (`rate-limit`, `rate-burst`). They live
//! here, not in `user.cfg`, so that file stays byte-compatible with Proxmox.
//!
//! Format, in the style of Proxmox's section config: one section per token id, a property per
//! indented line (the canonical form indents with a tab), a blank line after each section, `#`
//! comment lines allowed:
//! ```text
//! token: joe@pve!monitoring
//!     allowed-ips 10.0.0.0/8,2001:db8::/32
//!     rate-limit 10
//!     rate-burst 20
//! ```
//! The canonical form (what [`TokenOptions::write`] produces) sorts sections by token id,
//! writes the properties in this order with a tab, networks as `NET/LEN`, and leaves out
//! sections without settings.
//!
//! Unlike user.cfg this reader is strict: every setting here narrows what a token may do, so
//! skipping a bad line would widen access. A file with any error is refused as a whole (the
//! reload keeps the previous snapshot, a first start refuses to run, `check-config` names
//! `file:line`). Sections of tokens that do not exist are left out with a warning.

mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::cidr::{Cidr, CidrError};
use super::user_cfg::Warning;
use crate::identity::Tokenid;

/// The settings of every token that has some, by full token id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenOptions {
    /// Keyed by the token id text so the request path looks up a `&str` without parsing.
    by_id: BTreeMap<String, TokenOption>,
}

/// One token's settings; `None` = no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenOption {
    /// Source networks the token may be used from.
    pub allowed_ips: Option<AllowedIps>,
    /// Requests per second (and burst) the gateway lets through.
    pub rate_limit: Option<RateLimit>,
}

/// A non-empty list of networks, without duplicates, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedIps(Vec<Cidr>);

/// A token bucket's size: `rate` requests per second, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second (1 ..= [`MAX_RATE`]).
    pub rate: u32,
    /// Requests allowed at once; `None` = `rate`.
    pub burst: Option<u32>,
}

/// Why a setting's value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("{0}")]
    Cidr(#[from] CidrError),
    #[error("empty list of networks (delete the setting to allow every address)")]
    EmptyList,
    #[error("`{key}` must be an integer from 1 to {MAX_RATE}, got `{value}`")]
    Rate { key: &'static str, value: String },
    #[error("`rate-burst` needs `rate-limit`")]
    BurstWithoutRate,
    #[error("at most {MAX_NETWORKS} networks per token")]
    TooManyNetworks,
}

/// Why a token-options.cfg text is refused (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// Where.
    pub line: usize,
    /// What.
    pub message: String,
}

/// The largest `rate-limit` and `rate-burst`.
pub const MAX_RATE: u32 = 1_000_000;

// === impl TokenOptions ===

impl TokenOptions {
    /// Read the file text strictly; sections of tokens for which `exists` is false are left
    /// out with a warning.
    pub fn parse(
        text: &str,
        exists: impl Fn(&Tokenid) -> bool,
    ) -> Result<(TokenOptions, Vec<Warning>), ParseError> {
        parse::parse(text, exists)
    }

    /// The canonical file text.
    pub fn write(&self) -> String {
        let mut out = String::new();
        for (id, option) in &self.by_id {
            if option.is_empty() {
                continue;
            }
            out.push_str("token: ");
            out.push_str(id);
            out.push('\n');
            if let Some(ips) = &option.allowed_ips {
                out.push_str(&format!("\tallowed-ips {ips}\n"));
            }
            if let Some(limit) = &option.rate_limit {
                out.push_str(&format!("\trate-limit {}\n", limit.rate));
                if let Some(burst) = limit.burst {
                    out.push_str(&format!("\trate-burst {burst}\n"));
                }
            }
            out.push('\n');
        }
        out
    }

    /// The settings of token `id` (by its full text), if it has any.
    pub fn find(&self, id: &str) -> Option<&TokenOption> {
        self.by_id.get(id)
    }

    /// Replace the settings of `id` (settings without any restriction are removed).
    pub fn set(&mut self, id: &Tokenid, option: TokenOption) {
        if option.is_empty() {
            self.by_id.remove(id.as_str());
        } else {
            self.by_id.insert(id.as_str().to_owned(), option);
        }
    }

    /// Forget the settings of `id`.
    pub fn remove(&mut self, id: &Tokenid) {
        self.by_id.remove(id.as_str());
    }

    /// Keep only the settings of tokens for which `keep` is true.
    pub fn retain(&mut self, keep: impl Fn(&Tokenid) -> bool) {
        // Keys were parsed as token ids on the way in; an unparsable one cannot belong to a token.
        self.by_id
            .retain(|id, _| id.parse::<Tokenid>().is_ok_and(|id| keep(&id)));
    }

    /// Number of tokens with settings.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no token has settings.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

// === impl TokenOption ===

impl TokenOption {
    /// Whether nothing is restricted.
    pub fn is_empty(&self) -> bool {
        self.allowed_ips.is_none() && self.rate_limit.is_none()
    }

    /// Whether the token may be used from `peer` (always, without `allowed-ips`).
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.allowed_ips.as_ref().is_none_or(|ips| ips.allows(peer))
    }
}

// === impl AllowedIps ===

impl AllowedIps {
    /// Whether `peer` lies in one of the networks.
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(peer))
    }

    /// The networks.
    pub fn networks(&self) -> &[Cidr] {
        &self.0
    }
}

/// The most networks one token may list: every request scans the list, and the duplicate
/// check on writing is quadratic.
pub const MAX_NETWORKS: usize = 256;

impl std::str::FromStr for AllowedIps {
    type Err = OptionError;

    /// A list split on `,`, `;` and whitespace (as pveum lists); duplicates are dropped.
    fn from_str(text: &str) -> Result<AllowedIps, OptionError> {
        let mut out: Vec<Cidr> = Vec::new();
        for item in text
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let cidr: Cidr = item.parse()?;
            if !out.contains(&cidr) {
                if out.len() == MAX_NETWORKS {
                    return Err(OptionError::TooManyNetworks);
                }
                out.push(cidr);
            }
        }
        if out.is_empty() {
            return Err(OptionError::EmptyList);
        }
        Ok(AllowedIps(out))
    }
}

impl fmt::Display for AllowedIps {
    /// Comma-separated `NET/LEN` items.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cidr) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{cidr}")?;
        }
        Ok(())
    }
}

// === impl RateLimit ===

impl RateLimit {
    /// The burst in force: `rate-burst`, else `rate-limit`.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.rate)
    }
}

/// A `rate-limit` or `rate-burst` value: an integer from 1 to [`MAX_RATE`].
pub fn parse_rate(key: &'static str, value: &str) -> Result<u32, OptionError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_RATE).contains(n) && value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| OptionError::Rate {
            key,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(s: &str) -> Tokenid {
        s.parse().unwrap()
    }

    fn all(_: &Tokenid) -> bool {
        true
    }

    pub(super) const CANONICAL: &str = "\
token: a@pve!tk
\tallowed-ips 10.0.0.0/8,2001:db8::/32
\trate-limit 10
\trate-burst 20

token: b@pve!tk
\trate-limit 5

token: c@pve!tk
\tallowed-ips 127.0.0.2/32

";

    #[test]
    fn canonical_text_round_trips() {
        let (options, warnings) = TokenOptions::parse(CANONICAL, all).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(options.len(), 3);
        assert_eq!(options.write(), CANONICAL);
        let a = options.find("a@pve!tk").unwrap();
        assert_eq!(
            a.rate_limit,
            Some(RateLimit {
                rate: 10,
                burst: Some(20)
            })
        );
        assert_eq!(
            options
                .find("b@pve!tk")
                .unwrap()
                .rate_limit
                .unwrap()
                .burst(),
            5
        );
        let (again, _) = TokenOptions::parse(&options.write(), all).unwrap();
        assert_eq!(again, options);
    }

    #[test]
    fn allowed_ips_are_bounded() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(list(MAX_NETWORKS).parse::<AllowedIps>().is_ok());
        assert_eq!(
            list(MAX_NETWORKS + 1).parse::<AllowedIps>(),
            Err(OptionError::TooManyNetworks)
        );
        // Duplicates do not count.
        let doubled = format!("{0},{0}", list(MAX_NETWORKS));
        assert!(doubled.parse::<AllowedIps>().is_ok());
    }

    #[test]
    fn set_remove_retain() {
        let mut options = TokenOptions::default();
        let ips: AllowedIps = "10.0.0.0/8".parse().unwrap();
        let restricted = TokenOption {
            allowed_ips: Some(ips),
            rate_limit: None,
        };
        options.set(&tid("a@pve!tk"), restricted.clone());
        options.set(&tid("b@pve!tk"), restricted);
        assert_eq!(options.len(), 2);
        options.set(&tid("a@pve!tk"), TokenOption::default());
        assert!(
            options.find("a@pve!tk").is_none(),
            "empty settings are dropped"
        );
        options.retain(|id| id.as_str() != "b@pve!tk");
        assert!(options.is_empty());
        assert_eq!(options.write(), "");
    }

    #[test]
    fn allows_table() {
        fn check(list: Option<&str>, peer: &str, want: bool) {
            let option = TokenOption {
                allowed_ips: list.map(|l| l.parse().unwrap()),
                rate_limit: None,
            };
            let ip: IpAddr = peer.parse().unwrap();
            assert_eq!(option.allows(ip), want, "allowed-ips {list:?}, peer {peer}");
        }
        check(None, "203.0.113.1", true);
        check(Some("127.0.0.2"), "127.0.0.1", false);
        check(Some("127.0.0.2"), "127.0.0.2", true);
        check(Some("10.0.0.0/8,127.0.0.0/8"), "127.0.0.1", true);
        check(Some("10.0.0.0/8,::1"), "::1", true);
        check(Some("10.0.0.0/8,::1"), "::ffff:10.0.0.7", true);
        check(Some("10.0.0.0/8,::1"), "192.0.2.1", false);
    }
}
