//! Ticket costs: create, verify without the cache (Ed25519 and HMAC keys), authenticate
//! through the cache (with 10k other tickets cached), and CSRF token verification.
//!
//! `cargo bench --bench tickets`

use std::hint::black_box;

use aclgate::auth::ticket::{
    Algorithm, CsrfSecret, KeyRing, TicketAuthority, TicketConfig, create, create_csrf, verify,
    verify_csrf,
};
use aclgate::config::StateDir;
use aclgate::identity::Userid;
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: i64 = 1_700_000_000;

fn tickets(c: &mut Criterion) {
    let joe: Userid = "joe@pve".parse().unwrap();
    for (name, algorithm) in [
        ("ed25519", Algorithm::Ed25519),
        ("hmac", Algorithm::HmacSha256),
    ] {
        let ring = KeyRing::generate(algorithm, NOW - 10);
        let ticket = create(&ring, &joe, NOW).unwrap();
        c.bench_function(&format!("ticket/create/{name}"), |b| {
            b.iter(|| create(black_box(&ring), black_box(&joe), NOW).unwrap())
        });
        c.bench_function(&format!("ticket/verify_uncached/{name}"), |b| {
            b.iter(|| verify(black_box(&ring), black_box(&ticket), NOW + 1).unwrap())
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let authority =
        TicketAuthority::open(&StateDir::new(dir.path()), NOW, TicketConfig::default()).unwrap();
    for i in 0..10_000 {
        let user: Userid = format!("user{i}@pve").parse().unwrap();
        let other = authority.issue(&user, NOW).unwrap();
        authority.authenticate(&other.ticket, NOW).unwrap();
    }
    let issued = authority.issue(&joe, NOW).unwrap();
    authority.authenticate(&issued.ticket, NOW).unwrap();
    c.bench_function("ticket/authenticate_cached", |b| {
        b.iter(|| {
            authority
                .authenticate(black_box(&issued.ticket), NOW + 1)
                .unwrap()
        })
    });

    let secret = CsrfSecret::generate();
    let token = create_csrf(&secret, &joe, NOW).unwrap();
    c.bench_function("csrf/verify", |b| {
        b.iter(|| assert!(verify_csrf(&secret, black_box(&token), &joe, NOW + 1)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));
    targets = tickets
}
criterion_main!(benches);
