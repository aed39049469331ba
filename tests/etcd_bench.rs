//! Benchmarks of the etcd backend (ignored by default; `cargo test --release --test etcd_bench
//! -- --ignored --nocapture`, `ACLGATE_ETCD_BENCH_ENTRIES=1000000` for a million): populate
//! etcd with N ACL entries, time the load alone, a gateway's start (etcd → mirror → snapshot,
//! until it answers), and the apply of one change at N entries: a token deleted in etcd (a
//! transaction, as a writer makes it) until the gateway refuses it, a user disabled, and for
//! comparison a change that needs a full load (a pool). Figures in docs/etcd.md.

mod etcd_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aclgate::config::store::EtcdSettings;
use aclgate::store::etcd::EtcdStore;
use aclgate::store::objects;
use etcd_support::{Etcd, POLICY, b64, free_port, ok_files, until, upstream};

const PREFIX: &str = "/aclgate-test";

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn load_and_apply_at_scale() {
    let entries: usize = std::env::var("ACLGATE_ETCD_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let etcd = Etcd::single();
    let work = tempfile::tempdir().unwrap();

    // 1000 users; the tokens made with the CLI on a small state, then N entries appended:
    // 1000 users with N/1000 VM paths each, and u0 allowed on /vms.
    let users = 1000;
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut text = String::from("user:root@pam:1:0::::::\n");
    for u in 0..users {
        text.push_str(&format!("user:u{u}@pve:1:0::::::\n"));
    }
    std::fs::write(src.join("user.cfg"), &text).unwrap();
    let names = ["b0", "b1", "b2", "b3", "b4", "kept", "u1"];
    let tokens: Vec<String> = names
        .iter()
        .map(|name| {
            let user = if *name == "u1" { "u1@pve" } else { "u0@pve" };
            let out = ok_files(
                &src,
                &[
                    "user",
                    "token",
                    "add",
                    user,
                    name,
                    "--privsep",
                    "0",
                    "--output-format",
                    "json",
                ],
            );
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            format!(
                "{}={}",
                v["full-tokenid"].as_str().unwrap(),
                v["value"].as_str().unwrap()
            )
        })
        .collect();
    let mut text = std::fs::read_to_string(src.join("user.cfg")).unwrap();
    text.push_str("acl:1:/vms:u0@pve,u1@pve:PVEAuditor:\n");
    for u in 0..users {
        for v in 0..entries / users {
            text.push_str(&format!("acl:1:/vms/{v}:u{u}@pve:PVEAuditor:\n"));
        }
    }
    std::fs::write(src.join("user.cfg"), &text).unwrap();
    drop(text);

    let settings = EtcdSettings {
        endpoints: etcd.endpoints(),
        prefix: PREFIX.to_owned(),
        timeout_ms: 60_000,
        ..EtcdSettings::default()
    };
    let store = EtcdStore::new(&settings).unwrap();
    let started = Instant::now();
    let (objs, _) = objects::read_dir(&src).unwrap();
    let base = store.load().unwrap();
    store.commit(&base, &objs).unwrap();
    println!(
        "populate {} keys (127 per transaction): {:.1} s",
        objs.len(),
        started.elapsed().as_secs_f64()
    );
    drop(objs);
    println!("test process: {}", memory(std::process::id()));

    let started = Instant::now();
    let loaded = store.load().unwrap();
    let load = started.elapsed();
    assert!(loaded.objects.len() >= entries);
    let started = Instant::now();
    objects::write_dir(&loaded.objects, &work.path().join("mirror")).unwrap();
    let mirror = started.elapsed();
    drop(loaded);
    println!(
        "{entries} ACL entries: load from etcd {:.2} s, write the mirror {:.2} s",
        load.as_secs_f64(),
        mirror.as_secs_f64()
    );

    let started = Instant::now();
    let gw = Gateway::start(&etcd, &work.path().join("gw"), upstream());
    println!(
        "gateway start (etcd load + ticket keys + mirror + snapshot, until it answers): {:.2} s; {}",
        started.elapsed().as_secs_f64(),
        memory(gw.pid())
    );
    for t in &tokens {
        assert_eq!(gw.get(t), 200);
    }

    // One change at N entries: the token's keys deleted in one transaction with meta/serial
    // (what `user token remove` commits), until the gateway refuses it.
    let mut times = Vec::new();
    for (name, t) in names.iter().zip(&tokens).take(5) {
        let (incremental, _) = gw.applied();
        let id = format!("u0@pve!{name}");
        let started = Instant::now();
        etcd.call(
            "/v3/kv/txn",
            &serde_json::json!({ "success": [
                { "request_delete_range": { "key": b64(&format!("{PREFIX}/v1/token/{id}")) } },
                { "request_delete_range": { "key": b64(&format!("{PREFIX}/v1/token-hash/{id}")) } },
                { "request_put": { "key": b64(&format!("{PREFIX}/v1/meta/serial")), "value": b64(name) } },
            ] }),
        );
        until(
            Duration::from_secs(300),
            Duration::from_millis(1),
            "refused",
            || gw.get(t) == 401,
        );
        times.push(started.elapsed().as_secs_f64() * 1e3);
        // The counter moves just after the swap.
        until(
            Duration::from_secs(10),
            Duration::from_millis(1),
            "counted",
            || gw.applied().0 == incremental + 1,
        );
    }
    println!("{entries} entries: token deleted in etcd -> refused (incremental), ms: {times:.1?}");

    // A user disabled (u1's token refused).
    let started = Instant::now();
    etcd.call(
        "/v3/kv/txn",
        &serde_json::json!({ "success": [
            { "request_put": { "key": b64(&format!("{PREFIX}/v1/user/u1@pve")), "value": b64("user:u1@pve:0:0::::::\n") } },
            { "request_put": { "key": b64(&format!("{PREFIX}/v1/meta/serial")), "value": b64("u1") } },
        ] }),
    );
    until(
        Duration::from_secs(300),
        Duration::from_millis(1),
        "u1 refused",
        || gw.get(&tokens[6]) == 401,
    );
    println!(
        "{entries} entries: user disabled in etcd -> refused (incremental): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    // For comparison: a change the changes cannot say (a pool) is a full load.
    let (_, full) = gw.applied();
    let started = Instant::now();
    etcd.call(
        "/v3/kv/txn",
        &serde_json::json!({ "success": [
            { "request_put": { "key": b64(&format!("{PREFIX}/v1/pool/bench")), "value": b64("pool:bench::100::\n") } },
            { "request_put": { "key": b64(&format!("{PREFIX}/v1/meta/serial")), "value": b64("pool") } },
        ] }),
    );
    until(
        Duration::from_secs(600),
        Duration::from_millis(5),
        "full load",
        || gw.applied().1 > full && gw.revision_served() >= gw.revision_head(&etcd),
    );
    println!(
        "{entries} entries: a pool added in etcd -> served (full load): {:.2} s; {}",
        started.elapsed().as_secs_f64(),
        memory(gw.pid())
    );
    assert_eq!(gw.get(&tokens[5]), 200, "the untouched token still works");
}

/// `VmRSS` and `VmHWM` of a process.
fn memory(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    format!("resident {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

/// A release gateway on etcd, started without a deadline (a load at 1M entries takes a while).
struct Gateway {
    child: Child,
    http: u16,
    admin: u16,
}

impl Gateway {
    fn start(etcd: &Etcd, dir: &Path, upstream: u16) -> Gateway {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
        let (http, admin, tls) = (free_port(), free_port(), free_port());
        let top = format!(
            "listen = \"127.0.0.1:{tls}\"\nhttp_listen = \"127.0.0.1:{http}\"\nadmin_listen = \"127.0.0.1:{admin}\"\npolicies = [\"policy.toml\"]\n[upstream]\nurl = \"http://127.0.0.1:{upstream}\"\n[auth]\nfailure_delay_ms = 0\n"
        );
        let config = etcd.config_with(dir, &top, "timeout_ms = 60000\n");
        let child = Command::new(env!("CARGO_BIN_EXE_aclgate"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .env("ACLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap())
            .spawn()
            .unwrap();
        let gw = Gateway { child, http, admin };
        until(
            Duration::from_secs(1800),
            Duration::from_millis(20),
            "gateway start",
            || gw.metrics().is_some(),
        );
        gw
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn get(&self, token: &str) -> u16 {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        match agent
            .get(&format!("http://127.0.0.1:{}/api2/json/vms", self.http))
            .set("Authorization", &format!("PVEAPIToken={token}"))
            .call()
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(_) => 0,
        }
    }

    fn metrics(&self) -> Option<String> {
        ureq::get(&format!("http://127.0.0.1:{}/metrics", self.admin))
            .timeout(Duration::from_secs(30))
            .call()
            .ok()?
            .into_string()
            .ok()
    }

    fn metric(&self, prefix: &str) -> f64 {
        let text = self.metrics().unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// `aclgate_store_changes_applied_total`: (incremental, full).
    fn applied(&self) -> (u64, u64) {
        let how = |h: &str| {
            self.metric(&format!(
                "aclgate_store_changes_applied_total{{how=\"{h}\"}} "
            )) as u64
        };
        (how("incremental"), how("full"))
    }

    fn revision_served(&self) -> i64 {
        self.metric("aclgate_store_revision ") as i64
    }

    fn revision_head(&self, etcd: &Etcd) -> i64 {
        let answer = etcd.call("/v3/kv/range", &serde_json::json!({ "key": "AA==" }));
        answer["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
