//! A deterministic, realistic large state for benchmarks: users, tokens, groups, pools, custom
//! roles and ACL entries spread over the paths a Proxmox cluster uses.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Sizes of a generated state.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub users: usize,
    pub groups: usize,
    pub acl_entries: usize,
    pub pools: usize,
}

impl Sizes {
    /// The size the issue asks for: 10k users, 1k groups, 100k ACL entries, 200 pools.
    pub const ISSUE: Sizes = Sizes {
        users: 10_000,
        groups: 1_000,
        acl_entries: 100_000,
        pools: 200,
    };
}

/// Number of VMs the ACL paths refer to (`/vms/100` … `/vms/<100 + VMS - 1>`).
pub const VMS: usize = 20_000;
const STORAGES: usize = 50;
const NODES: usize = 16;
const ROLES: &[&str] = &[
    "PVEVMUser",
    "PVEVMAdmin",
    "PVEAuditor",
    "PVEDatastoreUser",
    "PVEAdmin",
    "NoAccess",
    "PVEPoolUser",
    "PVESysAdmin",
    "Ops",
    "Backup",
    "Console",
];

/// Generate user.cfg text in Proxmox's format for `sizes`.
pub fn user_cfg(sizes: Sizes, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::new();
    for u in 0..sizes.users {
        let _ = writeln!(out, "user:{}:1:0:First:Last:u{u}@example.com:::", user(u));
        if u % 5 == 0 {
            let _ = writeln!(out, "token:{}!ci:0:{}::", user(u), u % 2);
        }
    }
    out.push('\n');
    for g in 0..sizes.groups {
        let members: Vec<String> = (0..20)
            .map(|_| user(rng.random_range(0..sizes.users)))
            .collect();
        let _ = writeln!(out, "group:g{g}:{}::", members.join(","));
    }
    out.push('\n');
    let per_pool = VMS / sizes.pools.max(1) / 4;
    for p in 0..sizes.pools {
        let vms: Vec<String> = (0..per_pool)
            .map(|i| (100 + p * per_pool + i).to_string())
            .collect();
        let _ = writeln!(
            out,
            "pool:pool{p}::{}:store{}:",
            vms.join(","),
            p % STORAGES
        );
    }
    out.push('\n');
    out.push_str("role:Backup:Datastore.AllocateSpace,VM.Audit,VM.Backup:\n");
    out.push_str("role:Console:VM.Console:\n");
    out.push_str("role:Ops:Sys.Audit,VM.Audit,VM.Console,VM.PowerMgmt:\n\n");
    for _ in 0..sizes.acl_entries {
        let path = random_path(&mut rng, sizes.pools);
        let member = match rng.random_range(0..10) {
            0..=4 => user(rng.random_range(0..sizes.users)),
            5..=8 => format!("@g{}", rng.random_range(0..sizes.groups)),
            _ => format!("{}!ci", user(rng.random_range(0..sizes.users / 5) * 5)),
        };
        let role = ROLES[rng.random_range(0..ROLES.len())];
        let _ = writeln!(
            out,
            "acl:{}:{path}:{member}:{role}:",
            rng.random_range(0..4).min(1)
        );
    }
    out
}

/// A random path of the shapes Proxmox's checks use.
pub fn random_path(rng: &mut StdRng, pools: usize) -> String {
    match rng.random_range(0..20) {
        0 => "/".to_owned(),
        1 => "/vms".to_owned(),
        2 => "/storage".to_owned(),
        3..=12 => format!("/vms/{}", 100 + rng.random_range(0..VMS)),
        13..=14 => format!("/storage/store{}", rng.random_range(0..STORAGES)),
        15..=16 => format!("/nodes/node{}", rng.random_range(0..NODES)),
        17 => format!("/pool/pool{}", rng.random_range(0..pools.max(1))),
        _ => format!("/sdn/zones/zone{}", rng.random_range(0..8)),
    }
}

/// The userid of user number `u`.
pub fn user(u: usize) -> String {
    let realm = match u % 10 {
        0 => "pam",
        1 => "ldap",
        _ => "pve",
    };
    format!("user{u}@{realm}")
}
