//! The balancer's cost per request: picking an endpoint of a named upstream (round robin,
//! least pending, first healthy) over 1, 3 and 16 endpoints, with one endpoint down, plus the
//! in-flight count a forwarded try keeps. What the request path adds to a single-endpoint
//! upstream is the `1 endpoint` row.
//!
//! `cargo bench --bench balancer`

use std::hint::black_box;

use aclgate::config::upstreams::Balance;
use aclgate::upstream::balance::{Balancer, Tried};
use criterion::{Criterion, criterion_group, criterion_main};

fn balancer(c: &mut Criterion) {
    for (rule_name, rule) in [
        ("round_robin", Balance::RoundRobin),
        ("least_pending", Balance::LeastPending),
        ("first_healthy", Balance::FirstHealthy),
    ] {
        for n in [1, 3, 16] {
            let b = Balancer::new(rule, n);
            c.bench_function(&format!("balancer/pick/{rule_name}/{n}"), |bench| {
                bench.iter(|| black_box(&b).pick(Tried::default(), None))
            });
            if n > 1 {
                b.state(0).eject();
                c.bench_function(
                    &format!("balancer/pick_one_down/{rule_name}/{n}"),
                    |bench| bench.iter(|| black_box(&b).pick(Tried::default(), None)),
                );
            }
        }
    }
    let b = Balancer::new(Balance::RoundRobin, 3);
    c.bench_function("balancer/pick_and_count_pending/round_robin/3", |bench| {
        bench.iter(|| {
            let i = black_box(&b).pick(Tried::default(), None).unwrap_or(0);
            let _pending = b.state(i).start();
        })
    });
}

criterion_group!(benches, balancer);
criterion_main!(benches);
