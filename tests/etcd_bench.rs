//! Benchmarks of the etcd backend (ignored by default; `cargo test --release --test etcd_bench
//! -- --ignored --nocapture`, `ACLGATE_ETCD_BENCH_ENTRIES=1000000` for a million): populate
//! etcd with N ACL entries, time the initial load of a gateway (etcd → mirror → snapshot,
//! until it answers), the load alone, and the apply of one change (a token revoked by a
//! transaction until the gateway refuses it). Figures in docs/etcd.md.

mod etcd_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aclgate::config::store::EtcdSettings;
use aclgate::store::etcd::EtcdStore;
use aclgate::store::objects;
use etcd_support::{Etcd, GatewayProc, b64, token, until, upstream};

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn load_and_apply_at_scale() {
    let entries: usize = std::env::var("ACLGATE_ETCD_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();
    let cli = etcd.config(work.path(), "");

    // N entries: 1000 users with N/1000 VM paths each.
    let users = 1000;
    let mut text = String::from("user:root@pam:1:0::::::\n");
    for u in 0..users {
        text.push_str(&format!("user:u{u}@pve:1:0::::::\n"));
    }
    for u in 0..users {
        for v in 0..entries / users {
            text.push_str(&format!("acl:1:/vms/{v}:u{u}@pve:PVEAuditor:\n"));
        }
    }
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("user.cfg"), &text).unwrap();

    let settings = EtcdSettings {
        endpoints: etcd.endpoints(),
        prefix: "/aclgate-test".to_owned(),
        timeout_ms: 60_000,
        ..EtcdSettings::default()
    };
    let store = EtcdStore::new(&settings).unwrap();
    let started = Instant::now();
    let (objs, _) = objects::read_dir(&src).unwrap();
    let base = store.load().unwrap();
    store.commit(&base, &objs).unwrap();
    println!(
        "populate {} keys: {:.1} s",
        objs.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let loaded = store.load().unwrap();
    let load = started.elapsed();
    assert!(loaded.objects.len() >= entries);
    let started = Instant::now();
    objects::write_dir(&loaded.objects, &work.path().join("mirror")).unwrap();
    let mirror = started.elapsed();
    println!(
        "{entries} ACL entries: load from etcd {:.2} s, write the mirror {:.2} s",
        load.as_secs_f64(),
        mirror.as_secs_f64()
    );

    // A token for user u0 (who has N/1000 entries), then a gateway from scratch.
    let tok = token(&cli, "u0@pve", "bench");
    let up = upstream();
    let started = Instant::now();
    let gw = GatewayProc::start(&etcd, &work.path().join("gw"), up, "");
    println!(
        "gateway start (etcd load + mirror + snapshot): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // The policy needs VM.Audit on /vms: give u0 that, through etcd like any change.
    etcd_support::ok(
        &cli,
        &[
            "acl",
            "modify",
            "/vms",
            "--users",
            "u0@pve",
            "--roles",
            "PVEAuditor",
        ],
    );
    until(
        Duration::from_secs(300),
        Duration::from_millis(5),
        "u0 allowed",
        || gw.get(&tok) == 200,
    );

    // One change at N entries: delete the token's key in a transaction (as a writer would,
    // with meta/serial), until the gateway refuses it.
    let mut times = Vec::new();
    for _ in 0..3 {
        let name = format!("b{}", times.len());
        let t = token(&cli, "u0@pve", &name);
        until(
            Duration::from_secs(300),
            Duration::from_millis(5),
            "token live",
            || gw.get(&t) == 200,
        );
        let key = format!("/aclgate-test/v1/token/u0@pve!{name}");
        let started = Instant::now();
        etcd.call(
            "/v3/kv/txn",
            &serde_json::json!({ "success": [
                { "request_delete_range": { "key": b64(&key) } },
                { "request_put": { "key": b64("/aclgate-test/v1/meta/serial"), "value": b64("bench") } },
            ] }),
        );
        until(
            Duration::from_secs(300),
            Duration::from_millis(1),
            "refused",
            || gw.get(&t) == 401,
        );
        times.push(started.elapsed());
    }
    let ms: BTreeMap<usize, f64> = times
        .iter()
        .enumerate()
        .map(|(i, d)| (i, d.as_secs_f64() * 1e3))
        .collect();
    println!("apply one change at {entries} entries (txn -> refused), ms: {ms:?}");
}
