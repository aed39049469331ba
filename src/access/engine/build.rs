//! Compiling a [`UserConfig`] into the engine's interned tables.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::slots::Slots;
use super::{Engine, Entry, Node, Owner, Slot, TokenInfo};
use crate::access::role::{NO_ACCESS, builtin_roles};
use crate::config::UserConfig;
use crate::identity::RoleId;

impl Engine {
    /// Compile a configuration. Cost is linear in the size of the configuration.
    pub fn build(cfg: &UserConfig) -> Engine {
        let mut b = Builder::default();
        b.add_roles(cfg);
        b.add_users_and_groups(cfg);
        b.add_tokens(cfg);
        b.add_acl(cfg);
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
        self.user_groups.push(Vec::new());
        u
    }

    fn group(&mut self, group: &str) -> u32 {
        let next = self.group_index.len() as u32;
        *self.group_index.entry(group.to_owned()).or_insert(next)
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
                let index = self.engine.tokens.len() as u32;
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

    fn add_acl(&mut self, cfg: &UserConfig) {
        self.engine.nodes.push(Node::default());
        for (path, acl) in &cfg.acl {
            let node = self.node(path.components());
            let mut users = Vec::with_capacity(acl.users.len());
            for (userid, roles) in &acl.users {
                let u = self.user(userid.as_str());
                users.extend(self.push_entries(u, roles));
            }
            let mut groups = Vec::with_capacity(acl.groups.len());
            for (gid, roles) in &acl.groups {
                let g = self.group(gid.as_str());
                groups.extend(self.push_entries(g, roles));
            }
            let mut tokens = Vec::with_capacity(acl.tokens.len());
            for (tid, roles) in &acl.tokens {
                // An entry for an undefined token can never match anyone.
                let Some(t) = self.engine.tokens.get(tid.as_str()).map(|t| t.index) else {
                    continue;
                };
                tokens.extend(self.push_entries(t, roles));
            }
            let n = &mut self.engine.nodes[node as usize];
            n.users = Slots::new(users);
            n.groups = Slots::new(groups);
            n.tokens = Slots::new(tokens);
        }
    }

    /// A member's entries for the roles that exist; `None` if none do (an ACL naming an unknown
    /// role adds nothing).
    fn push_entries(&mut self, member: u32, roles: &BTreeMap<RoleId, bool>) -> Option<Slot> {
        let start = self.engine.entries.len() as u32;
        let mut any_propagate = false;
        for (role, &propagate) in roles {
            if let Some(&r) = self.role_index.get(role.as_str()) {
                self.engine.entries.push(Entry { role: r, propagate });
                any_propagate |= propagate;
            }
        }
        let end = self.engine.entries.len() as u32;
        (end > start).then_some(Slot {
            member,
            start,
            end,
            any_propagate,
        })
    }

    /// The node for a path, creating it and its ancestors.
    fn node<'a>(&mut self, comps: impl Iterator<Item = &'a str>) -> u32 {
        let mut node = 0u32;
        for comp in comps {
            let next = self.engine.nodes.len() as u32;
            let child = *self.engine.nodes[node as usize]
                .children
                .entry(comp.into())
                .or_insert(next);
            if child == next {
                self.engine.nodes.push(Node {
                    name: comp.into(),
                    parent: node,
                    ..Node::default()
                });
            }
            node = child;
        }
        node
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
