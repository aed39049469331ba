//! [`AclTable`]: the ACL lines of a `user.cfg` in compact, interned form — each distinct path,
//! member and role stored once, each grant four words. The parser writes it in one pass; the
//! permission engine is compiled from it directly, and [`UserConfig`]'s ordered maps are filled
//! from it only where a caller edits or lists entries (the CLI, the access API's writes).
//!
//! At 1M entries this is what keeps the gateway small and the load fast: no string and no map
//! node per entry, and one sort at the end instead of a B-tree insert per line (docs/scale.md).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::{AclNode, UserConfig};
use crate::identity::{GroupId, RoleId, Tokenid, Userid};
use crate::vocabulary::AclPath;

/// A member of an ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AclMember {
    /// `user@realm`.
    User(Userid),
    /// `@group` (stored without the `@`).
    Group(GroupId),
    /// `user@realm!token`.
    Token(Tokenid),
}

/// One granted role: indexes into the table's paths, members and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Index into [`AclTable::paths`].
    pub path: u32,
    /// Index into [`AclTable::members`].
    pub member: u32,
    /// Index into [`AclTable::roles`].
    pub role: u32,
    /// The entry's propagate flag.
    pub propagate: bool,
}

/// ACL entries with their paths, members and roles interned.
#[derive(Debug, Clone, Default)]
pub struct AclTable {
    /// Distinct normalised paths.
    pub paths: Vec<AclPath>,
    /// Distinct members.
    pub members: Vec<AclMember>,
    /// Distinct role ids.
    pub roles: Vec<RoleId>,
    /// Grants in the order they were read; a later grant of the same (path, member, role)
    /// replaces an earlier one's propagate flag, as a map insert would.
    pub grants: Vec<Grant>,
}

/// Whether a list member's text can be written into a `,`-joined list and read back as itself.
/// Unlike Proxmox, the reader skips a member that cannot: a NUL-separated list (Proxmox's
/// `split_list` splits on NUL alone) can hold `x@pve,sue@pve`, one valid userid that the writer
/// would turn into two users (tests/fuzz_regressions.rs).
pub(super) fn list_safe(member: &str) -> bool {
    !member.contains([',', ';'])
}

/// Interns values of one kind into a `Vec`, by their text.
#[derive(Debug, Default)]
pub(super) struct Interner {
    index: FxHashMap<Box<str>, u32>,
}

// === impl AclTable ===

impl AclTable {
    /// Unlike Proxmox, which keeps and writes them: drop the grants of tokens undefined at the
    /// end of the file. A later `user:` line replaces a user with its tokens, after `acl:` lines
    /// for them were read; the next read of the written file would drop them, and a token created
    /// again under that id must not inherit them (tests/fuzz_regressions.rs).
    pub(super) fn drop_undefined_token_grants(&mut self, cfg: &UserConfig) {
        let undefined: Vec<bool> = (self.members.iter())
            .map(|m| matches!(m, AclMember::Token(t) if cfg.token(t).is_none()))
            .collect();
        if undefined.contains(&true) {
            self.grants.retain(|g| !undefined[g.member as usize]);
        }
    }

    /// The table of a config's `acl` map (for configs built or edited in memory).
    pub fn from_config(cfg: &UserConfig) -> AclTable {
        let mut table = AclTable::default();
        // One interner per member kind: their texts could otherwise collide.
        let mut members: [Interner; 3] = Default::default();
        let mut roles = Interner::default();
        for (path, node) in &cfg.acl {
            let p = table.paths.len() as u32;
            table.paths.push(path.clone());
            let kinds = [
                node.users
                    .iter()
                    .map(|(u, r)| (AclMember::User(u.clone()), r))
                    .collect::<Vec<_>>(),
                node.groups
                    .iter()
                    .map(|(g, r)| (AclMember::Group(g.clone()), r))
                    .collect(),
                node.tokens
                    .iter()
                    .map(|(t, r)| (AclMember::Token(t.clone()), r))
                    .collect(),
            ];
            for (member, role_map) in kinds.into_iter().flatten() {
                let (kind, key) = member.key();
                let m = members[kind].intern(&mut table.members, key, || member.clone());
                for (role, &propagate) in role_map {
                    let r = roles.intern(&mut table.roles, role.as_str(), || role.clone());
                    table.grants.push(Grant {
                        path: p,
                        member: m,
                        role: r,
                        propagate,
                    });
                }
            }
        }
        table
    }

    /// The entries as [`UserConfig::acl`] holds them: one node per path with entries.
    pub fn to_nodes(&self) -> BTreeMap<AclPath, AclNode> {
        let mut nodes: Vec<Option<AclNode>> = vec![None; self.paths.len()];
        for g in &self.grants {
            let node = nodes[g.path as usize].get_or_insert_with(AclNode::default);
            let roles = match &self.members[g.member as usize] {
                AclMember::User(u) => node.users.entry(u.clone()).or_default(),
                AclMember::Group(gr) => node.groups.entry(gr.clone()).or_default(),
                AclMember::Token(t) => node.tokens.entry(t.clone()).or_default(),
            };
            roles.insert(self.roles[g.role as usize].clone(), g.propagate);
        }
        self.paths
            .iter()
            .zip(nodes)
            .filter_map(|(path, node)| Some((path.clone(), node?)))
            .collect()
    }

    /// Number of grants (ACL entries, counting a repeated one each time it was read).
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether the table holds no grant.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

// === impl AclMember ===

impl AclMember {
    /// The member's kind (0 user, 1 group, 2 token) and id text.
    fn key(&self) -> (usize, &str) {
        match self {
            AclMember::User(u) => (0, u.as_str()),
            AclMember::Group(g) => (1, g.as_str()),
            AclMember::Token(t) => (2, t.as_str()),
        }
    }
}

// === impl Interner ===

impl Interner {
    /// The index of `key` in `values`, pushing `make()` first if it is new.
    pub(super) fn intern<T>(
        &mut self,
        values: &mut Vec<T>,
        key: &str,
        make: impl FnOnce() -> T,
    ) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = values.len() as u32;
        values.push(make());
        self.index.insert(key.into(), i);
        i
    }
}
