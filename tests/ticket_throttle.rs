//! Login throttling: per-source and per-(user, source) bounds, no lockout of a user for other
//! sources, slowdown under a spread-out attack, IPv6 /64 bucketing, window expiry, success
//! clearing, and bounded memory under address spraying.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use aclgate::auth::throttle::{Throttle, ThrottleConfig, Throttled};

fn config() -> ThrottleConfig {
    ThrottleConfig {
        window: 60,
        per_source: 10,
        per_user_source: 3,
        per_user_slowdown: 6,
        slowdown_ms: 2000,
        max_entries: 1000,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// One step: record `failures` failures of `user` from `source` at `t` seconds, then check
/// (`probe_source`, `probe_user`) at `t`: `None` = admitted without delay, `Some(0)` =
/// admitted with the slowdown, `Some(s)` = refused for `s` more seconds.
type Step = (
    &'static str,
    u32,
    &'static str,
    &'static str,
    u64,
    &'static str,
    Option<u64>,
);

fn check(name: &str, steps: &[Step]) {
    let throttle = Throttle::new(config());
    let base = Instant::now();
    for (i, &(source, failures, user, probe_source, t, probe_user, want)) in
        steps.iter().enumerate()
    {
        let now = base + Duration::from_secs(t);
        for _ in 0..failures {
            throttle.record_failure(ip(source), user, now);
        }
        let got = match throttle.admit(ip(probe_source), probe_user, now) {
            Ok(a) if a.delay.is_zero() => None,
            Ok(a) => {
                assert_eq!(a.delay, Duration::from_secs(2), "{name} step {i}");
                Some(0)
            }
            Err(Throttled { retry_after }) => Some(retry_after.as_secs()),
        };
        assert_eq!(
            got, want,
            "{name} step {i}: {failures} failures {user} from {source} at {t}s, then {probe_user} from {probe_source}"
        );
        assert_eq!(
            throttle.check(ip(probe_source), probe_user, now).is_err(),
            matches!(want, Some(s) if s > 0),
            "{name} step {i}: check agrees with admit"
        );
    }
}

#[rustfmt::skip]
#[test]
fn throttle_rules() {
    check("pair bound refuses that user from that source", &[
        ("10.0.0.1", 2, "joe@pve", "10.0.0.1", 0,  "joe@pve", None),
        ("10.0.0.1", 1, "joe@pve", "10.0.0.1", 10, "joe@pve", Some(50)),
        ("10.0.0.1", 0, "joe@pve", "10.0.0.1", 59, "joe@pve", Some(1)),
        ("10.0.0.1", 0, "joe@pve", "10.0.0.1", 60, "joe@pve", None),
    ]);
    check("an attacker cannot lock the user out for other sources", &[
        ("10.0.0.1", 3, "joe@pve", "10.0.0.1", 0, "joe@pve", Some(60)),
        ("10.0.0.1", 0, "joe@pve", "10.0.0.2", 0, "joe@pve", None),
        ("10.0.0.1", 0, "joe@pve", "10.0.0.1", 0, "eve@pve", None),
    ]);
    check("usernames count case-insensitively", &[
        ("10.0.0.1", 2, "Joe@PVE", "10.0.0.1", 0, "joe@pve", None),
        ("10.0.0.1", 1, "jOe@pve", "10.0.0.1", 0, "JOE@pve", Some(60)),
    ]);
    check("source bound refuses every user from that source", &[
        ("10.0.0.1", 2, "a@pve", "10.0.0.1", 0, "x@pve", None),
        ("10.0.0.1", 2, "b@pve", "10.0.0.1", 0, "x@pve", None),
        ("10.0.0.1", 2, "c@pve", "10.0.0.1", 0, "x@pve", None),
        ("10.0.0.1", 2, "d@pve", "10.0.0.1", 0, "x@pve", None),
        ("10.0.0.1", 2, "e@pve", "10.0.0.1", 5, "x@pve", Some(55)),
        ("10.0.0.1", 0, "e@pve", "10.0.0.9", 5, "x@pve", None),
    ]);
    check("a spread-out attack on one user only slows that user", &[
        ("10.0.0.1", 2, "joe@pve", "10.0.0.9", 0, "joe@pve", None),
        ("10.0.0.2", 2, "joe@pve", "10.0.0.9", 0, "joe@pve", None),
        ("10.0.0.3", 2, "joe@pve", "10.0.0.9", 0, "joe@pve", Some(0)),
        ("10.0.0.3", 0, "joe@pve", "10.0.0.9", 0, "eve@pve", None),
        ("10.0.0.3", 0, "joe@pve", "10.0.0.9", 60, "joe@pve", None),
    ]);
    check("IPv6 counts per /64, IPv4-mapped as IPv4", &[
        ("2001:db8:1:2::1", 2, "joe@pve", "2001:db8:1:2::1", 0, "joe@pve", None),
        ("2001:db8:1:2:ffff::7", 1, "joe@pve", "2001:db8:1:2::1", 0, "joe@pve", Some(60)),
        ("2001:db8:1:2::1", 0, "joe@pve", "2001:db8:1:3::1", 0, "joe@pve", None),
        ("::ffff:10.1.1.1", 3, "eve@pve", "10.1.1.1", 0, "eve@pve", Some(60)),
    ]);
    check("a new window starts after the old one ended", &[
        ("10.0.0.1", 3, "joe@pve", "10.0.0.1", 0,  "joe@pve", Some(60)),
        ("10.0.0.1", 1, "joe@pve", "10.0.0.1", 70, "joe@pve", None),
        ("10.0.0.1", 2, "joe@pve", "10.0.0.1", 80, "joe@pve", Some(50)),
    ]);
}

#[test]
fn success_clears_only_that_users_count_from_that_source() {
    let throttle = Throttle::new(config());
    let now = Instant::now();
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    for _ in 0..2 {
        throttle.record_failure(a, "joe@pve", now);
        throttle.record_failure(b, "joe@pve", now);
    }
    throttle.record_success(a, "joe@pve", now);
    throttle.record_failure(a, "joe@pve", now);
    throttle.record_failure(b, "joe@pve", now);
    assert!(
        throttle.check(a, "joe@pve", now).is_ok(),
        "cleared pair counts again from 1"
    );
    assert!(
        throttle.check(b, "joe@pve", now).is_err(),
        "other source keeps its count"
    );
}

#[test]
fn address_spraying_keeps_memory_bounded() {
    let config = ThrottleConfig {
        max_entries: 64,
        ..config()
    };
    let throttle = Throttle::new(config);
    let start = Instant::now();
    // One attacker spraying distinct /64s and usernames, one failure each.
    for i in 0..10_000u32 {
        let now = start + Duration::from_millis(u64::from(i));
        let source: IpAddr = format!("2001:db8:{:x}:{:x}::1", i >> 16, i & 0xffff)
            .parse()
            .unwrap();
        throttle.record_failure(source, &format!("user{i}@pve"), now);
        let (sources, pairs, users) = throttle.sizes();
        assert!(
            sources <= 64 && pairs <= 64 && users <= 64,
            "{i}: {:?}",
            throttle.sizes()
        );
    }
    // Addresses within one /64 are one key.
    let other = Throttle::new(config);
    for i in 0..1000u32 {
        let source: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
        other.record_failure(source, "joe@pve", start);
    }
    assert_eq!(other.sizes(), (1, 1, 1));
    assert!(other.check(ip("2001:db8::ffff"), "eve@pve", start).is_err());
}
