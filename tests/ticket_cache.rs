//! The verified-ticket cache: only valid full tickets enter, entries expire with the ticket,
//! a key ring change invalidates them, and memory stays within the bound.

use aclgate::auth::ticket::{
    CacheConfig, KeyRing, TicketAuthority, TicketCache, TicketConfig, TicketError, VerifiedTicket,
    create,
};
use aclgate::config::StateDir;
use aclgate::identity::Userid;

const T0: i64 = 1_700_000_000;

fn joe() -> Userid {
    "joe@pve".parse().unwrap()
}

fn verified(issued_at: i64) -> VerifiedTicket {
    VerifiedTicket {
        userid: joe(),
        issued_at,
    }
}

#[test]
fn entries_expire_with_the_ticket_and_with_the_key_generation() {
    let cache = TicketCache::new(CacheConfig::default());
    cache.insert("t", &verified(T0), 7, T0);
    assert_eq!(cache.lookup("t", 7, T0 + 7199), Some(verified(T0)));
    assert_eq!(cache.lookup("t", 8, T0 + 1), None, "other key generation");
    assert!(cache.is_empty(), "the stale entry was dropped");
    cache.insert("t", &verified(T0), 7, T0);
    assert_eq!(cache.lookup("t", 7, T0 + 7200), None, "expired");
    assert!(cache.is_empty());
    // An already expired ticket is not inserted at all.
    cache.insert("old", &verified(T0 - 7200), 7, T0);
    assert!(cache.is_empty());
    assert_eq!(cache.lookup("unknown", 7, T0), None);
}

#[test]
fn memory_stays_within_the_bound() {
    for max in [1, 8, 64, 1000] {
        let cache = TicketCache::new(CacheConfig { max_entries: max });
        for i in 0..5 * max + 3 {
            cache.insert(&format!("ticket-{i}"), &verified(T0), 1, T0);
            assert!(
                cache.len() <= max,
                "max {max}: {} entries after {i}",
                cache.len()
            );
        }
        // Newest insert survives eviction.
        let last = format!("ticket-{}", 5 * max + 2);
        assert!(cache.lookup(&last, 1, T0).is_some(), "max {max}");
    }
    let off = TicketCache::new(CacheConfig { max_entries: 0 });
    off.insert("t", &verified(T0), 1, T0);
    assert!(off.is_empty());
}

#[test]
fn expired_entries_are_purged_first() {
    let cache = TicketCache::new(CacheConfig { max_entries: 10 });
    for i in 0..10 {
        cache.insert(&format!("old-{i}"), &verified(T0), 1, T0);
    }
    cache.insert("fresh-a", &verified(T0 + 7000), 1, T0 + 7000);
    cache.insert("new", &verified(T0 + 7300), 1, T0 + 7300);
    assert_eq!(cache.len(), 2, "the ten expired entries went first");
}

#[test]
fn the_authority_caches_only_valid_full_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let authority = TicketAuthority::open(&state, T0, TicketConfig::default()).unwrap();
    let issued = authority.issue(&joe(), T0).unwrap();

    let first = authority.authenticate(&issued.ticket, T0 + 1).unwrap();
    assert_eq!(authority.cache().len(), 1);
    assert_eq!(
        authority.authenticate(&issued.ticket, T0 + 2).unwrap(),
        first
    );
    assert_eq!(authority.cache().len(), 1);

    let forged = create(&KeyRing::generate(Default::default(), T0), &joe(), T0).unwrap();
    assert!(authority.authenticate(&forged, T0).is_err());
    let half = authority
        .issue_tfa_pending(&joe(), "{}", T0)
        .unwrap()
        .ticket;
    assert!(matches!(
        authority.authenticate(&half, T0),
        Err(TicketError::TfaPending)
    ));
    assert_eq!(authority.cache().len(), 1, "nothing invalid was cached");

    // The cached entry does not outlive the ticket.
    assert!(matches!(
        authority.authenticate(&issued.ticket, T0 + 7200),
        Err(TicketError::Expired)
    ));
}

#[test]
fn concurrent_authentication_shares_the_cache_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let config = TicketConfig {
        cache: CacheConfig { max_entries: 16 },
        ..TicketConfig::default()
    };
    let authority = TicketAuthority::open(&StateDir::new(dir.path()), T0, config).unwrap();
    let tickets: Vec<(Userid, String)> = (0..32)
        .map(|i| {
            let user: Userid = format!("user{i}@pve").parse().unwrap();
            let ticket = authority.issue(&user, T0).unwrap().ticket;
            (user, ticket)
        })
        .collect();
    const THREADS: usize = 4;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (authority, tickets) = (&authority, &tickets);
            scope.spawn(move || {
                for round in 0..4 {
                    for (i, (user, ticket)) in tickets.iter().enumerate() {
                        if (i + t + round) % 3 == 0 {
                            let got = authority.authenticate(ticket, T0 + 1).unwrap();
                            assert_eq!(&got.userid, user, "thread {t} round {round}");
                        }
                    }
                }
            });
        }
    });
    // Inserts racing an eviction may overshoot by at most one per thread.
    let len = authority.cache().len();
    assert!((1..=16 + THREADS).contains(&len), "{len} entries");
}
