//! `aclgate policy import-pve`: Proxmox's API permission dump (a JSON array of
//! `{method, path, permissions, allowtoken, parameters}`, one per endpoint and method) → the text
//! of a policy file with `prefix = "/api2/json"`.
//!
//! Checks are copied exactly; `allowtoken = false` where the schema says 0; endpoints without
//! `permissions` become root-only routes. Request parameters that checks read (`poolid` of
//! `POST /pools`, `userid`, ...) are listed in `params`, as the policy format requires.

use std::fmt::Write as _;

use serde::Deserialize;

use super::PolicyError;
use super::check::{Check, Value};
use super::template::whole_param;

/// The URL prefix of Proxmox's JSON API.
const PREFIX: &str = "/api2/json";

#[derive(Debug, Deserialize)]
struct Endpoint {
    method: String,
    path: String,
    permissions: Option<Permissions>,
    #[serde(default = "one")]
    allowtoken: u8,
    #[serde(default)]
    parameters: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Permissions {
    check: Option<serde_json::Value>,
    user: Option<String>,
    description: Option<String>,
}

/// Which endpoints of the dump to import, by path relative to `/api2/json`.
///
/// A prefix matches the path itself and everything below it (`/pools` matches `/pools` and
/// `/pools/{poolid}`, not `/poolsx`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFilter {
    /// Import only endpoints under one of these prefixes (empty = all).
    pub only: Vec<String>,
    /// Skip endpoints under any of these prefixes.
    pub exclude: Vec<String>,
}

/// Turn the dump's JSON text into policy-file text.
pub fn import_pve(json: &str) -> Result<String, PolicyError> {
    import_pve_filtered(json, &ImportFilter::default())
}

/// [`import_pve`] restricted to the endpoints `filter` selects.
pub fn import_pve_filtered(json: &str, filter: &ImportFilter) -> Result<String, PolicyError> {
    let endpoints: Vec<Endpoint> =
        serde_json::from_str(json).map_err(|e| PolicyError::Import(e.to_string()))?;
    let mut out = String::new();
    out.push_str(HEADER);
    let _ = writeln!(out, "prefix = {}", toml_str(PREFIX));
    for (i, e) in endpoints.iter().enumerate() {
        let rel = e.path.strip_prefix(PREFIX).unwrap_or(&e.path);
        if !filter.selects(rel) {
            continue;
        }
        route(&mut out, e).map_err(|m| {
            PolicyError::Import(format!("entry {i} ({} {}): {m}", e.method, e.path))
        })?;
    }
    Ok(out)
}

// === impl ImportFilter ===

impl ImportFilter {
    /// Whether the relative path `rel` is imported.
    pub fn selects(&self, rel: &str) -> bool {
        let under = |prefix: &String| {
            let prefix = prefix.trim_end_matches('/');
            rel.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        (self.only.is_empty() || self.only.iter().any(under)) && !self.exclude.iter().any(under)
    }
}

fn route(out: &mut String, e: &Endpoint) -> Result<(), String> {
    let rel = e
        .path
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("path does not start with `{PREFIX}`"))?;
    let rel = if rel.is_empty() { "/" } else { rel };
    out.push_str("\n[[route]]\n");
    let _ = writeln!(out, "method = {}", toml_str(&e.method));
    let _ = writeln!(out, "path = {}", toml_str(rel));
    let Some(perms) = &e.permissions else {
        out.push_str("# no permissions in the schema: root@pam only\n");
        return allowtoken(out, e);
    };
    if let Some(user) = &perms.user {
        let _ = writeln!(out, "user = {}", toml_str(user));
    }
    if let Some(check) = &perms.check {
        let compiled = Check::parse(&Value::from_json(check)).map_err(|e| e.0)?;
        let _ = writeln!(out, "check = {}", toml_value(check)?);
        let path_params: Vec<&str> = rel.split('/').filter_map(whole_param).collect();
        let mut params: Vec<&str> = Vec::new();
        for p in compiled.params() {
            if !path_params.contains(&p) && !params.contains(&p) {
                params.push(p);
            }
        }
        if !params.is_empty() {
            for p in params.iter().filter(|p| !e.parameters.contains_key(**p)) {
                let _ = writeln!(
                    out,
                    "# `{p}` is not a parameter of this endpoint: Proxmox checks the path with \
                     `-` in its place, the gateway denies unless the request carries it"
                );
            }
            let list: Vec<String> = params.iter().map(|p| toml_str(p)).collect();
            let _ = writeln!(out, "params = [{}]", list.join(", "));
        }
    }
    if let Some(d) = &perms.description {
        let _ = writeln!(out, "description = {}", toml_str(d));
    }
    if e.method == "GET" && rel.ends_with(WEBSOCKET_SUFFIX) {
        out.push_str("websocket = true\n");
    }
    allowtoken(out, e)
}

/// The endpoints Proxmox serves WebSockets on (`.../vncwebsocket`: VM, container and node
/// consoles); the schema has no flag for it.
const WEBSOCKET_SUFFIX: &str = "/vncwebsocket";

fn allowtoken(out: &mut String, e: &Endpoint) -> Result<(), String> {
    match e.allowtoken {
        1 => Ok(()),
        0 => {
            out.push_str("allowtoken = false\n");
            Ok(())
        }
        other => Err(format!("allowtoken {other} is neither 0 nor 1")),
    }
}

/// A JSON check as a TOML inline value (strings, integers and arrays only).
fn toml_value(v: &serde_json::Value) -> Result<String, String> {
    Ok(match v {
        serde_json::Value::String(s) => toml_str(s),
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("number `{n}` in a check is not an integer"))?
            .to_string(),
        serde_json::Value::Array(items) => {
            let items = items
                .iter()
                .map(toml_value)
                .collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        other => return Err(format!("unexpected `{other}` in a check")),
    })
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn one() -> u8 {
    1
}

const HEADER: &str = "\
# The Proxmox VE API, generated by `aclgate policy import-pve` from the API permission schema.
# Every endpoint and method, with its permission check copied exactly (see docs/policy.md).
# Regenerate instead of editing by hand.

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_every_kind() {
        let json = r#"[
          {"method":"GET","path":"/api2/json/version","permissions":{"user":"all"},"allowtoken":1,"parameters":{}},
          {"method":"POST","path":"/api2/json/access/ticket","permissions":{"user":"world","description":"say \"hi\"\nthere"},"allowtoken":0,"parameters":{}},
          {"method":"POST","path":"/api2/json/cluster/config","permissions":null,"allowtoken":1,"parameters":{}},
          {"method":"POST","path":"/api2/json/pools","permissions":{"check":["perm","/pool/{poolid}",["Pool.Allocate"]]},"allowtoken":1,"parameters":{"poolid":{}}},
          {"method":"GET","path":"/api2/json/nodes/{node}/qemu/{vmid}","permissions":{"check":["perm","/vms/{vmid}",["VM.Audit"],"any",1]},"allowtoken":1,"parameters":{}}
        ]"#;
        let text = import_pve(json).expect("imports");
        let table = super::super::RouteTable::from_str("gen.toml", &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(table.len(), 5, "{text}");
        assert!(text.contains("params = [\"poolid\"]"), "{text}");
        assert!(text.contains("allowtoken = false"), "{text}");
        assert!(!text.contains("websocket"), "{text}");
        assert!(
            table.find("GET", "/api2/json/nodes/n1/qemu/100").is_some(),
            "{text}"
        );
    }

    #[test]
    fn filter_table() {
        fn check(only: &[&str], exclude: &[&str], rel: &str, want: bool) {
            let f = ImportFilter {
                only: only.iter().map(|s| s.to_string()).collect(),
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
            };
            assert_eq!(
                f.selects(rel),
                want,
                "only {only:?} exclude {exclude:?} rel {rel}"
            );
        }
        check(&[], &[], "/pools", true);
        check(&[], &["/pools"], "/pools", false);
        check(&[], &["/pools"], "/pools/{poolid}", false);
        check(&[], &["/pools"], "/poolsx", true);
        check(&[], &["/access/"], "/access", false);
        check(&["/access"], &[], "/access/users", true);
        check(&["/access"], &[], "/nodes", false);
        check(&["/access"], &["/access/ticket"], "/access/ticket", false);
    }

    #[test]
    fn refuses_foreign_paths() {
        let json = r#"[{"method":"GET","path":"/other","permissions":null,"allowtoken":1}]"#;
        let e = import_pve(json).expect_err("foreign path");
        assert!(e.to_string().contains("does not start with"), "{e}");
    }
}
