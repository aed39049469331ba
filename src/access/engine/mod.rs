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

use crate::access::NO_ACCESS;
use crate::access::PrivSet;
use crate::identity::Authid;

mod apply;
mod build;
mod cache;
mod listing;
mod slots;
mod walk;

use slots::Slots;

use walk::Member;

/// Granted privileges and, for each, whether it came from a propagating entry (spec §4.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privs {
    /// The privileges held.
    pub granted: PrivSet,
    /// The subset of `granted` whose flag is 1 ("(*)" in `pveum user permissions`).
    pub propagate: PrivSet,
}

/// An authid resolved against one engine: what privileges are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Default, Clone)]
pub struct Engine {
    /// Every userid mentioned anywhere (users, group members, ACL members) → index.
    users: FxHashMap<Box<str>, u32>,
    /// Index → userid, group id, full token id (for listing entries).
    user_names: Vec<Box<str>>,
    group_names: Vec<Box<str>>,
    token_names: Vec<Box<str>>,
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
    /// Pool index → the nodes its path visits (looked up once, at build).
    pool_chains: Vec<Option<walk::Chain>>,
    /// Recent answers of [`Engine::privs_of`]; empty in a clone, emptied by every change.
    privs_cache: cache::PrivsCache,
}

#[derive(Debug, Clone, Copy)]
struct TokenInfo {
    index: u32,
    privsep: bool,
    owner: Owner,
}

#[derive(Debug, Default, Clone)]
struct Node {
    name: Box<str>,
    parent: u32,
    children: FxHashMap<Box<str>, u32>,
    /// Entries per member, sorted by member.
    users: Slots,
    groups: Slots,
    tokens: Slots,
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

    /// Effective privileges of a resolved subject on `path` (answered from the engine's cache
    /// of recent answers when it holds this one).
    pub fn privs_of(&self, subject: Subject, path: &str) -> Privs {
        if matches!(subject, Subject::All | Subject::Nobody) {
            return self.privs_uncached(subject, path);
        }
        if let Some(privs) = self.privs_cache.get(subject, path) {
            return privs;
        }
        let privs = self.privs_uncached(subject, path);
        self.privs_cache.put(subject, path, privs);
        privs
    }

    /// [`Engine::privs_of`] computed by walking the tree, without the cache.
    pub fn privs_uncached(&self, subject: Subject, path: &str) -> Privs {
        match subject {
            Subject::All => Privs {
                granted: PrivSet::ALL,
                propagate: PrivSet::ALL,
            },
            Subject::Nobody => Privs::default(),
            Subject::User(u) => self.member_privs(Member::User(u), &self.resolve(path)),
            Subject::Token { token, owner } => {
                // The token and its owner walk the same nodes: look them up once.
                let path = self.resolve(path);
                let own = self.member_privs(Member::Token(token), &path);
                let owner = match owner {
                    Owner::All => return own,
                    Owner::Nobody => return Privs::default(),
                    Owner::User(u) => self.member_privs(Member::User(u), &path),
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
