//! CSRF prevention tokens (`<T>:<S>`): verifying any text for any user never panics; a token
//! made for a user verifies for that user and for no other.
#![no_main]

use std::sync::LazyLock;

use aclgate::auth::ticket::{CsrfSecret, create_csrf, verify_csrf};
use aclgate::identity::Userid;
use aclgate_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

static SECRET: LazyLock<CsrfSecret> = LazyLock::new(CsrfSecret::generate);

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 3);
    let secret = &*SECRET;
    let token = text(parts[0]);
    let Ok(userid) = text(parts[1]).parse::<Userid>() else {
        return;
    };
    let skew = i64::from(parts[2].first().copied().unwrap_or(0)) * 60 - 600;
    let _ = verify_csrf(secret, &token, &userid, NOW + skew);
    let made = create_csrf(secret, &userid, NOW).expect("create");
    assert!(
        verify_csrf(secret, &made, &userid, NOW),
        "own token refused"
    );
    let other: Userid = "someone-else@pve".parse().expect("fixed userid");
    if other != userid {
        assert!(
            !verify_csrf(secret, &made, &other, NOW),
            "token valid for another user"
        );
    }
});
