//! Login tickets (`PVE:<data>:<T>::<S>`): verifying any text never panics and accepts only what
//! this ring signed (so an accepted ticket is the one `create` makes); a ticket created for any
//! valid userid verifies to that userid; a TFA-pending ticket returns any challenge text exactly.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use aclgate::auth::ticket::{KeyRing, create, create_tfa_pending, verify, verify_tfa_pending};
use aclgate::identity::Userid;
use aclgate_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;

/// Stamp of the seeds' tickets (tickets in `corpus/ticket` were made with this ring at this time).
const NOW: i64 = 1_700_000_000;

const RING: &str = "current hmac-sha256 1699990000 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

static KEYS: LazyLock<KeyRing> =
    LazyLock::new(|| KeyRing::parse(RING, Path::new("ring")).expect("fixed ring parses"));

fuzz_target!(|data: &[u8]| {
    let parts = fields(data, 4);
    let ring = &*KEYS;
    let skew = i64::from(parts[0].first().copied().unwrap_or(0)) * 40 - 400;
    let now = NOW + skew;
    let ticket = text(parts[1]);
    if let Ok(v) = verify(ring, &ticket, now) {
        let again = create(ring, &v.userid, v.issued_at).expect("create");
        assert_eq!(again, ticket, "an accepted ticket is the canonical one");
    }
    let userid: Option<Userid> = text(parts[2]).parse().ok();
    if let Some(userid) = &userid {
        let _ = verify_tfa_pending(ring, &ticket, userid, now);
        let made = create(ring, userid, NOW).expect("create");
        let v = verify(ring, &made, NOW).expect("a fresh ticket verifies");
        assert_eq!(&v.userid, userid);
        assert_eq!(v.issued_at, NOW);
        // Tickets are at most 16 KiB: a challenge that encodes longer cannot be carried.
        let challenge = text(parts[3]);
        if challenge.len() > 4000 {
            return;
        }
        let half = create_tfa_pending(ring, userid, &challenge, NOW).expect("create half");
        let p = verify_tfa_pending(ring, &half, userid, NOW).expect("a half ticket verifies");
        assert_eq!(p.challenge, challenge, "challenge round trip");
        assert!(
            verify(ring, &half, NOW).is_err(),
            "a half ticket is no full ticket"
        );
    }
});
