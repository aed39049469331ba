//! Reload cost: what the reload door does on every change (`Snapshot::load`: read user.cfg,
//! token.shadow, domains.cfg, the shipped policies and the certificate; parse; compile the
//! engine), for 100k and 1M ACL entries. DESIGN §4 asks for 1M entries under a second.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::config::gateway::GatewayConfig;
use aclgate::policy::RouteTable;
use aclgate::snapshot::Snapshot;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "support/state_gen.rs"]
mod state_gen;

use state_gen::Sizes;

fn reload(c: &mut Criterion) {
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for entries in [100_000, 1_000_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let sizes = Sizes {
            acl_entries: entries,
            ..Sizes::ISSUE
        };
        let config = Arc::new(config_for(dir.path(), sizes));
        let first = Snapshot::load(config.clone(), 1).expect("generated state loads");
        println!(
            "reload: {} ACL paths, {} users, {} warnings",
            first.engine.acl_paths().len(),
            first.user_cfg.users.len(),
            first.warnings.len()
        );
        drop(first);
        breakdown(&config);
        group.bench_function(format!("Snapshot::load, {entries} ACL entries"), |b| {
            b.iter(|| black_box(Snapshot::load(config.clone(), 2).expect("loads")))
        });
    }
    group.finish();
}

/// One timed pass of each stage, printed, to show where a reload spends its time.
fn breakdown(config: &GatewayConfig) {
    let t = Instant::now();
    let text = std::fs::read_to_string(config.state.dir.join("user.cfg")).expect("read");
    let read = t.elapsed();
    let t = Instant::now();
    let (cfg, _) = UserConfig::parse(&text);
    let parse = t.elapsed();
    let t = Instant::now();
    let engine = Engine::build(&cfg);
    let build = t.elapsed();
    let t = Instant::now();
    let routes = RouteTable::load(&config.policies).expect("policies");
    let policies = t.elapsed();
    println!(
        "reload stages: read {read:.1?}, parse {parse:.1?}, engine {build:.1?}, policies {policies:.1?}"
    );
    drop((cfg, engine, routes));
}

/// A state directory, certificate and the shipped policies, as `serve` would load them.
fn config_for(root: &Path, sizes: Sizes) -> GatewayConfig {
    let state = root.join("state");
    std::fs::create_dir_all(state.join("priv")).expect("state dir");
    std::fs::write(state.join("user.cfg"), state_gen::user_cfg(sizes, 1)).expect("user.cfg");
    let (cert, key) = (root.join("c.crt"), root.join("c.key"));
    aclgate::server::tls::ensure_self_signed(&cert, &key).expect("certificate");
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut config = GatewayConfig::default();
    config.state.dir = state;
    config.policies = vec![policies.join("pve.toml"), policies.join("access.toml")];
    config.tls.cert = cert;
    config.tls.key = key;
    config
}

criterion_group!(benches, reload);
criterion_main!(benches);
