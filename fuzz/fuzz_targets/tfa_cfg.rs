//! `priv/tfa.cfg` (second factors, JSON): parse any text without panicking; what parses writes
//! a text that reads back without warnings and is a fixed point.
#![no_main]

use aclgate::auth::tfa::TfaStore;
use aclgate_fuzz::{Reread, assert_write_stable, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_write_stable(
        "tfa.cfg",
        &text(data),
        Reread::Clean,
        |t| TfaStore::parse(t).ok(),
        TfaStore::write,
    );
});
