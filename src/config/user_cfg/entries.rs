//! [`AclEntries`]: the edits the writers make to ACL entries, on either model of them — the
//! ordered map a parsed [`super::UserConfig`] holds ([`AclMap`]) and the compact entries a
//! writer edits in place of a million-entry map ([`super::AclEdit`]). The manage functions are
//! written once against this trait.

use std::collections::BTreeMap;

use super::{AclMember, AclNode};
use crate::identity::RoleId;
use crate::vocabulary::AclPath;

/// ACL entries by normalised path, in tree order: [`super::UserConfig::acl`] as parsed.
pub type AclMap = BTreeMap<AclPath, AclNode>;

/// The edits a writer makes to ACL entries.
pub trait AclEntries {
    /// The entries at `path`, to edit (an empty node if there are none). Members left without
    /// roles and a node left empty are dropped by [`AclEntries::prune`] (or not written).
    fn node_mut(&mut self, path: &AclPath) -> &mut AclNode;

    /// Drop every entry at `path`.
    fn remove_path(&mut self, path: &AclPath);

    /// Drop every entry of `member`, at every path.
    fn remove_member(&mut self, member: &AclMember);

    /// Drop every entry granting `role`, at every path.
    fn remove_role(&mut self, role: &RoleId);

    /// Forget members without roles and paths without entries.
    fn prune(&mut self);
}

// === impl AclMap ===

impl AclEntries for AclMap {
    fn node_mut(&mut self, path: &AclPath) -> &mut AclNode {
        self.entry(path.clone()).or_default()
    }

    fn remove_path(&mut self, path: &AclPath) {
        self.remove(path);
    }

    fn remove_member(&mut self, member: &AclMember) {
        for node in self.values_mut() {
            node.remove_member(member);
        }
        self.retain(|_, node| !node.is_empty());
    }

    fn remove_role(&mut self, role: &RoleId) {
        for node in self.values_mut() {
            node.remove_role(role);
        }
        self.retain(|_, node| !node.is_empty());
    }

    fn prune(&mut self) {
        for node in self.values_mut() {
            node.prune();
        }
        self.retain(|_, node| !node.is_empty());
    }
}

// === impl AclNode ===

impl AclNode {
    /// Drop `member`'s entries here.
    pub(super) fn remove_member(&mut self, member: &AclMember) {
        match member {
            AclMember::User(u) => self.users.remove(u),
            AclMember::Group(g) => self.groups.remove(g),
            AclMember::Token(t) => self.tokens.remove(t),
        };
    }

    /// Drop the entries granting `role` here, and the members left without roles.
    pub(super) fn remove_role(&mut self, role: &RoleId) {
        for roles in self.users.values_mut() {
            roles.remove(role);
        }
        for roles in self.groups.values_mut() {
            roles.remove(role);
        }
        for roles in self.tokens.values_mut() {
            roles.remove(role);
        }
        self.prune();
    }

    /// Forget members without roles.
    pub(super) fn prune(&mut self) {
        self.users.retain(|_, r| !r.is_empty());
        self.groups.retain(|_, r| !r.is_empty());
        self.tokens.retain(|_, r| !r.is_empty());
    }
}
