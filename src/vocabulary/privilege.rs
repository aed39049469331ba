//! The 47 Proxmox VE privileges (spec §3.1) as a compact bitset.
//!
//! A [`PrivSet`] is one `u64`; union, intersection and membership are single instructions, which
//! is what lets the engine answer a permission question without allocating.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// An unknown privilege name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown privilege '{0}'")]
pub struct UnknownPrivilege(pub String);

/// One privilege, by its index in [`Privilege::NAMES`] (sorted, so bit order is name order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Privilege(u8);

/// A set of privileges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PrivSet(u64);

// === impl Privilege ===

impl Privilege {
    /// Every privilege name of this release, sorted (Perl `sort` order = byte order).
    pub const NAMES: [&'static str; 47] = [
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.AllocateTemplate",
        "Datastore.Audit",
        "Group.Allocate",
        "Mapping.Audit",
        "Mapping.Modify",
        "Mapping.Use",
        "Permissions.Modify",
        "Pool.Allocate",
        "Pool.Audit",
        "Realm.Allocate",
        "Realm.AllocateUser",
        "SDN.Allocate",
        "SDN.Audit",
        "SDN.Use",
        "Sys.AccessNetwork",
        "Sys.Audit",
        "Sys.Console",
        "Sys.Incoming",
        "Sys.Modify",
        "Sys.PowerMgmt",
        "Sys.Syslog",
        "User.Modify",
        "VM.Allocate",
        "VM.Audit",
        "VM.Backup",
        "VM.Clone",
        "VM.Config.CDROM",
        "VM.Config.CPU",
        "VM.Config.Cloudinit",
        "VM.Config.Disk",
        "VM.Config.HWType",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.Options",
        "VM.Console",
        "VM.GuestAgent.Audit",
        "VM.GuestAgent.FileRead",
        "VM.GuestAgent.FileSystemMgmt",
        "VM.GuestAgent.FileWrite",
        "VM.GuestAgent.Unrestricted",
        "VM.Migrate",
        "VM.PowerMgmt",
        "VM.Replicate",
        "VM.Snapshot",
        "VM.Snapshot.Rollback",
    ];

    /// The privilege's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[usize::from(self.0)]
    }

    /// Every privilege, in name order.
    pub fn all() -> impl Iterator<Item = Privilege> {
        (0..Self::NAMES.len() as u8).map(Privilege)
    }

    fn bit(self) -> u64 {
        1 << self.0
    }
}

impl FromStr for Privilege {
    type Err = UnknownPrivilege;
    fn from_str(s: &str) -> Result<Self, UnknownPrivilege> {
        Self::NAMES
            .binary_search(&s)
            .map(|i| Privilege(i as u8))
            .map_err(|_| UnknownPrivilege(s.to_owned()))
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === impl PrivSet ===

impl PrivSet {
    /// No privileges.
    pub const EMPTY: PrivSet = PrivSet(0);
    /// All 47 privileges.
    pub const ALL: PrivSet = PrivSet((1 << Privilege::NAMES.len()) - 1);

    /// Parse a list of names; unknown names are returned as the error.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnknownPrivilege> {
        names
            .into_iter()
            .try_fold(PrivSet::EMPTY, |set, n| Ok(set.with(n.parse()?)))
    }

    /// This set plus `p`.
    #[must_use]
    pub fn with(self, p: Privilege) -> Self {
        PrivSet(self.0 | p.bit())
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every privilege of `other` is in this set.
    pub fn contains_all(self, other: PrivSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any privilege of `other` is in this set.
    pub fn intersects(self, other: PrivSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of privileges.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Set union.
    #[must_use]
    pub fn union(self, other: PrivSet) -> Self {
        PrivSet(self.0 | other.0)
    }

    /// Set intersection.
    #[must_use]
    pub fn intersection(self, other: PrivSet) -> Self {
        PrivSet(self.0 & other.0)
    }

    /// Privileges in this set but not in `other`.
    #[must_use]
    pub fn difference(self, other: PrivSet) -> Self {
        PrivSet(self.0 & !other.0)
    }

    /// The privileges, in name order.
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::all().filter(move |p| self.contains(*p))
    }

    /// The first privilege of `wanted` that this set lacks, in name order.
    pub fn first_missing(self, wanted: PrivSet) -> Option<Privilege> {
        wanted.difference(self).iter().next()
    }

    /// The privileges whose names start with `prefix` (e.g. `"VM."`).
    pub fn with_prefix(prefix: &str) -> Self {
        Privilege::all()
            .filter(|p| p.name().starts_with(prefix))
            .fold(PrivSet::EMPTY, PrivSet::with)
    }
}

impl FromIterator<Privilege> for PrivSet {
    fn from_iter<I: IntoIterator<Item = Privilege>>(iter: I) -> Self {
        iter.into_iter().fold(PrivSet::EMPTY, PrivSet::with)
    }
}

impl fmt::Display for PrivSet {
    /// Comma-joined names, sorted, as user.cfg writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_and_unique() {
        assert!(Privilege::NAMES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(PrivSet::ALL.len(), 47);
        assert_eq!(PrivSet::with_prefix("VM.").len(), 23);
        assert_eq!(PrivSet::with_prefix("Sys.").len(), 7);
    }

    #[test]
    fn parse_and_display() {
        let s = PrivSet::from_names(["VM.Audit", "Sys.Audit"]).unwrap();
        assert_eq!(s.to_string(), "Sys.Audit,VM.Audit");
        assert!("vm.audit".parse::<Privilege>().is_err());
        assert!("VM.Monitor".parse::<Privilege>().is_err());
        let audit = "VM.Audit".parse::<Privilege>().unwrap();
        assert_eq!(
            PrivSet::EMPTY.first_missing(s).map(|p| p.name()),
            Some("Sys.Audit")
        );
        assert!(s.contains(audit));
    }
}
