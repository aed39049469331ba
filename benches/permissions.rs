//! Permission engine benchmarks on the state size the access-model issue names (10k users, 1k
//! groups, 100k ACL entries, 200 pools): building the engine from the file, and `privs()` for
//! random (authid, path) pairs. Also prints the engine's heap use at several sizes, to show that
//! memory grows linearly with ACL entries.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::identity::Authid;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "support/state_gen.rs"]
mod state_gen;

use state_gen::Sizes;

fn build(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("user.cfg");
    std::fs::write(&file, state_gen::user_cfg(Sizes::ISSUE, 1)).expect("write user.cfg");
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("read+parse+compile 100k ACL entries", |b| {
        b.iter(|| {
            let text = std::fs::read_to_string(&file).expect("read");
            let (cfg, _) = UserConfig::parse(&text);
            black_box(Engine::build(&cfg))
        })
    });
    group.finish();
}

fn privs(c: &mut Criterion) {
    let (cfg, _) = UserConfig::parse(&state_gen::user_cfg(Sizes::ISSUE, 1));
    let engine = Engine::build(&cfg);
    let mut rng = StdRng::seed_from_u64(7);
    let queries: Vec<(Authid, String)> = (0..4096)
        .map(|_| {
            let u = rng.random_range(0..Sizes::ISSUE.users);
            let id = match rng.random_range(0..4) {
                0 if u % 5 == 0 => format!("{}!ci", state_gen::user(u)),
                _ => state_gen::user(u),
            };
            let path = state_gen::random_path(&mut rng, Sizes::ISSUE.pools);
            (id.parse().expect("generated authid"), path)
        })
        .collect();
    let granted = queries
        .iter()
        .filter(|(a, p)| !engine.privs(a, p).granted.is_empty())
        .count();
    println!(
        "privs: {granted} of {} random queries grant something",
        queries.len()
    );

    let mut group = c.benchmark_group("privs");
    let mut i = 0;
    group.bench_function("random (authid, path), 100k ACL entries", |b| {
        b.iter(|| {
            let (authid, path) = &queries[i % queries.len()];
            i += 1;
            black_box(engine.privs(black_box(authid), black_box(path)))
        })
    });
    let subject = engine.subject(&queries[0].0);
    group.bench_function("privs_of resolved subject, /vms/<id>", |b| {
        b.iter(|| black_box(engine.privs_of(black_box(subject), black_box("/vms/4242"))))
    });
    group.finish();
}

/// Heap bytes held by the engine for growing ACL sizes, per ACL entry.
fn memory(_: &mut Criterion) {
    println!("engine heap use (bytes per ACL entry, users/groups/pools as in the issue):");
    for entries in [25_000, 50_000, 100_000, 200_000] {
        let sizes = Sizes {
            acl_entries: entries,
            ..Sizes::ISSUE
        };
        let (cfg, _) = UserConfig::parse(&state_gen::user_cfg(sizes, 1));
        let before = ALLOCATED.load(Ordering::Relaxed);
        let engine = Engine::build(&cfg);
        let used = ALLOCATED.load(Ordering::Relaxed) - before;
        println!(
            "  {entries:>7} entries: {:>6.1} MiB engine, {:>5.0} B/entry",
            used as f64 / (1024.0 * 1024.0),
            used as f64 / entries as f64
        );
        drop(engine);
    }
}

/// Counts live heap bytes so the memory report needs no external tool.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

criterion_group!(benches, memory, build, privs);
criterion_main!(benches);
