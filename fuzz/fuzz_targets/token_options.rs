//! `token-options.cfg` (per-token allowed-ips and rate limits): parse any text without
//! panicking; what parses writes a text that reads back without warnings and is a fixed point;
//! the source-address check answers for any address.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aclgate::config::TokenOptions;
use aclgate_fuzz::{Reread, assert_write_stable, messages, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    assert_write_stable(
        "token-options.cfg",
        &text,
        Reread::Clean,
        |t| {
            let (options, warnings) = TokenOptions::parse(t, |_| true).ok()?;
            Some((options, messages(warnings)))
        },
        TokenOptions::write,
    );
    // Sections of unknown tokens are dropped, never an error of their own.
    let _ = TokenOptions::parse(&text, |_| false);
    if let Ok((options, _)) = TokenOptions::parse(&text, |_| true) {
        let peers = [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()),
        ];
        for line in text.lines().filter_map(|l| l.strip_prefix("token: ")) {
            if let Some(option) = options.find(line.trim()) {
                for peer in peers {
                    let _ = option.allows(peer);
                }
            }
        }
    }
});
