//! Compiling a [`UserConfig`] and its [`AclTable`] into the engine's interned tables.
//!
//! The ACL entries are compiled straight from the table the parser wrote: the grants are
//! resolved to engine indexes, sorted once by (node, member kind, member, role, line) and swept
//! into the nodes' slots, so no map-shaped copy of a million entries is ever built.

use rustc_hash::FxHashMap;

use super::slots::Slots;
use super::{Engine, Entry, Node, Owner, Slot, TokenInfo};
use crate::access::{NO_ACCESS, builtin_roles};
use crate::config::UserConfig;
use crate::config::user_cfg::{AclMember, AclTable};

impl Engine {
    /// Compile a configuration (its `acl` map). Cost is linear in the size of the
    /// configuration.
    pub fn build(cfg: &UserConfig) -> Engine {
        Engine::build_with(cfg, &AclTable::from_config(cfg))
    }

    /// Compile a configuration whose ACL entries are in `acl` (`cfg.acl` is not read), as
    /// [`UserConfig::parse_split`] answers them.
    pub fn build_with(cfg: &UserConfig, acl: &AclTable) -> Engine {
        let mut b = Builder::default();
        b.add_roles(cfg);
        b.add_users_and_groups(cfg);
        b.add_tokens(cfg);
        b.add_acl(acl);
        b.add_pools(cfg);
        b.finish()
    }
}

#[derive(Default)]
struct Builder {
    engine: Engine,
    role_index: FxHashMap<String, u32>,
    group_index: FxHashMap<String, u32>,
    user_groups: Vec<Vec<u32>>,
}

/// One grant resolved to engine indexes, for the sort.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Resolved {
    node: u32,
    /// 0 user, 1 group, 2 token.
    kind: u8,
    member: u32,
    role: u32,
    /// Position in the table: of two grants of the same role, the later one counts.
    seq: u32,
    propagate: bool,
}

impl Builder {
    fn add_roles(&mut self, cfg: &UserConfig) {
        let builtin = builtin_roles().iter().map(|(n, p)| (*n, *p));
        let custom = cfg.roles.iter().map(|(n, p)| (n.as_str(), *p));
        for (name, privs) in builtin.chain(custom) {
            if self.role_index.contains_key(name) {
                continue;
            }
            let idx = self.engine.role_names.len() as u32;
            self.role_index.insert(name.to_owned(), idx);
            self.engine.role_names.push(name.into());
            self.engine.role_privs.push(privs);
        }
        self.engine.no_access = self.role_index[NO_ACCESS];
    }

    fn user(&mut self, userid: &str) -> u32 {
        if let Some(&u) = self.engine.users.get(userid) {
            return u;
        }
        let u = self.user_groups.len() as u32;
        self.engine.users.insert(userid.into(), u);
        self.engine.user_names.push(userid.into());
        self.user_groups.push(Vec::new());
        u
    }

    fn group(&mut self, group: &str) -> u32 {
        let next = self.group_index.len() as u32;
        let g = *self.group_index.entry(group.to_owned()).or_insert(next);
        if g == next {
            self.engine.group_names.push(group.into());
        }
        g
    }

    fn add_users_and_groups(&mut self, cfg: &UserConfig) {
        for userid in cfg.users.keys() {
            self.user(userid.as_str());
        }
        for (gid, group) in &cfg.groups {
            let g = self.group(gid.as_str());
            for member in &group.members {
                let u = self.user(member.as_str());
                self.user_groups[u as usize].push(g);
            }
        }
    }

    fn add_tokens(&mut self, cfg: &UserConfig) {
        for (userid, user) in &cfg.users {
            let owner = if userid.is_root() {
                Owner::All
            } else {
                Owner::User(self.user(userid.as_str()))
            };
            for (name, token) in &user.tokens {
                let id = format!("{}!{}", userid.as_str(), name.as_str());
                let index = self.engine.token_names.len() as u32;
                self.engine.token_names.push(id.as_str().into());
                self.engine.tokens.insert(
                    id.into(),
                    TokenInfo {
                        index,
                        privsep: token.privsep,
                        owner,
                    },
                );
            }
        }
    }

    fn add_acl(&mut self, table: &AclTable) {
        self.engine.nodes.push(Node::default());
        let nodes: Vec<u32> = table
            .paths
            .iter()
            .map(|p| self.engine.intern_node(p.components()))
            .collect();
        // (kind, engine index) per table member; `None`: an undefined token, which can never
        // match anyone.
        let members: Vec<Option<(u8, u32)>> = table
            .members
            .iter()
            .map(|m| match m {
                AclMember::User(u) => Some((0, self.user(u.as_str()))),
                AclMember::Group(g) => Some((1, self.group(g.as_str()))),
                AclMember::Token(t) => self.engine.tokens.get(t.as_str()).map(|t| (2, t.index)),
            })
            .collect();
        // An ACL naming an unknown role adds nothing.
        let roles: Vec<Option<u32>> = table
            .roles
            .iter()
            .map(|r| self.role_index.get(r.as_str()).copied())
            .collect();
        let mut grants: Vec<Resolved> = table
            .grants
            .iter()
            .enumerate()
            .filter_map(|(seq, g)| {
                let (kind, member) = members[g.member as usize]?;
                Some(Resolved {
                    node: nodes[g.path as usize],
                    kind,
                    member,
                    role: roles[g.role as usize]?,
                    seq: seq as u32,
                    propagate: g.propagate,
                })
            })
            .collect();
        grants.sort_unstable();
        self.sweep(&grants);
    }

    /// Turn sorted grants into entries and slots: one slot per (node, kind, member), one entry
    /// per role (the last grant of it).
    fn sweep(&mut self, grants: &[Resolved]) {
        let mut slots = Vec::new();
        let mut i = 0;
        while i < grants.len() {
            let first = grants[i];
            let start = self.engine.entries.len() as u32;
            let mut any_propagate = false;
            while i < grants.len() && same_member(&grants[i], &first) {
                while i + 1 < grants.len() && same_entry(&grants[i], &grants[i + 1]) {
                    i += 1;
                }
                let Resolved {
                    role, propagate, ..
                } = grants[i];
                self.engine.entries.push(Entry { role, propagate });
                any_propagate |= propagate;
                i += 1;
            }
            slots.push(Slot {
                member: first.member,
                start,
                end: self.engine.entries.len() as u32,
                any_propagate,
            });
            let kind_done = grants
                .get(i)
                .is_none_or(|next| (next.node, next.kind) != (first.node, first.kind));
            if kind_done {
                let node = &mut self.engine.nodes[first.node as usize];
                let list = Slots::new(std::mem::take(&mut slots));
                match first.kind {
                    0 => node.users = list,
                    1 => node.groups = list,
                    _ => node.tokens = list,
                }
            }
        }
    }

    fn add_pools(&mut self, cfg: &UserConfig) {
        let mut vms: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
        let mut storage: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
        for (id, pool) in &cfg.pools {
            let p = self.engine.pool_paths.len() as u32;
            self.engine
                .pool_paths
                .push(format!("/pool/{}", id.as_str()).into());
            for vm in &pool.vms {
                vms.entry(vm.as_str()).or_default().push(p);
            }
            for s in &pool.storage {
                storage.entry(s.as_str()).or_default().push(p);
            }
        }
        self.engine.vm_pools = vms.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self.engine.storage_pools = storage
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
    }

    fn finish(mut self) -> Engine {
        self.engine.user_groups = self
            .user_groups
            .into_iter()
            .map(|mut g| {
                g.sort_unstable();
                g.dedup();
                g.into_boxed_slice()
            })
            .collect();
        let engine = &self.engine;
        self.engine.pool_chains = engine.pool_paths.iter().map(|p| engine.chain(p)).collect();
        self.engine
    }
}

/// Whether two sorted grants are of the same member at the same node.
fn same_member(a: &Resolved, b: &Resolved) -> bool {
    (a.node, a.kind, a.member) == (b.node, b.kind, b.member)
}

/// Whether two sorted grants are the same entry (node, member, role).
fn same_entry(a: &Resolved, b: &Resolved) -> bool {
    same_member(a, b) && a.role == b.role
}
