//! [`AclEdit`]: the ACL entries of a `user.cfg` as a writer edits them — the compact table as
//! read, grouped by path, and the few paths the edit touched as ordered map nodes. At a million
//! entries this is what makes a CLI or API write cheap (docs/scale.md, "Writes"): no map node
//! per entry is built, an edit of one entry turns only its path into a map, and writing streams
//! the untouched paths from the table in the same canonical form as [`super::UserConfig::write`].

use std::borrow::Cow;
use std::sync::Arc;

use super::entries::{AclEntries, AclMap};
use super::write::{Member, write_acl_node, write_grants};
use super::{AclMember, AclNode, AclTable, Change};
use crate::identity::RoleId;
use crate::vocabulary::AclPath;

/// The ACL entries a writer edits: those read, plus the paths it changed.
#[derive(Clone, Default)]
pub struct AclEdit {
    /// The entries as read; shared, so a copy of the edit costs no copy of them.
    base: Arc<Base>,
    /// Every path the edit touched, whole, as it is now (an empty node: all entries gone).
    touched: AclMap,
}

/// The entries as read, indexed by path.
#[derive(Default)]
struct Base {
    table: AclTable,
    /// Grant indexes grouped by path, in the order read: path `p`'s are
    /// `by_path[starts[p]..starts[p + 1]]` (a later grant of the same entry wins).
    by_path: Vec<u32>,
    starts: Vec<u32>,
    /// Path indexes in tree order (the order [`AclPath`] sorts in, as the file is written).
    tree: Vec<u32>,
    /// Each role's rank in [`RoleId`] order (a member's roles are written in that order).
    role_rank: Vec<u32>,
}

// === impl AclEdit ===

impl AclEdit {
    /// The entries of `table` (as [`super::UserConfig::parse_split`] answers them), unedited.
    pub fn new(table: AclTable) -> AclEdit {
        let paths = table.paths.len();
        // Counting sort by path: stable, so the order read is kept within a path.
        let mut starts = vec![0u32; paths + 1];
        for g in &table.grants {
            starts[g.path as usize + 1] += 1;
        }
        for p in 0..paths {
            starts[p + 1] += starts[p];
        }
        let mut next = starts.clone();
        let mut by_path = vec![0u32; table.grants.len()];
        for (i, g) in table.grants.iter().enumerate() {
            let slot = &mut next[g.path as usize];
            by_path[*slot as usize] = i as u32;
            *slot += 1;
        }
        let mut tree: Vec<u32> = (0..paths as u32).collect();
        tree.sort_unstable_by(|&a, &b| table.paths[a as usize].cmp(&table.paths[b as usize]));
        let mut by_name: Vec<u32> = (0..table.roles.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| table.roles[a as usize].cmp(&table.roles[b as usize]));
        let mut role_rank = vec![0u32; table.roles.len()];
        for (rank, &r) in by_name.iter().enumerate() {
            role_rank[r as usize] = rank as u32;
        }
        AclEdit {
            base: Arc::new(Base {
                table,
                by_path,
                starts,
                tree,
                role_rank,
            }),
            touched: AclMap::new(),
        }
    }

    /// Every entry as [`super::UserConfig::acl`] holds them.
    pub fn to_map(&self) -> AclMap {
        let base = &self.base;
        let mut map: AclMap = (base.tree.iter())
            .map(|&p| (&base.table.paths[p as usize], p))
            .filter(|(path, _)| !self.touched.contains_key(*path))
            .map(|(path, p)| (path.clone(), base.node(p)))
            .filter(|(_, node)| !node.is_empty())
            .collect();
        for (path, node) in &self.touched {
            let mut node = node.clone();
            node.prune();
            if !node.is_empty() {
                map.insert(path.clone(), node);
            }
        }
        map
    }

    /// The entries at `path` now.
    fn node(&self, path: &AclPath) -> Cow<'_, AclNode> {
        match self.touched.get(path) {
            Some(node) => Cow::Borrowed(node),
            None => Cow::Owned(
                self.base
                    .find(path)
                    .map(|p| self.base.node(p))
                    .unwrap_or_default(),
            ),
        }
    }

    /// Write the `acl` lines, in tree order.
    pub(super) fn write(&self, out: &mut String) {
        let base = &self.base;
        // About what the file's acl lines took (one member and a role per ~30 bytes).
        out.reserve(base.table.grants.len() * 30);
        let mut touched = self.touched.iter().peekable();
        let mut scratch = Scratch::default();
        for &p in &base.tree {
            let path = &base.table.paths[p as usize];
            while let Some((t, node)) = touched.next_if(|(t, _)| *t < path) {
                write_acl_node(out, t.as_str(), node);
            }
            match touched.next_if(|(t, _)| *t == path) {
                Some((t, node)) => write_acl_node(out, t.as_str(), node),
                None => base.write_path(out, p, &mut scratch),
            }
        }
        for (t, node) in touched {
            write_acl_node(out, t.as_str(), node);
        }
    }

    /// The ACL changes made since the entries were read (see [`super::UserConfig::changes_to`]).
    pub(super) fn changes(&self, out: &mut Vec<Change>) {
        let mut old = AclMap::new();
        let mut new = AclMap::new();
        for (path, node) in &self.touched {
            if let Some(p) = self.base.find(path) {
                old.insert(path.clone(), self.base.node(p));
            }
            let mut node = node.clone();
            node.prune();
            new.insert(path.clone(), node);
        }
        super::diff::acl(&old, &new, out);
    }
}

impl AclEntries for AclEdit {
    fn node_mut(&mut self, path: &AclPath) -> &mut AclNode {
        let base = &self.base;
        self.touched
            .entry(path.clone())
            .or_insert_with(|| base.find(path).map(|p| base.node(p)).unwrap_or_default())
    }

    fn remove_path(&mut self, path: &AclPath) {
        self.touched.insert(path.clone(), AclNode::default());
    }

    fn remove_member(&mut self, member: &AclMember) {
        // Every index with that id (the parser interns by text, so there is one; cheap to be sure).
        let hit: Vec<bool> = self
            .base
            .table
            .members
            .iter()
            .map(|x| x == member)
            .collect();
        if hit.contains(&true) {
            self.touch_where(|g| hit[g.member as usize]);
        }
        for node in self.touched.values_mut() {
            node.remove_member(member);
        }
    }

    fn remove_role(&mut self, role: &RoleId) {
        let hit: Vec<bool> = self.base.table.roles.iter().map(|x| x == role).collect();
        if hit.contains(&true) {
            self.touch_where(|g| hit[g.role as usize]);
        }
        for node in self.touched.values_mut() {
            node.remove_role(role);
        }
    }

    fn prune(&mut self) {
        // Empty nodes stay: they say "every entry here is gone".
        for node in self.touched.values_mut() {
            node.prune();
        }
    }
}

impl AclEdit {
    /// Touch every path holding a grant that `hit` picks (one pass over the grants).
    fn touch_where(&mut self, hit: impl Fn(&super::Grant) -> bool) {
        let base = Arc::clone(&self.base);
        let mut seen = vec![false; base.table.paths.len()];
        for g in base.table.grants.iter().filter(|g| hit(g)) {
            if !std::mem::replace(&mut seen[g.path as usize], true) {
                self.node_mut(&base.table.paths[g.path as usize]);
            }
        }
    }
}

impl PartialEq for AclEdit {
    /// The same entries (however they are held).
    fn eq(&self, other: &Self) -> bool {
        if !Arc::ptr_eq(&self.base, &other.base) {
            return self.to_map() == other.to_map();
        }
        let same = |path: &AclPath| {
            let (mut a, mut b) = (self.node(path).into_owned(), other.node(path).into_owned());
            a.prune();
            b.prune();
            a == b
        };
        self.touched.keys().all(same) && other.touched.keys().all(same)
    }
}

impl Eq for AclEdit {}

impl std::fmt::Debug for AclEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclEdit")
            .field("read", &self.base.table.len())
            .field("touched", &self.touched)
            .finish()
    }
}

// === impl Base ===

impl Base {
    /// The index of `path`, if it was read.
    fn find(&self, path: &AclPath) -> Option<u32> {
        let paths = &self.table.paths;
        (self.tree)
            .binary_search_by(|&p| paths[p as usize].cmp(path))
            .ok()
            .map(|i| self.tree[i])
    }

    /// The grant indexes of path `p`, in the order read.
    fn grants(&self, p: u32) -> &[u32] {
        let (from, to) = (self.starts[p as usize], self.starts[p as usize + 1]);
        &self.by_path[from as usize..to as usize]
    }

    /// Path `p`'s entries as a map node (a later grant of an entry wins, as on load).
    fn node(&self, p: u32) -> AclNode {
        let mut node = AclNode::default();
        for &i in self.grants(p) {
            let g = &self.table.grants[i as usize];
            let roles = match &self.table.members[g.member as usize] {
                AclMember::User(u) => node.users.entry(u.clone()).or_default(),
                AclMember::Group(gr) => node.groups.entry(gr.clone()).or_default(),
                AclMember::Token(t) => node.tokens.entry(t.clone()).or_default(),
            };
            roles.insert(self.table.roles[g.role as usize].clone(), g.propagate);
        }
        node
    }

    /// Write path `p`'s lines straight from the table, as `write_acl_node` writes its node.
    fn write_path(&self, out: &mut String, p: u32, scratch: &mut Scratch) {
        let grants = self.grants(p);
        if grants.is_empty() {
            return;
        }
        // (member, role rank, position): sorted, the last of each (member, role) wins.
        let items = &mut scratch.items;
        items.clear();
        items.extend(grants.iter().enumerate().map(|(pos, &i)| {
            let g = &self.table.grants[i as usize];
            (g.member, self.role_rank[g.role as usize], pos as u32)
        }));
        items.sort_unstable();
        let mut members: Vec<(Member<'_>, (usize, usize))> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let member = items[i].0;
            let start = scratch.roles.len();
            while i < items.len() && items[i].0 == member {
                let rank = items[i].1;
                while i + 1 < items.len() && items[i + 1].0 == member && items[i + 1].1 == rank {
                    i += 1;
                }
                let g = &self.table.grants[grants[items[i].2 as usize] as usize];
                scratch.roles.push((g.role, g.propagate));
                i += 1;
            }
            let shown = match &self.table.members[member as usize] {
                AclMember::User(u) if u.is_root() => None,
                AclMember::User(u) => Some(Member("", u.as_str())),
                AclMember::Group(g) => Some(Member("@", g.as_str())),
                AclMember::Token(t) => Some(Member("", t.as_str())),
            };
            if let Some(shown) = shown {
                members.push((shown, (start, scratch.roles.len())));
            }
        }
        let path = self.table.paths[p as usize].as_str();
        let roles = &self.table.roles;
        write_grants(out, path, &members, |(from, to)| {
            scratch.roles[from..to]
                .iter()
                .map(|&(r, propagate)| (roles[r as usize].as_str(), propagate))
        });
        scratch.roles.clear();
    }
}

/// Buffers reused from path to path while writing.
#[derive(Default)]
struct Scratch {
    items: Vec<(u32, u32, u32)>,
    /// (role index, propagate) of the members of one path, in role order per member.
    roles: Vec<(u32, bool)>,
}
