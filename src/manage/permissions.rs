//! The effective-permission listing of `GET /access/permissions` and `pveum user permissions`
//! (spec §4.9).

use serde_json::{Map, Value, json};

use crate::access::Engine;
use crate::identity::Authid;

/// The permission listing: one path as given, or every listed path with privileges.
pub fn permission_map(engine: &Engine, authid: &Authid, path: Option<&str>) -> Value {
    let subject = engine.subject(authid);
    let privs_at = |p: &str| {
        let privs = engine.privs_of(subject, p);
        privs
            .granted
            .iter()
            .map(|priv_| {
                let flag = u8::from(privs.propagate.contains(priv_));
                (priv_.name().to_owned(), json!(flag))
            })
            .collect::<Map<String, Value>>()
    };
    let mut out = Map::new();
    if let Some(p) = path {
        out.insert(p.to_owned(), Value::Object(privs_at(p)));
        return Value::Object(out);
    }
    // Every node of the ACL tree, as Proxmox's `iterate_acl_tree` visits it: an entry on
    // `/sdn/zones/z1` also lists `/sdn/zones` (and `/sdn`).
    let mut paths: std::collections::BTreeSet<String> =
        FIXED_PATHS.iter().map(|p| (*p).to_owned()).collect();
    for p in engine.acl_paths() {
        let mut end = p.len();
        while let Some(cut) = p[..end].rfind('/').filter(|&c| c > 0) {
            paths.insert(p[..cut].to_owned());
            end = cut;
        }
        paths.insert(p);
    }
    paths.extend(engine.pool_member_paths());
    for p in paths {
        let privs = privs_at(&p);
        if !privs.is_empty() {
            out.insert(p, Value::Object(privs));
        }
    }
    Value::Object(out)
}

/// Paths always listed when they carry privileges (spec §4.9).
const FIXED_PATHS: &[&str] = &[
    "/",
    "/access",
    "/access/groups",
    "/nodes",
    "/pool",
    "/sdn",
    "/storage",
    "/vms",
];
