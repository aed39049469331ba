//! The client's address, for per-token `allowed-ips`, login throttling and the built-in
//! handlers: the TCP peer, or — when the peer is a proxy listed in `trusted_proxies` (a load
//! balancer in front of aclgate) — the nearest `X-Forwarded-For` address that is not itself a
//! trusted proxy. Entries left of it were written by the client and are never believed.

use std::net::IpAddr;

use http::HeaderMap;

use crate::config::cidr::{Cidr, canonical};
pub use crate::error::BadForwardedFor;

/// The address the request is treated as coming from.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Result<IpAddr, BadForwardedFor> {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return Ok(peer);
    }
    // Several header lines form one list, in order; walk it from the nearest hop outwards.
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().map_err(|_| BadForwardedFor)?;
        for item in text.split(',') {
            let ip: IpAddr = item.trim().parse().map_err(|_| BadForwardedFor)?;
            hops.push(canonical(ip));
        }
    }
    let mut client = peer;
    for &hop in hops.iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(peer: &str, xff: &[&str], trusted: &[&str], want: Result<&str, BadForwardedFor>) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        let trusted: Vec<Cidr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        let got = client_ip(peer.parse().unwrap(), &headers, &trusted);
        let want = want.map(|w| w.parse::<IpAddr>().unwrap());
        assert_eq!(got, want, "client_ip({peer}, {xff:?}, {trusted:?})");
    }

    #[test]
    fn client_ip_table() {
        let lb = &["10.0.0.0/8"];
        // Nothing trusted, or an untrusted peer: the header is ignored, whatever it says.
        check("192.0.2.9", &["198.51.100.1"], &[], Ok("192.0.2.9"));
        check("192.0.2.9", &["198.51.100.1"], lb, Ok("192.0.2.9"));
        check("192.0.2.9", &["not an ip"], lb, Ok("192.0.2.9"));
        // A trusted peer: the nearest untrusted hop; client-written entries further left lose.
        check("10.0.0.5", &["198.51.100.1"], lb, Ok("198.51.100.1"));
        check(
            "10.0.0.5",
            &["127.0.0.1, 198.51.100.1"],
            lb,
            Ok("198.51.100.1"),
        );
        check(
            "10.0.0.5",
            &["203.0.113.7, 198.51.100.1, 10.1.2.3"],
            lb,
            Ok("198.51.100.1"),
        );
        check(
            "10.0.0.5",
            &["203.0.113.7", "198.51.100.1"],
            lb,
            Ok("198.51.100.1"),
        );
        // No header, or only trusted hops: the outermost address known.
        check("10.0.0.5", &[], lb, Ok("10.0.0.5"));
        check("10.0.0.5", &["10.9.9.9, 10.1.1.1"], lb, Ok("10.9.9.9"));
        // IPv6 and IPv4-mapped forms.
        check("::ffff:10.0.0.5", &["2001:db8::1"], lb, Ok("2001:db8::1"));
        check("10.0.0.5", &["::ffff:198.51.100.1"], lb, Ok("198.51.100.1"));
        // Garbage from a trusted proxy is refused, never guessed around.
        check("10.0.0.5", &["198.51.100.1:443"], lb, Err(BadForwardedFor));
        check("10.0.0.5", &["unknown"], lb, Err(BadForwardedFor));
        check("10.0.0.5", &["198.51.100.1,"], lb, Err(BadForwardedFor));
    }
}
