//! The 17 built-in ("special") roles with exactly Proxmox's privilege sets (spec §3.2, §3.3).

use super::privilege::PrivSet;

/// The role that cancels every other role where it ends up (spec §4.4).
pub const NO_ACCESS: &str = "NoAccess";

/// The built-in roles, sorted by name, with their privileges.
pub fn builtin_roles() -> &'static [(&'static str, PrivSet)] {
    static ROLES: std::sync::OnceLock<Vec<(&'static str, PrivSet)>> = std::sync::OnceLock::new();
    ROLES.get_or_init(derive_builtin_roles)
}

/// The privileges of a built-in role, or `None` if `name` is not built in.
pub fn builtin_role(name: &str) -> Option<PrivSet> {
    let roles = builtin_roles();
    roles
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| roles[i].1)
}

/// Whether `name` is a built-in role.
pub fn is_builtin_role(name: &str) -> bool {
    builtin_role(name).is_some()
}

/// A privilege category with its four tiers (spec §3.2); role sets derive from these.
struct Category {
    name: &'static str,
    /// Privileges only root-level roles (Administrator) hold; kept to document Proxmox's tiers.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tier test only"))]
    root: &'static [&'static str],
    admin: &'static [&'static str],
    user: &'static [&'static str],
    audit: &'static [&'static str],
}

/// Derive the roles the way Proxmox's `create_roles` does, so the sets cannot drift apart by hand.
fn derive_builtin_roles() -> Vec<(&'static str, PrivSet)> {
    let set = |names: &[&str]| {
        // INVARIANT: every name in CATEGORIES is one of Privilege::NAMES (checked by a unit test).
        PrivSet::from_names(names.iter().copied()).expect("built-in privilege names")
    };
    let mut roles: Vec<(&'static str, PrivSet)> = Vec::new();
    let (mut auditor, mut admin) = (PrivSet::EMPTY, PrivSet::EMPTY);
    for c in CATEGORIES {
        let audit = set(c.audit);
        let user = set(c.user).union(audit);
        let cat_admin = set(c.admin).union(user);
        auditor = auditor.union(audit);
        admin = admin.union(cat_admin);
        roles.push((c.name_admin(), cat_admin));
        if !c.user.is_empty() {
            roles.push((c.name_user(), user));
        }
    }
    roles.push(("PVEAuditor", auditor));
    roles.push(("PVEAdmin", admin.difference(set(&["Mapping.Modify"]))));
    roles.push(("PVETemplateUser", set(&["VM.Clone", "VM.Audit"])));
    roles.push((NO_ACCESS, PrivSet::EMPTY));
    roles.push(("Administrator", PrivSet::ALL));
    roles.sort_by(|a, b| a.0.cmp(b.0));
    roles
}

impl Category {
    fn name_admin(&self) -> &'static str {
        match self.name {
            "VM" => "PVEVMAdmin",
            "Sys" => "PVESysAdmin",
            "Datastore" => "PVEDatastoreAdmin",
            "SDN" => "PVESDNAdmin",
            "User" => "PVEUserAdmin",
            "Pool" => "PVEPoolAdmin",
            _ => "PVEMappingAdmin",
        }
    }

    fn name_user(&self) -> &'static str {
        match self.name {
            "VM" => "PVEVMUser",
            "Datastore" => "PVEDatastoreUser",
            "SDN" => "PVESDNUser",
            "Pool" => "PVEPoolUser",
            _ => "PVEMappingUser",
        }
    }
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "VM",
        root: &[],
        admin: &[
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ],
        user: &[
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ],
        audit: &["VM.Audit", "VM.GuestAgent.Audit"],
    },
    Category {
        name: "Sys",
        root: &[
            "Sys.PowerMgmt",
            "Sys.Modify",
            "Sys.Incoming",
            "Sys.AccessNetwork",
        ],
        admin: &["Sys.Console", "Sys.Syslog"],
        user: &[],
        audit: &["Sys.Audit"],
    },
    Category {
        name: "Datastore",
        root: &[],
        admin: &["Datastore.Allocate", "Datastore.AllocateTemplate"],
        user: &["Datastore.AllocateSpace"],
        audit: &["Datastore.Audit"],
    },
    Category {
        name: "SDN",
        root: &[],
        admin: &["SDN.Allocate", "SDN.Audit"],
        user: &["SDN.Use"],
        audit: &["SDN.Audit"],
    },
    Category {
        name: "User",
        root: &["Realm.Allocate"],
        admin: &["User.Modify", "Group.Allocate", "Realm.AllocateUser"],
        user: &[],
        audit: &[],
    },
    Category {
        name: "Pool",
        root: &[],
        admin: &["Pool.Allocate"],
        user: &["Pool.Audit"],
        audit: &["Pool.Audit"],
    },
    Category {
        name: "Mapping",
        root: &[],
        admin: &["Mapping.Modify"],
        user: &["Mapping.Use"],
        audit: &["Mapping.Audit"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(role: &str, expected: &[&str]) {
        let got = builtin_role(role).unwrap_or_else(|| panic!("role `{role}` missing"));
        let want = PrivSet::from_names(expected.iter().copied()).unwrap();
        assert_eq!(got, want, "role `{role}`: got {got}, want {want}");
    }

    #[test]
    fn root_tier_privileges_are_in_no_pve_role() {
        let root: PrivSet = CATEGORIES
            .iter()
            .flat_map(|c| c.root.iter())
            .map(|p| p.parse().expect("privilege"))
            .collect();
        for (name, privs) in builtin_roles() {
            if name.starts_with("PVE") {
                assert!(
                    !privs.intersects(root),
                    "{name} holds a root-tier privilege"
                );
            }
        }
    }

    #[test]
    fn exactly_the_seventeen_roles_of_spec_3_3() {
        let names: Vec<_> = builtin_roles().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "Administrator",
                "NoAccess",
                "PVEAdmin",
                "PVEAuditor",
                "PVEDatastoreAdmin",
                "PVEDatastoreUser",
                "PVEMappingAdmin",
                "PVEMappingUser",
                "PVEPoolAdmin",
                "PVEPoolUser",
                "PVESDNAdmin",
                "PVESDNUser",
                "PVESysAdmin",
                "PVETemplateUser",
                "PVEUserAdmin",
                "PVEVMAdmin",
                "PVEVMUser",
            ]
        );
        let vm_all: Vec<&str> = PrivSet::with_prefix("VM.")
            .iter()
            .map(|p| p.name())
            .collect();
        let mut admin = vec![
            "Datastore.Allocate",
            "Datastore.AllocateSpace",
            "Datastore.AllocateTemplate",
            "Datastore.Audit",
            "Group.Allocate",
            "Mapping.Audit",
            "Mapping.Use",
            "Pool.Allocate",
            "Pool.Audit",
            "Realm.AllocateUser",
            "SDN.Allocate",
            "SDN.Audit",
            "SDN.Use",
            "Sys.Audit",
            "Sys.Console",
            "Sys.Syslog",
            "User.Modify",
        ];
        admin.extend(&vm_all);
        check("PVEAdmin", &admin);
        assert_eq!(builtin_role("PVEAdmin").unwrap().len(), 40);
        check(
            "PVEAuditor",
            &[
                "Datastore.Audit",
                "Mapping.Audit",
                "Pool.Audit",
                "SDN.Audit",
                "Sys.Audit",
                "VM.Audit",
                "VM.GuestAgent.Audit",
            ],
        );
        check("PVEVMAdmin", &vm_all);
        check(
            "PVEVMUser",
            &[
                "VM.Audit",
                "VM.Backup",
                "VM.Config.CDROM",
                "VM.Config.Cloudinit",
                "VM.Console",
                "VM.GuestAgent.Audit",
                "VM.GuestAgent.FileRead",
                "VM.GuestAgent.FileSystemMgmt",
                "VM.GuestAgent.FileWrite",
                "VM.PowerMgmt",
            ],
        );
        check(
            "PVEDatastoreAdmin",
            &[
                "Datastore.Allocate",
                "Datastore.AllocateSpace",
                "Datastore.AllocateTemplate",
                "Datastore.Audit",
            ],
        );
        check(
            "PVEDatastoreUser",
            &["Datastore.AllocateSpace", "Datastore.Audit"],
        );
        check("PVEPoolAdmin", &["Pool.Allocate", "Pool.Audit"]);
        check("PVEPoolUser", &["Pool.Audit"]);
        check("PVESysAdmin", &["Sys.Audit", "Sys.Console", "Sys.Syslog"]);
        check("PVETemplateUser", &["VM.Audit", "VM.Clone"]);
        check(
            "PVEUserAdmin",
            &["Group.Allocate", "Realm.AllocateUser", "User.Modify"],
        );
        check("PVESDNAdmin", &["SDN.Allocate", "SDN.Audit", "SDN.Use"]);
        check("PVESDNUser", &["SDN.Audit", "SDN.Use"]);
        check(
            "PVEMappingAdmin",
            &["Mapping.Audit", "Mapping.Modify", "Mapping.Use"],
        );
        check("PVEMappingUser", &["Mapping.Audit", "Mapping.Use"]);
        check("NoAccess", &[]);
        assert_eq!(builtin_role("Administrator"), Some(PrivSet::ALL));
    }
}
