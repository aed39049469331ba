//! Proxmox's own permission test suite (pve-access-control `src/test/perm-test1.pl` ..
//! `perm-test8.pl`), replayed against our engine: every assertion is a row of
//! `tests/fixtures/pve-tests/assertions.json`, evaluated on the matching `testN.cfg`.
//!
//! Like Proxmox's `check_roles` / `check_permission` helpers, a row compares only the sorted set
//! of role names (`roles`) or privilege names (`privs`); propagate flags are not part of these
//! assertions. All rows are evaluated before the test fails, so one run lists every mismatch.

use std::collections::{BTreeMap, BTreeSet};

use aclgate::access::Engine;
use aclgate::config::UserConfig;
use aclgate::identity::Authid;
use serde::Deserialize;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pve-tests");

#[derive(Deserialize)]
struct Table {
    assertions: Vec<Assertion>,
}

#[derive(Deserialize)]
struct Assertion {
    source: String,
    cfg: String,
    authid: String,
    path: String,
    kind: Kind,
    expected: Vec<String>,
}

#[derive(Deserialize, Clone, Copy, Debug)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Roles,
    Privs,
}

#[test]
fn every_proxmox_perm_test_assertion_holds() {
    let table = load_table();
    assert_eq!(
        table.assertions.len(),
        100,
        "perm-test1..8 hold 100 assertions; the table should have all of them"
    );

    let mut engines: BTreeMap<String, Engine> = BTreeMap::new();
    let mut failures = Vec::new();
    for a in &table.assertions {
        let engine = engines
            .entry(a.cfg.clone())
            .or_insert_with(|| load_engine(&a.cfg));
        if let Some(msg) = check(engine, a) {
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Proxmox perm-test assertions failed:\n{}",
        failures.len(),
        table.assertions.len(),
        failures.join("\n")
    );
}

/// Every fixture parses without a single warning: they are files Proxmox's parser accepts whole.
#[test]
fn fixtures_parse_cleanly() {
    for n in 1..=8 {
        let name = format!("test{n}.cfg");
        let (_, warnings) = UserConfig::parse(&read(&name));
        assert!(
            warnings.is_empty(),
            "{name}: unexpected warnings {warnings:?}"
        );
    }
}

/// Compare one row with the engine; `None` when it agrees.
fn check(engine: &Engine, a: &Assertion) -> Option<String> {
    let authid: Authid = match a.authid.parse() {
        Ok(id) => id,
        Err(e) => return Some(format!("{}: bad authid `{}`: {e}", a.source, a.authid)),
    };
    let got: BTreeSet<String> = match a.kind {
        Kind::Roles => engine.roles(&authid, &a.path).into_keys().collect(),
        Kind::Privs => engine
            .privs(&authid, &a.path)
            .granted
            .iter()
            .map(|p| p.name().to_owned())
            .collect(),
    };
    let want: BTreeSet<String> = a.expected.iter().cloned().collect();
    (got != want).then(|| {
        format!(
            "{} [{}] {:?} authid={} path=`{}`: expected [{}], got [{}]",
            a.source,
            a.cfg,
            a.kind,
            a.authid,
            a.path,
            join(&want),
            join(&got)
        )
    })
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

fn load_table() -> Table {
    let text = read("assertions.json");
    // INVARIANT: the table is a checked-in fixture; a parse error is a broken test, not input.
    serde_json::from_str(&text).expect("assertions.json is valid")
}

fn load_engine(cfg: &str) -> Engine {
    let (config, _) = UserConfig::parse(&read(cfg));
    Engine::build(&config)
}

fn read(name: &str) -> String {
    let path = format!("{DIR}/{name}");
    // INVARIANT: fixtures are checked in next to this test.
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}
