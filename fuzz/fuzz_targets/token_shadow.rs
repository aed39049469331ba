//! `priv/token.shadow` (token secret hashes): parse any text without panicking; the written text
//! reads back without warnings and is a fixed point; verifying any secret never panics.
#![no_main]

use aclgate::config::TokenShadow;
use aclgate_fuzz::{Reread, assert_write_stable, fields, messages, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 3);
    let file = text(parts[0]);
    assert_write_stable(
        "token.shadow",
        &file,
        Reread::Clean,
        |t| {
            let (cfg, warnings) = TokenShadow::parse(t);
            Some((cfg, messages(warnings)))
        },
        TokenShadow::write,
    );
    let (shadow, _) = TokenShadow::parse(&file);
    let (id, secret) = (text(parts[1]), text(parts[2]));
    let _ = shadow.verify_at(&id, &secret, 1_700_000_000);
    let _ = shadow.previous_until(&id, 1_700_000_000);
});
