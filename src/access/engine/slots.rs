//! The entries of one node, indexed by member: a sorted slice for the usual handful, a hash
//! map for busy nodes such as `/` or `/vms` that can hold thousands of members.

use rustc_hash::FxHashMap;

use super::Slot;

/// Above this many members a node's list is hashed: one probe instead of a dozen dependent
/// binary-search steps over a list that spans many cache lines.
const HASH_ABOVE: usize = 16;

/// One member kind's slots at one node.
#[derive(Debug, Default, Clone)]
pub(super) enum Slots {
    #[default]
    Empty,
    Sorted(Box<[Slot]>),
    Hashed(FxHashMap<u32, Slot>),
}

impl Slots {
    /// Index `slots` (one per member).
    pub(super) fn new(mut slots: Vec<Slot>) -> Slots {
        if slots.is_empty() {
            return Slots::Empty;
        }
        if slots.len() > HASH_ABOVE {
            return Slots::Hashed(slots.into_iter().map(|s| (s.member, s)).collect());
        }
        slots.sort_by_key(|s| s.member);
        Slots::Sorted(slots.into_boxed_slice())
    }

    /// The slot of `member`, if it has entries here.
    #[inline]
    pub(super) fn find(&self, member: u32) -> Option<Slot> {
        match self {
            Slots::Empty => None,
            Slots::Sorted(list) => list
                .binary_search_by_key(&member, |s| s.member)
                .ok()
                .map(|i| list[i]),
            Slots::Hashed(map) => map.get(&member).copied(),
        }
    }

    /// Number of members with entries.
    pub(super) fn len(&self) -> usize {
        match self {
            Slots::Empty => 0,
            Slots::Sorted(list) => list.len(),
            Slots::Hashed(map) => map.len(),
        }
    }

    /// Whether no member has entries.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Call `f` with every slot, in no particular order (no allocation).
    pub(super) fn for_each(&self, mut f: impl FnMut(&Slot)) {
        match self {
            Slots::Empty => {}
            Slots::Sorted(list) => list.iter().for_each(f),
            Slots::Hashed(map) => map.values().for_each(&mut f),
        }
    }
}
