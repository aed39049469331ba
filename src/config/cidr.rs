//! IP networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, a bare address = `/32` or
//! `/128`), for the per-token `allowed-ips` setting ([`super::token_options`]).
//!
//! IPv4 is one address family whichever way it arrives: a peer seen as an IPv4-mapped IPv6
//! address (`::ffff:10.1.2.3`, from a dual-stack socket) is matched as `10.1.2.3`, and a network
//! written as `::ffff:10.0.0.0/104` is stored (and written back) as `10.0.0.0/8`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// One network: an address with every bit after the prefix zero, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why a text is not a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IP address or CIDR network")]
    Syntax(String),
    #[error("prefix length of `{0}` is out of range")]
    Prefix(String),
    #[error("`{text}` has host bits set (did you mean `{suggest}`?)")]
    HostBits { text: String, suggest: String },
}

// === impl Cidr ===

impl Cidr {
    /// Whether `peer` lies in this network (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, peer: IpAddr) -> bool {
        match (self.net, canonical(peer)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }

    /// The network address.
    pub fn net(&self) -> IpAddr {
        self.net
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `ADDR` or `ADDR/LEN`; the host bits must be zero.
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Syntax(text.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would also take a leading `+`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| CidrError::Prefix(text.to_owned()))?,
            Some(_) => return Err(CidrError::Prefix(text.to_owned())),
        };
        let cidr = match addr {
            IpAddr::V4(ip) => v4(ip, prefix),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(mapped) if prefix >= 96 => v4(mapped, prefix - 96),
                _ => Cidr {
                    net: IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask_v6(prefix))),
                    prefix,
                },
            },
        };
        // A mapped address with a prefix under 96 keeps `ffff` in its host bits: refused here.
        if cidr.net != canonical(addr) {
            return Err(CidrError::HostBits {
                text: text.to_owned(),
                suggest: cidr.to_string(),
            });
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    /// Always `NET/LEN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn v4(ip: Ipv4Addr, prefix: u8) -> Cidr {
    Cidr {
        net: IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask_v4(prefix))),
        prefix,
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        fn check(text: &str, want: Result<&str, &str>) {
            let got = text.parse::<Cidr>().map(|c| c.to_string());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "parse({text:?})"),
                (Err(e), Err(want)) => {
                    assert!(e.to_string().contains(want), "parse({text:?}): {e}")
                }
                (got, want) => panic!("parse({text:?}) = {got:?}, want {want:?}"),
            }
        }
        check("10.0.0.0/8", Ok("10.0.0.0/8"));
        check("127.0.0.2", Ok("127.0.0.2/32"));
        check("0.0.0.0/0", Ok("0.0.0.0/0"));
        check("2001:db8::/32", Ok("2001:db8::/32"));
        check("::1", Ok("::1/128"));
        check("::/0", Ok("::/0"));
        check("::ffff:10.0.0.0/104", Ok("10.0.0.0/8"));
        check("::ffff:10.1.2.3", Ok("10.1.2.3/32"));
        check("10.0.0.1/8", Err("did you mean `10.0.0.0/8`"));
        check("2001:db8::1/32", Err("did you mean `2001:db8::/32`"));
        check("10.0.0.0/33", Err("out of range"));
        check("::/129", Err("out of range"));
        check("10.0.0.0/", Err("out of range"));
        check("10.0.0.0/+8", Err("out of range"));
        check("10.0.0.0/008", Ok("10.0.0.0/8"));
        check("10.0.0.0/0008", Err("out of range"));
        check("::ffff:10.0.0.0/80", Err("host bits"));
        check("10.0.0", Err("not an IP address"));
        check("fe80::1%eth0", Err("not an IP address"));
        check("[::1]", Err("not an IP address"));
        check("", Err("not an IP address"));
        check("host.example", Err("not an IP address"));
    }

    #[test]
    fn contains_table() {
        fn check(cidr: &str, peer: &str, want: bool) {
            let c: Cidr = cidr.parse().unwrap();
            let p: IpAddr = peer.parse().unwrap();
            assert_eq!(c.contains(p), want, "{cidr} contains {peer}");
        }
        check("127.0.0.2/32", "127.0.0.2", true);
        check("127.0.0.2/32", "127.0.0.1", false);
        check("127.0.0.0/8", "127.0.0.1", true);
        check("127.0.0.0/8", "128.0.0.1", false);
        check("0.0.0.0/0", "203.0.113.9", true);
        check("10.0.0.0/8", "::ffff:10.9.9.9", true);
        check("10.0.0.0/8", "::ffff:11.9.9.9", false);
        check("::ffff:10.0.0.0/104", "10.9.9.9", true);
        check("2001:db8::/32", "2001:db8:1::5", true);
        check("2001:db8::/32", "2001:db9::5", false);
        check("::1/128", "::1", true);
        check("::1/128", "127.0.0.1", false);
        check("::/0", "::ffff:10.0.0.1", false);
        check("::/0", "2001:db8::1", true);
        check("0.0.0.0/0", "2001:db8::1", false);
    }
}
