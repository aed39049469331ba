//! `domains.cfg` (realms): parse any text without panicking; the written text reads back
//! without warnings and is a fixed point.
#![no_main]

use aclgate::config::DomainsConfig;
use aclgate_fuzz::{Reread, assert_write_stable, messages, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_write_stable(
        "domains.cfg",
        &text(data),
        Reread::Clean,
        |t| {
            let (cfg, warnings) = DomainsConfig::parse(t);
            Some((cfg, messages(warnings)))
        },
        DomainsConfig::write,
    );
});
