//! `datacenter.cfg` (the `webauthn:` and `u2f:` lines): parse any text without panicking, and
//! derive the WebAuthn settings for a host from whatever parsed. (No writer: aclgate only reads
//! this file.)
#![no_main]

use aclgate::config::datacenter_cfg::DatacenterTfa;
use aclgate_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 2);
    let (cfg, _warnings) = DatacenterTfa::parse(&text(parts[0]));
    if let Some(webauthn) = &cfg.webauthn {
        let derived = webauthn.for_host(&text(parts[1]));
        assert!(derived.origin.is_some(), "for_host fills in an origin");
    }
});
