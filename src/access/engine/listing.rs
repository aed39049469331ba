//! The engine's entries read back as [`AclNode`]s: what `GET /access/acl` lists. The gateway's
//! snapshot keeps its ACL entries only in the engine, so the listing is rebuilt from there (at
//! a request's cost, not a reload's).

use std::collections::BTreeMap;

use super::Engine;
use super::slots::Slots;
use crate::access::AclPath;
use crate::config::user_cfg::AclNode;
use crate::identity::RoleId;

impl Engine {
    /// Every ACL entry by path, as [`crate::config::UserConfig::acl`] would hold it (entries of
    /// tokens that no longer exist, which can never match, are not kept by the engine).
    pub fn acl_nodes(&self) -> BTreeMap<AclPath, AclNode> {
        let mut out = BTreeMap::new();
        for n in 0..self.nodes.len() {
            let acl = self.node_acl(n);
            if acl.is_empty() {
                continue;
            }
            if let Some(path) = AclPath::normalize(&self.node_path(n as u32)) {
                out.insert(path, acl);
            }
        }
        out
    }

    /// The entries at exactly `path` (normalised), without listing every other node: what the
    /// web interface's "why" asks for one deciding node.
    pub fn acl_node(&self, path: &str) -> AclNode {
        let mut node = 0u32;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            match self.nodes[node as usize].children.get(comp) {
                Some(&child) => node = child,
                None => return AclNode::default(),
            }
        }
        self.node_acl(node as usize)
    }

    /// The entries of node `n`, as [`AclNode`].
    fn node_acl(&self, n: usize) -> AclNode {
        let node = &self.nodes[n];
        let mut acl = AclNode::default();
        self.read_slots(&node.users, &self.user_names, |_, id, roles| {
            if let Ok(u) = id.parse() {
                acl.users.insert(u, roles);
            }
        });
        self.read_slots(&node.groups, &self.group_names, |_, id, roles| {
            if let Ok(g) = id.parse() {
                acl.groups.insert(g, roles);
            }
        });
        self.read_slots(&node.tokens, &self.token_names, |index, id, roles| {
            // A removed token's entries stay behind in an applied engine; skip them.
            if self.tokens.get(id).is_some_and(|t| t.index == index)
                && let Ok(t) = id.parse()
            {
                acl.tokens.insert(t, roles);
            }
        });
        acl
    }

    /// Call `f` with each member's index, id text and role map.
    fn read_slots(
        &self,
        slots: &Slots,
        names: &[Box<str>],
        mut f: impl FnMut(u32, &str, BTreeMap<RoleId, bool>),
    ) {
        slots.for_each(|slot| {
            let roles = self.entries[slot.start as usize..slot.end as usize]
                .iter()
                .filter_map(|e| {
                    let role = self.role_names[e.role as usize].parse().ok()?;
                    Some((role, e.propagate))
                })
                .collect();
            f(slot.member, &names[slot.member as usize], roles);
        });
    }
}
