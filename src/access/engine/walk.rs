//! The ACL walk (spec §4.3–§4.6): from `/` to the path, remembering the deepest node where the
//! subject has an applicable entry, then turning that node's entries into privileges.

use super::{Engine, Entry, MatchKind, Privs, Slot, Slots, Subject};
use crate::access::PrivSet;
use crate::access::components;
use crate::identity::Userid;

/// Whose entries to look at: a user (with its groups) or a token (own entries only).
#[derive(Debug, Clone, Copy)]
pub(super) enum Member {
    User(u32),
    Token(u32),
}

/// The nodes a walk visits for one path, looked up once and then evaluated for each member
/// (a privsep token and its owner, and every pool path, share them).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Chain {
    nodes: [u32; CHAIN_MAX],
    len: u8,
    /// Whether the last node is the path's final component (every component was found).
    complete: bool,
    /// A relative path: `/` is visited but not evaluated.
    skip_root: bool,
}

/// The deepest chain kept inline; a path whose existing nodes go deeper is walked directly.
const CHAIN_MAX: usize = 15;

/// A path with its chain of nodes, if that fits in a [`Chain`], and the pools whose roles
/// extend it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resolved<'p> {
    pub(super) path: &'p str,
    chain: Option<Chain>,
    pools: Option<&'p [u32]>,
}

/// The deciding node of a walk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    pub(super) node: u32,
    pub(super) kind: MatchKind,
    pub(super) exact: bool,
    /// The user's or token's own slot (group slots are collected again from the node).
    pub(super) slot: Option<Slot>,
}

impl Engine {
    pub(super) fn user_subject(&self, userid: &str) -> Subject {
        if userid == Userid::ROOT {
            return Subject::All;
        }
        match self.users.get(userid) {
            Some(&u) => Subject::User(u),
            None => Subject::Nobody,
        }
    }

    /// Look up the nodes `path` visits, for one or more walks.
    pub(super) fn resolve<'p>(&'p self, path: &'p str) -> Resolved<'p> {
        Resolved {
            path,
            chain: self.chain(path),
            pools: self.pools_of(path),
        }
    }

    /// Privileges of one member on `path`, including pool roles (spec §4.4–§4.6).
    pub(super) fn member_privs(&self, member: Member, path: &Resolved<'_>) -> Privs {
        let (mut privs, no_access) = self.walk_privs(member, path);
        if no_access {
            return Privs::default();
        }
        if let Some(pools) = path.pools {
            let mut pool_granted = PrivSet::EMPTY;
            for &pool in pools {
                // A pool path (`/pool/<id>`) is never itself extended by pools.
                let pool_path = Resolved {
                    path: &self.pool_paths[pool as usize],
                    chain: self.pool_chains[pool as usize],
                    pools: None,
                };
                let (p, pool_no_access) = self.walk_privs(member, &pool_path);
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
    pub(super) fn walk_privs(&self, member: Member, path: &Resolved<'_>) -> (Privs, bool) {
        let Some(hit) = self.walk_resolved(member, path) else {
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

    /// [`Engine::walk`] over nodes already looked up.
    pub(super) fn walk_resolved(&self, member: Member, path: &Resolved<'_>) -> Option<Hit> {
        let Some(chain) = &path.chain else {
            return self.walk(member, path.path);
        };
        let len = usize::from(chain.len);
        let mut hit = None;
        for (i, &node) in chain.nodes[..len].iter().enumerate() {
            if i == 0 && chain.skip_root {
                continue;
            }
            let exact = chain.complete && i + 1 == len;
            if let Some((kind, slot)) = self.applicable_kind(member, node, exact) {
                hit = Some(Hit {
                    node,
                    kind,
                    exact,
                    slot,
                });
            }
        }
        hit
    }

    /// The nodes [`Engine::walk`] visits for `path`, in order; `None` if more than fit.
    pub(super) fn chain(&self, path: &str) -> Option<Chain> {
        let mut chain = Chain {
            skip_root: !path.starts_with('/'),
            ..Chain::default()
        };
        if path.is_empty() {
            return Some(chain);
        }
        let mut comps = components(path);
        let mut next = comps.next();
        let mut node = 0u32;
        loop {
            *chain.nodes.get_mut(usize::from(chain.len))? = node;
            chain.len += 1;
            let Some(comp) = next else {
                chain.complete = true;
                return Some(chain);
            };
            next = comps.next();
            match self.nodes[node as usize].children.get(comp) {
                Some(&child) => node = child,
                None => return Some(chain),
            }
        }
    }

    /// Walk from `/` towards `path`; the last node with an applicable entry decides.
    ///
    /// Callers pass normalised paths; for others this walks as Proxmox's `roles()` does: an
    /// empty path visits no node, and a relative one starts below `/` without visiting it.
    pub(super) fn walk(&self, member: Member, path: &str) -> Option<Hit> {
        if path.is_empty() {
            return None;
        }
        let mut comps = components(path);
        // One component of look-ahead tells whether the current node is the final one.
        let mut next = comps.next();
        let mut node = 0u32;
        let mut hit = None;
        let mut skip_root = !path.starts_with('/');
        loop {
            let exact = next.is_none();
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
            let Some(comp) = next else { break };
            next = comps.next();
            match self.nodes[node as usize].children.get(comp) {
                Some(&child) => node = child,
                None => break,
            }
        }
        hit
    }

    /// What applies to `member` at `node`, in Proxmox's order: token, else user, else groups.
    pub(super) fn applicable_kind(
        &self,
        member: Member,
        node: u32,
        exact: bool,
    ) -> Option<(MatchKind, Option<Slot>)> {
        let n = &self.nodes[node as usize];
        let applies = |slot: &Slot| exact || slot.any_propagate;
        match member {
            Member::Token(t) => n
                .tokens
                .find(t)
                .filter(applies)
                .map(|s| (MatchKind::Token, Some(s))),
            Member::User(u) => {
                if let Some(slot) = n.users.find(u).filter(applies) {
                    return Some((MatchKind::User, Some(slot)));
                }
                let mut any = false;
                self.for_each_member_group(u, &n.groups, |s| any = any || applies(s));
                any.then_some((MatchKind::Groups, None))
            }
        }
    }

    /// Call `f` for every entry of `member` that applies at the deciding node.
    pub(super) fn for_each_applicable(&self, member: Member, hit: Hit, mut f: impl FnMut(Entry)) {
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
    pub(super) fn for_each_member_group(&self, u: u32, slots: &Slots, mut f: impl FnMut(&Slot)) {
        let groups = &self.user_groups[u as usize];
        if groups.is_empty() || slots.is_empty() {
            return;
        }
        if groups.len() <= slots.len() {
            for g in groups.iter() {
                if let Some(slot) = slots.find(*g) {
                    f(&slot);
                }
            }
        } else {
            slots.for_each(|slot| {
                if groups.binary_search(&slot.member).is_ok() {
                    f(slot);
                }
            });
        }
    }

    /// The pools whose roles extend `path`, if it is exactly `/vms/<id>` or `/storage/<id>`.
    pub(super) fn pools_of(&self, path: &str) -> Option<&[u32]> {
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

    pub(super) fn node_components(&self, mut node: u32) -> Vec<&str> {
        let mut out = Vec::new();
        while node != 0 {
            let n = &self.nodes[node as usize];
            out.push(&*n.name);
            node = n.parent;
        }
        out.reverse();
        out
    }

    pub(super) fn node_path(&self, node: u32) -> String {
        let comps = self.node_components(node);
        if comps.is_empty() {
            return "/".to_owned();
        }
        comps.iter().flat_map(|c| ["/", c]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;
    use crate::identity::Authid;

    /// The walk over looked-up nodes finds the same deciding node as the direct walk, for
    /// normalised, relative, empty, missing and deeper-than-inline paths.
    #[test]
    fn resolved_walk_matches_direct_walk() {
        let deep: String = (0..20).map(|i| format!("/d{i}")).collect();
        let (cfg, warnings) = UserConfig::parse(&format!(
            "user:joe@pve:1:0:::::\n\
             token:joe@pve!tk:0:1::\n\
             group:ops:joe@pve::\n\
             acl:1:/:joe@pve:PVEAuditor:\n\
             acl:0:/vms:@ops:PVEVMUser:\n\
             acl:1:/vms/100:joe@pve!tk:PVEVMAdmin:\n\
             acl:0:/vms/100:joe@pve:NoAccess:\n\
             acl:1:/storage/s1:@ops:PVEDatastoreUser:\n\
             acl:1:{deep}:joe@pve:PVEVMAdmin:\n\
             acl:0:{deep}/x:joe@pve!tk:PVEAuditor:\n"
        ));
        assert!(warnings.is_empty(), "{warnings:?}");
        let engine = Engine::build(&cfg);
        let members: Vec<Member> = ["joe@pve", "joe@pve!tk"]
            .iter()
            .map(|a| match engine.subject(&a.parse::<Authid>().unwrap()) {
                crate::access::engine::Subject::User(u) => Member::User(u),
                crate::access::engine::Subject::Token { token, .. } => Member::Token(token),
                other => panic!("{a}: {other:?}"),
            })
            .collect();
        let key =
            |h: Option<Hit>| h.map(|h| (h.node, h.kind, h.exact, h.slot.map(|s| (s.start, s.end))));
        let paths = [
            "",
            "/",
            "vms",
            "vms/100",
            "/vms",
            "/vms/100",
            "/vms/100/x",
            "/vms/200",
            "/storage",
            "/storage/s1",
            "/nope/deeper",
            "//vms//100/",
            &deep,
            &format!("{deep}/x"),
            &format!("{deep}/x/y"),
            &deep[1..],
        ];
        for path in paths {
            let resolved = engine.resolve(path);
            for &member in &members {
                assert_eq!(
                    key(engine.walk_resolved(member, &resolved)),
                    key(engine.walk(member, path)),
                    "{member:?} on {path:?}"
                );
            }
        }
        assert!(engine.chain(&deep).is_none(), "deeper than a chain holds");
        assert!(engine.chain("/vms/100").is_some());
    }
}
