//! The `cap` object of a login answer (spec §4.9): a UI hint of what the user may do, per
//! section. Never an authorization source.

use serde_json::{Map, Value};

use crate::access::{Engine, PrivSet};
use crate::identity::Authid;

/// The seven sections, always present.
const SECTIONS: [&str; 7] = ["vms", "access", "storage", "nodes", "sdn", "mapping", "dc"];
/// Paths always evaluated (besides every ACL path).
const FIXED_PATHS: [&str; 7] = [
    "/",
    "/nodes",
    "/access/groups",
    "/vms",
    "/storage",
    "/sdn",
    "/mapping",
];

/// The `cap` object for `authid`.
pub fn cap(engine: &Engine, authid: &Authid) -> Value {
    let subject = engine.subject(authid);
    let masks = Masks::new();
    let mut sections = [PrivSet::EMPTY; 7];
    let acl_paths = engine.acl_paths();
    let paths = FIXED_PATHS
        .iter()
        .copied()
        .chain(acl_paths.iter().map(String::as_str));
    for path in paths {
        let granted = engine.privs_of(subject, path).granted;
        if granted.is_empty() {
            continue;
        }
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        for (index, mask) in masks.for_component(first) {
            sections[index] = sections[index].union(granted.intersection(mask));
        }
    }
    let mut out = Map::new();
    for (name, set) in SECTIONS.iter().zip(sections) {
        let privs: Map<String, Value> = set
            .iter()
            .map(|p| (p.name().to_owned(), Value::from(1)))
            .collect();
        out.insert((*name).to_owned(), Value::Object(privs));
    }
    Value::Object(out)
}

struct Masks {
    vm: PrivSet,
    datastore: PrivSet,
    perm_modify: PrivSet,
    access: PrivSet,
    nodes: PrivSet,
    sdn: PrivSet,
    mapping: PrivSet,
    dc: PrivSet,
}

impl Masks {
    fn new() -> Masks {
        let perm_modify = PrivSet::with_prefix("Permissions.Modify");
        let sdn = PrivSet::with_prefix("SDN.");
        Masks {
            vm: PrivSet::with_prefix("VM."),
            datastore: PrivSet::with_prefix("Datastore."),
            perm_modify,
            access: PrivSet::with_prefix("User.").union(PrivSet::with_prefix("Group.")),
            nodes: PrivSet::with_prefix("Sys."),
            sdn,
            mapping: PrivSet::with_prefix("Mapping."),
            dc: PrivSet::with_prefix("Sys.Audit")
                .union(PrivSet::with_prefix("Sys.Modify"))
                .union(sdn),
        }
    }

    /// (section index, privileges it takes) for a path's first component.
    fn for_component(&self, first: &str) -> Vec<(usize, PrivSet)> {
        let pm = self.perm_modify;
        match first {
            "vms" => vec![(0, self.vm.union(pm))],
            "access" => vec![(1, self.access.union(pm))],
            "storage" => vec![(2, self.datastore.union(pm))],
            "nodes" => vec![(3, self.nodes.union(pm))],
            "sdn" => vec![(4, self.sdn.union(pm))],
            "mapping" => vec![(5, self.mapping.union(pm))],
            "" => vec![(6, self.dc)],
            "pool" => vec![(0, self.vm.union(pm)), (2, self.datastore.union(pm))],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

    #[test]
    fn vm_admin_on_vms() {
        let (cfg, _) = UserConfig::parse("user:joe@pve:1:0:::::\nacl:1:/vms:joe@pve:PVEVMAdmin:\n");
        let engine = Engine::build(&cfg);
        let cap = cap(&engine, &"joe@pve".parse().unwrap());
        for section in SECTIONS {
            assert!(cap.get(section).is_some(), "section {section} present");
        }
        assert_eq!(cap["vms"]["VM.Audit"], 1, "VM.Audit in vms: {cap}");
        assert!(cap["vms"].get("Permissions.Modify").is_none(), "{cap}");
        assert_eq!(cap["dc"], serde_json::json!({}), "{cap}");
    }

    #[test]
    fn root_has_dc_and_nodes() {
        let engine = Engine::build(&UserConfig::default());
        let cap = cap(&engine, &"root@pam".parse().unwrap());
        assert_eq!(cap["dc"]["Sys.Audit"], 1, "{cap}");
        assert_eq!(cap["nodes"]["Sys.PowerMgmt"], 1, "{cap}");
        assert_eq!(cap["access"]["User.Modify"], 1, "{cap}");
    }
}
