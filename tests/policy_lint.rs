//! Lint of the shipped policies: every file in `policies/` loads, and `pve.toml` + `access.toml`
//! together agree with the Proxmox VE API schema dump (tests/fixtures/pve-api-permissions.json)
//! on every endpoint; every `/access`, `/pools`, realm-sync job and own-task route is answered by a built-in
//! handler.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aclgate::policy::{Access, RouteTable};

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

#[test]
fn every_shipped_policy_loads() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(policies_dir())
        .expect("policies/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "expected pve.toml and example.toml, found {files:?}"
    );
    for f in &files {
        let table = RouteTable::load(std::slice::from_ref(f))
            .unwrap_or_else(|e| panic!("{} does not load: {e}", f.display()));
        assert!(!table.is_empty(), "{} has no routes", f.display());
    }
}

/// TOML → JSON, for comparing checks with the schema.
fn to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        other => panic!("unexpected TOML value {other}"),
    }
}

#[test]
fn pve_policy_agrees_with_the_schema() {
    let root = env!("CARGO_MANIFEST_DIR");
    let json: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/tests/fixtures/pve-api-permissions.json"))
            .expect("fixture"),
    )
    .expect("fixture is JSON");
    assert_eq!(json.len(), 649);

    let paths = [
        policies_dir().join("pve.toml"),
        policies_dir().join("access.toml"),
    ];
    let table = RouteTable::load(&paths).expect("pve.toml and access.toml load together");
    // aclgate's own routes for the web interface live under /access/aclgate/, beyond the schema.
    let own = table
        .routes()
        .iter()
        .filter(|r| r.template.starts_with("/api2/json/access/aclgate/"))
        .count();
    assert_eq!(own, 3, "why, qrcode, logout");
    assert_eq!(
        table.len() - own,
        649,
        "pve.toml + access.toml must have one route per endpoint and method"
    );

    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("policy file"))
        .collect();
    let mut raw: BTreeMap<(String, String), (&str, toml::Table)> = BTreeMap::new();
    for (path, text) in paths.iter().zip(&texts) {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let doc: toml::Table = text.parse().expect("policy is TOML");
        let prefix = doc["prefix"].as_str().expect("prefix");
        assert_eq!(prefix, "/api2/json", "{name}");
        for r in doc["route"].as_array().expect("routes") {
            let r = r.as_table().expect("route table").clone();
            let rel = r["path"].as_str().expect("path");
            let full = if rel == "/" {
                prefix.to_owned()
            } else {
                format!("{prefix}{rel}")
            };
            // The access API lives in access.toml and nowhere else, always with a handler;
            // so do the realm-sync jobs and the task status and log aclgate answers.
            let access = rel == "/access"
                || rel.starts_with("/access/")
                || rel == "/pools"
                || rel.starts_with("/pools/")
                || rel.starts_with("/cluster/jobs/realm-sync")
                || rel == "/nodes/{node}/tasks/{upid}/status"
                || rel == "/nodes/{node}/tasks/{upid}/log";
            assert_eq!(access, name == "access.toml", "{rel} is in {name}");
            assert_eq!(
                r.get("handler").is_some(),
                access,
                "{name}: {rel}: only access routes have (and all need) a handler"
            );
            let key = (r["method"].as_str().expect("method").to_owned(), full);
            assert!(
                raw.insert(key.clone(), (name, r)).is_none(),
                "duplicate {key:?}"
            );
        }
    }

    for e in &json {
        let method = e["method"].as_str().expect("method");
        let full = e["path"].as_str().expect("path");
        let key = (method.to_owned(), full.to_owned());
        let (_, r) = raw
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} missing from pve.toml and access.toml"));
        let perms = &e["permissions"];
        let want_check = perms.get("check").cloned();
        let got_check = r.get("check").map(to_json);
        assert_eq!(got_check, want_check, "check of {key:?}");
        let want_user = perms.get("user").and_then(|u| u.as_str());
        assert_eq!(
            r.get("user").and_then(|u| u.as_str()),
            want_user,
            "user of {key:?}"
        );
        let want_token = e["allowtoken"].as_i64() != Some(0);
        let got_token = r
            .get("allowtoken")
            .is_none_or(|v| v.as_bool().expect("bool"));
        assert_eq!(got_token, want_token, "allowtoken of {key:?}");

        // The compiled route agrees too: found at its own template, same access kind.
        let m = table
            .find(method, full)
            .unwrap_or_else(|| panic!("{key:?} not matched"));
        assert_eq!(m.route.template, full, "{key:?} matched another route");
        assert_eq!(m.route.allowtoken, want_token, "{key:?}");
        let kind = match (&m.route.access, perms.is_null()) {
            (Access::RootOnly, true) => "root",
            (Access::World, false) if want_user == Some("world") => "world",
            (Access::All, false) if want_user == Some("all") => "all",
            (Access::Check(c), false) if want_user.is_none() => {
                let want: serde_json::Value = want_check.clone().expect("check");
                let shown: serde_json::Value =
                    serde_json::from_str(&c.to_string()).expect("check displays as JSON");
                assert_eq!(shown, want, "compiled check of {key:?}");
                "check"
            }
            (got, _) => panic!("{key:?}: access {got:?} does not fit {perms}"),
        };
        assert!(!kind.is_empty());
    }
}
