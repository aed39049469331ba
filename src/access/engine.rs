//! The compiled permission engine (spec §4.3–§4.8).
//!
//! [`Engine::build`] turns a [`UserConfig`] into flat, interned tables once per snapshot; the
//! queries then walk the ACL tree from `/` to the path without allocating.
//!
//! The walk rests on one observation about Proxmox's algorithm: at every node the applicable
//! entries (token, else user, else the union of the user's groups) *replace* whatever was
//! inherited. So the answer is decided entirely by the deepest node on the path where the subject
//! has an applicable entry; the walk only has to remember that node.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::path::components;
use super::privilege::PrivSet;
use super::role::{NO_ACCESS, builtin_roles};
use crate::config::UserConfig;
use crate::identity::{Authid, RoleId, Userid};

/// Granted privileges and, for each, whether it came from a propagating entry (spec §4.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privs {
    /// The privileges held.
    pub granted: PrivSet,
    /// The subset of `granted` whose flag is 1 ("(*)" in `pveum user permissions`).
    pub propagate: PrivSet,
}

/// An authid resolved against one engine: what privileges are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// root@pam, or a privsep=0 token of root@pam: every privilege everywhere.
    All,
    /// No ACL entry can ever match (unknown token, user never mentioned).
    Nobody,
    /// A user (also a privsep=0 token, which acts as its owner).
    User(u32),
    /// A privilege-separated token: own entries, intersected with the owner's privileges.
    Token { token: u32, owner: Owner },
}

/// The owner side of a privsep token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    All,
    Nobody,
    User(u32),
}

/// Who matched at the deciding node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Token,
    User,
    Groups,
}

/// The node that decided a role map: its path, what matched there, and whether it was the final
/// (exact) node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decider {
    pub path: String,
    pub kind: MatchKind,
    pub exact: bool,
}

/// The permission engine compiled from one `user.cfg`.
#[derive(Debug, Default)]
pub struct Engine {
    /// Every userid mentioned anywhere (users, group members, ACL members) → index.
    users: FxHashMap<Box<str>, u32>,
    /// Per user index: the groups it belongs to, sorted.
    user_groups: Vec<Box<[u32]>>,
    /// Defined tokens by full id.
    tokens: FxHashMap<Box<str>, TokenInfo>,
    /// Role table: names and privileges; ACLs refer to roles by index.
    role_names: Vec<Box<str>>,
    role_privs: Vec<PrivSet>,
    no_access: u32,
    /// ACL tree; node 0 is `/`.
    nodes: Vec<Node>,
    /// Flat entry storage the nodes point into.
    entries: Vec<Entry>,
    /// VMID → pools, storage id → pools (pool ids as `pool/<id>` path components).
    vm_pools: FxHashMap<Box<str>, Box<[u32]>>,
    storage_pools: FxHashMap<Box<str>, Box<[u32]>>,
    /// Pool index → ACL path `/pool/<id>`.
    pool_paths: Vec<Box<str>>,
}

#[derive(Debug, Clone, Copy)]
struct TokenInfo {
    index: u32,
    privsep: bool,
    owner: Owner,
}

#[derive(Debug, Default)]
struct Node {
    name: Box<str>,
    parent: u32,
    children: FxHashMap<Box<str>, u32>,
    /// Entries per member, sorted by member.
    users: Vec<Slot>,
    groups: Vec<Slot>,
    tokens: Vec<Slot>,
}

/// One member's entries at one node.
#[derive(Debug, Clone, Copy)]
struct Slot {
    member: u32,
    start: u32,
    end: u32,
    /// Whether any of the entries propagates: decides applicability at non-final nodes without
    /// touching the entries.
    any_propagate: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    role: u32,
    propagate: bool,
}

// === impl Engine: queries ===

impl Engine {
    /// Resolve an authid once; the result is valid for this engine only.
    pub fn subject(&self, authid: &Authid) -> Subject {
        match authid {
            Authid::User(u) => self.user_subject(u.as_str()),
            Authid::Token(t) => match self.tokens.get(t.as_str()) {
                None => Subject::Nobody,
                Some(info) if info.privsep => Subject::Token {
                    token: info.index,
                    owner: info.owner,
                },
                Some(info) => match info.owner {
                    Owner::All => Subject::All,
                    Owner::Nobody => Subject::Nobody,
                    Owner::User(u) => Subject::User(u),
                },
            },
        }
    }

    /// Effective privileges of `authid` on `path` (spec §4.3–§4.7).
    pub fn privs(&self, authid: &Authid, path: &str) -> Privs {
        self.privs_of(self.subject(authid), path)
    }

    /// Effective privileges of a resolved subject on `path`.
    pub fn privs_of(&self, subject: Subject, path: &str) -> Privs {
        match subject {
            Subject::All => Privs {
                granted: PrivSet::ALL,
                propagate: PrivSet::ALL,
            },
            Subject::Nobody => Privs::default(),
            Subject::User(u) => self.member_privs(Member::User(u), path),
            Subject::Token { token, owner } => {
                let own = self.member_privs(Member::Token(token), path);
                let owner = match owner {
                    Owner::All => return own,
                    Owner::Nobody => return Privs::default(),
                    Owner::User(u) => self.member_privs(Member::User(u), path),
                };
                // A token never exceeds its owner; its flag is set only where both flags are.
                let granted = own.granted.intersection(owner.granted);
                Privs {
                    granted,
                    propagate: own
                        .propagate
                        .intersection(owner.propagate)
                        .intersection(granted),
                }
            }
        }
    }

    /// `roles(authid, path)` as Proxmox's `PVE::AccessControl::roles` reports it: without pool
    /// roles; privsep tokens give their own roles only; root@pam gives `Administrator`.
    pub fn roles(&self, authid: &Authid, path: &str) -> BTreeMap<String, bool> {
        let member = match self.subject(authid) {
            Subject::All => return BTreeMap::from([("Administrator".to_owned(), true)]),
            Subject::Nobody => return BTreeMap::new(),
            Subject::User(u) => Member::User(u),
            Subject::Token { token, .. } => Member::Token(token),
        };
        let mut out = BTreeMap::new();
        if let Some(hit) = self.walk(member, path) {
            self.for_each_applicable(member, hit, |e| {
                let flag = out
                    .entry(self.role_names[e.role as usize].to_string())
                    .or_insert(false);
                *flag |= e.propagate;
            });
        }
        if let Some(flag) = out.get(NO_ACCESS).copied() {
            return BTreeMap::from([(NO_ACCESS.to_owned(), flag)]);
        }
        out
    }

    /// The node that decides `authid`'s roles on `path`, for explanations (no pool roles).
    pub fn decider(&self, authid: &Authid, path: &str) -> Option<Decider> {
        let member = match self.subject(authid) {
            Subject::User(u) => Member::User(u),
            Subject::Token { token, .. } => Member::Token(token),
            Subject::All | Subject::Nobody => return None,
        };
        let hit = self.walk(member, path)?;
        Some(Decider {
            path: self.node_path(hit.node),
            kind: hit.kind,
            exact: hit.exact,
        })
    }

    /// Every path that has an ACL node with entries, in tree order.
    pub fn acl_paths(&self) -> Vec<String> {
        let mut out: Vec<(Vec<&str>, u32)> = (0..self.nodes.len() as u32)
            .filter(|&n| {
                let node = &self.nodes[n as usize];
                !(node.users.is_empty() && node.groups.is_empty() && node.tokens.is_empty())
            })
            .map(|n| (self.node_components(n), n))
            .collect();
        out.sort();
        out.into_iter().map(|(_, n)| self.node_path(n)).collect()
    }

    /// Every `/vms/<id>` and `/storage/<id>` that is a pool member.
    pub fn pool_member_paths(&self) -> Vec<String> {
        let vms = self.vm_pools.keys().map(|v| format!("/vms/{v}"));
        let storage = self.storage_pools.keys().map(|s| format!("/storage/{s}"));
        vms.chain(storage).collect()
    }
}

// === impl Engine: the walk ===

/// Whose entries to look at: a user (with its groups) or a token (own entries only).
#[derive(Debug, Clone, Copy)]
enum Member {
    User(u32),
    Token(u32),
}

/// The deciding node of a walk.
#[derive(Debug, Clone, Copy)]
struct Hit {
    node: u32,
    kind: MatchKind,
    exact: bool,
    /// The user's or token's own slot (group slots are collected again from the node).
    slot: Option<Slot>,
}

impl Engine {
    fn user_subject(&self, userid: &str) -> Subject {
        if userid == Userid::ROOT {
            return Subject::All;
        }
        match self.users.get(userid) {
            Some(&u) => Subject::User(u),
            None => Subject::Nobody,
        }
    }

    /// Privileges of one member on `path`, including pool roles (spec §4.4–§4.6).
    fn member_privs(&self, member: Member, path: &str) -> Privs {
        let (mut privs, no_access) = self.walk_privs(member, path);
        if no_access {
            return Privs::default();
        }
        if let Some(pools) = self.pools_of(path) {
            let mut pool_granted = PrivSet::EMPTY;
            for &pool in pools {
                let (p, pool_no_access) = self.walk_privs(member, &self.pool_paths[pool as usize]);
                if pool_no_access {
                    // Pool NoAccess beats the member path's ordinary roles.
                    return Privs::default();
                }
                pool_granted = pool_granted.union(p.granted);
            }
            // Pool roles are never marked propagating; an already-present flag stays.
            privs.granted = privs.granted.union(pool_granted);
        }
        privs
    }

    /// Privileges from the deciding node, and whether NoAccess ended up in the role map.
    fn walk_privs(&self, member: Member, path: &str) -> (Privs, bool) {
        let Some(hit) = self.walk(member, path) else {
            return (Privs::default(), false);
        };
        let mut privs = Privs::default();
        let mut no_access = false;
        self.for_each_applicable(member, hit, |e| {
            let set = self.role_privs[e.role as usize];
            no_access |= e.role == self.no_access;
            privs.granted = privs.granted.union(set);
            if e.propagate {
                privs.propagate = privs.propagate.union(set);
            }
        });
        (privs, no_access)
    }

    /// Walk from `/` towards `path`; the last node with an applicable entry decides.
    ///
    /// Callers pass normalised paths; for others this walks as Proxmox's `roles()` does: an
    /// empty path visits no node, and a relative one starts below `/` without visiting it.
    fn walk(&self, member: Member, path: &str) -> Option<Hit> {
        if path.is_empty() {
            return None;
        }
        let mut comps = components(path);
        let mut node = 0u32;
        let mut hit = None;
        let mut skip_root = !path.starts_with('/');
        loop {
            let exact = comps.is_done();
            if std::mem::take(&mut skip_root) {
                // A relative path's first component is looked up without evaluating `/`.
            } else if let Some((kind, slot)) = self.applicable_kind(member, node, exact) {
                hit = Some(Hit {
                    node,
                    kind,
                    exact,
                    slot,
                });
            }
            let Some(comp) = comps.next() else { break };
            match self.nodes[node as usize].children.get(comp) {
                Some(&child) => node = child,
                None => break,
            }
        }
        hit
    }

    /// What applies to `member` at `node`, in Proxmox's order: token, else user, else groups.
    fn applicable_kind(
        &self,
        member: Member,
        node: u32,
        exact: bool,
    ) -> Option<(MatchKind, Option<Slot>)> {
        let n = &self.nodes[node as usize];
        let applies = |slot: &Slot| exact || slot.any_propagate;
        match member {
            Member::Token(t) => find(&n.tokens, t)
                .filter(applies)
                .map(|s| (MatchKind::Token, Some(s))),
            Member::User(u) => {
                if let Some(slot) = find(&n.users, u).filter(applies) {
                    return Some((MatchKind::User, Some(slot)));
                }
                let mut any = false;
                self.for_each_member_group(u, &n.groups, |s| any = any || applies(s));
                any.then_some((MatchKind::Groups, None))
            }
        }
    }

    /// Call `f` for every entry of `member` that applies at the deciding node.
    fn for_each_applicable(&self, member: Member, hit: Hit, mut f: impl FnMut(Entry)) {
        let mut emit = |slot: &Slot| {
            for e in &self.entries[slot.start as usize..slot.end as usize] {
                if hit.exact || e.propagate {
                    f(*e);
                }
            }
        };
        match (member, hit.slot) {
            (_, Some(slot)) => emit(&slot),
            (Member::User(u), None) => {
                self.for_each_member_group(u, &self.nodes[hit.node as usize].groups, |s| emit(s))
            }
            (Member::Token(_), None) => {}
        }
    }

    /// Call `f` with the slot of every group at a node that has user `u` as a member.
    ///
    /// Iterates the smaller side and binary-searches the other: a busy node such as `/vms` may
    /// hold entries for a thousand groups while a user is in two.
    fn for_each_member_group(&self, u: u32, slots: &[Slot], mut f: impl FnMut(&Slot)) {
        let groups = &self.user_groups[u as usize];
        if groups.is_empty() || slots.is_empty() {
            return;
        }
        if groups.len() <= slots.len() {
            for g in groups.iter() {
                if let Some(slot) = find(slots, *g) {
                    f(&slot);
                }
            }
        } else {
            for slot in slots {
                if groups.binary_search(&slot.member).is_ok() {
                    f(slot);
                }
            }
        }
    }

    /// The pools whose roles extend `path`, if it is exactly `/vms/<id>` or `/storage/<id>`.
    fn pools_of(&self, path: &str) -> Option<&[u32]> {
        if self.pool_paths.is_empty() || !path.starts_with('/') {
            return None;
        }
        let mut comps = components(path);
        let (kind, id) = (comps.next()?, comps.next()?);
        if comps.next().is_some() {
            return None;
        }
        match kind {
            "vms" => self.vm_pools.get(id).map(|p| &**p),
            "storage" => self.storage_pools.get(id).map(|p| &**p),
            _ => None,
        }
    }

    fn node_components(&self, mut node: u32) -> Vec<&str> {
        let mut out = Vec::new();
        while node != 0 {
            let n = &self.nodes[node as usize];
            out.push(&*n.name);
            node = n.parent;
        }
        out.reverse();
        out
    }

    fn node_path(&self, node: u32) -> String {
        let comps = self.node_components(node);
        if comps.is_empty() {
            return "/".to_owned();
        }
        comps.iter().flat_map(|c| ["/", c]).collect()
    }
}

/// The slot of `member` in a list sorted by member.
fn find(list: &[Slot], member: u32) -> Option<Slot> {
    list.binary_search_by_key(&member, |s| s.member)
        .ok()
        .map(|i| list[i])
}

// === impl Engine: build ===

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
            for (list, mut new) in [
                (&mut n.users, users),
                (&mut n.groups, groups),
                (&mut n.tokens, tokens),
            ] {
                new.sort_by_key(|s| s.member);
                *list = new;
            }
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
        self.engine
    }
}
