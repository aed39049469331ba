//! [`Engine::apply`]: one [`Change`] applied to a compiled engine, touching only what it names —
//! a token, a user's groups, a role's privileges, one member's entries at one node — instead of
//! compiling a million entries again. The result decides exactly as an engine compiled from
//! the changed configuration would (tests/incremental_changes.rs checks this on random states).
//!
//! Entries are stored in ranges of one flat vector; an edited member's entries are written
//! anew at its end and the old range is left unused (a few bytes per change, given back by the
//! next full load).

use super::slots::Slots;
use super::{Engine, Entry, Owner, Slot, TokenInfo};
use crate::config::user_cfg::{AclMember, Change};
use crate::identity::{Tokenid, Userid};

impl Engine {
    /// Apply `change`, which the caller has checked against the configuration it edits
    /// ([`crate::config::UserConfig::apply`] does); an ACL entry of an undefined token or
    /// role is ignored, as a full build ignores it.
    pub fn apply(&mut self, change: &Change) {
        self.privs_cache.clear();
        match change {
            // Whether an account may authenticate is the auth index's business; the engine
            // only needs to know the user (for group memberships and entries).
            Change::UserSet { id, .. } => {
                self.intern_user(id);
            }
            Change::UserRemove(id) => {
                if let Some(&u) = self.users.get(id.as_str()) {
                    self.user_groups[u as usize] = Box::default();
                    // Its tokens go; their entries can then never match.
                    self.tokens
                        .retain(|_, t| !matches!(t.owner, Owner::User(o) if o == u));
                }
                if id.is_root() {
                    self.tokens.retain(|_, t| t.owner != Owner::All);
                }
            }
            Change::TokenSet { id, privsep, .. } => self.set_token(id, *privsep),
            Change::TokenRemove(id) => {
                // A token made again later gets a new index, so no old entry revives.
                self.tokens.remove(id.as_str());
            }
            Change::GroupMember {
                group,
                user,
                member,
            } => {
                let g = self.intern_group(group.as_str());
                let u = self.intern_user(user);
                let mut groups = self.user_groups[u as usize].to_vec();
                match (groups.binary_search(&g), member) {
                    (Err(at), true) => groups.insert(at, g),
                    (Ok(at), false) => {
                        groups.remove(at);
                    }
                    _ => {}
                }
                self.user_groups[u as usize] = groups.into_boxed_slice();
            }
            Change::RoleSet { id, privs } => match self.role(id.as_str()) {
                Some(r) => self.role_privs[r as usize] = *privs,
                None => {
                    self.role_names.push(id.as_str().into());
                    self.role_privs.push(*privs);
                }
            },
            Change::Acl {
                path,
                member,
                role,
                propagate,
            } => {
                let Some(role) = self.role(role.as_str()) else {
                    return;
                };
                let (kind, m) = match member {
                    AclMember::User(u) => (0, self.intern_user(u)),
                    AclMember::Group(g) => (1, self.intern_group(g.as_str())),
                    AclMember::Token(t) => match self.tokens.get(t.as_str()) {
                        Some(info) => (2, info.index),
                        None => return,
                    },
                };
                let nodes_before = self.nodes.len();
                let node = self.intern_node(path.components());
                self.set_entry(node, kind, m, role, *propagate);
                if self.nodes.len() != nodes_before {
                    // A new node may lie on a pool's path.
                    let chains = self.pool_paths.iter().map(|p| self.chain(p)).collect();
                    self.pool_chains = chains;
                }
            }
        }
    }

    fn set_token(&mut self, id: &Tokenid, privsep: bool) {
        if let Some(info) = self.tokens.get_mut(id.as_str()) {
            info.privsep = privsep;
            return;
        }
        let owner_id = id.user();
        let owner = if owner_id.is_root() {
            Owner::All
        } else {
            Owner::User(self.intern_user(&owner_id))
        };
        let index = self.token_names.len() as u32;
        self.token_names.push(id.as_str().into());
        self.tokens.insert(
            id.as_str().into(),
            TokenInfo {
                index,
                privsep,
                owner,
            },
        );
    }

    /// Set (`Some`) or delete (`None`) role `role` of member `m` (of `kind`) at `node`.
    fn set_entry(&mut self, node: u32, kind: u8, m: u32, role: u32, propagate: Option<bool>) {
        let n = &mut self.nodes[node as usize];
        let slots = match kind {
            0 => &mut n.users,
            1 => &mut n.groups,
            _ => &mut n.tokens,
        };
        let mut entries: Vec<Entry> = slots
            .find(m)
            .map(|s| self.entries[s.start as usize..s.end as usize].to_vec())
            .unwrap_or_default();
        entries.retain(|e| e.role != role);
        if let Some(propagate) = propagate {
            entries.push(Entry { role, propagate });
        }
        let mut list = Vec::with_capacity(slots.len() + 1);
        slots.for_each(|s| {
            if s.member != m {
                list.push(*s);
            }
        });
        if !entries.is_empty() {
            let start = self.entries.len() as u32;
            let any_propagate = entries.iter().any(|e| e.propagate);
            self.entries.extend(entries);
            list.push(Slot {
                member: m,
                start,
                end: self.entries.len() as u32,
                any_propagate,
            });
        }
        *slots = Slots::new(list);
    }

    fn role(&self, name: &str) -> Option<u32> {
        self.role_names
            .iter()
            .position(|r| &**r == name)
            .map(|r| r as u32)
    }

    fn intern_user(&mut self, id: &Userid) -> u32 {
        if let Some(&u) = self.users.get(id.as_str()) {
            return u;
        }
        let u = self.user_names.len() as u32;
        self.users.insert(id.as_str().into(), u);
        self.user_names.push(id.as_str().into());
        self.user_groups.push(Box::default());
        u
    }

    fn intern_group(&mut self, id: &str) -> u32 {
        if let Some(g) = self.group_names.iter().position(|g| &**g == id) {
            return g as u32;
        }
        self.group_names.push(id.into());
        self.group_names.len() as u32 - 1
    }

    /// The node for a path, creating it and its ancestors.
    pub(super) fn intern_node<'a>(&mut self, comps: impl Iterator<Item = &'a str>) -> u32 {
        let mut node = 0u32;
        for comp in comps {
            let next = self.nodes.len() as u32;
            let child = *self.nodes[node as usize]
                .children
                .entry(comp.into())
                .or_insert(next);
            if child == next {
                self.nodes.push(super::Node {
                    name: comp.into(),
                    parent: node,
                    ..super::Node::default()
                });
            }
            node = child;
        }
        node
    }
}
