//! `priv/ticket-keys` (the ticket signing key ring): parse any text without panicking; what
//! parses writes a text that parses again to the same text.
#![no_main]

use std::path::Path;

use aclgate::auth::ticket::KeyRing;
use aclgate_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("ticket-keys");
    let Ok(ring) = KeyRing::parse(&text(data), path) else {
        return;
    };
    let written = ring.write();
    let again = KeyRing::parse(&written, path).expect("the written key ring parses");
    assert_eq!(written, again.write(), "key ring write → parse → write");
});
