//! [`PrivsCache`]: the last answers of [`super::Engine::privs_of`], per engine.
//!
//! A request's check usually asks the same (subject, path) as the caller's previous request (a
//! monitoring token polling `/vms/100`): the walk over a large ACL tree, twice for a
//! privilege-separated token and again for every pool, is then answered by one hashed slot.
//!
//! Exact: an engine is immutable once in a snapshot, a clone starts empty, and
//! [`super::Engine::apply`] (the one `&mut` change) empties it. Bounded: a fixed number of
//! direct-mapped slots, each overwritten by the next answer that hashes to it, and paths longer
//! than a slot holds are not kept — requests can only evict entries, never grow the cache. A
//! slot that another thread holds is skipped, never waited for.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Mutex;

use rustc_hash::FxBuildHasher;

use super::{Privs, Subject};

/// Number of slots (a power of two).
const SLOTS: usize = 1024;
/// The longest path kept.
const PATH_MAX: usize = 56;

/// Direct-mapped (subject, path) → privileges.
pub(super) struct PrivsCache {
    /// Allocated on the first store, so that engines that are never queried cost nothing.
    slots: std::sync::OnceLock<Box<[Mutex<Option<Cached>>]>>,
}

#[derive(Clone, Copy)]
struct Cached {
    subject: Subject,
    len: u8,
    path: [u8; PATH_MAX],
    privs: Privs,
}

// === impl PrivsCache ===

impl PrivsCache {
    /// The cached answer for `subject` on `path`, if any.
    #[inline]
    pub(super) fn get(&self, subject: Subject, path: &str) -> Option<Privs> {
        let slots = self.slots.get()?;
        let slot = slots[index(subject, path)].try_lock().ok()?;
        let c = slot.as_ref()?;
        (c.subject == subject && &c.path[..usize::from(c.len)] == path.as_bytes())
            .then_some(c.privs)
    }

    /// Remember `privs` as the answer for `subject` on `path`.
    pub(super) fn put(&self, subject: Subject, path: &str, privs: Privs) {
        let Ok(len) = u8::try_from(path.len()) else {
            return;
        };
        if path.len() > PATH_MAX {
            return;
        }
        let slots = self
            .slots
            .get_or_init(|| (0..SLOTS).map(|_| Mutex::new(None)).collect());
        let Ok(mut slot) = slots[index(subject, path)].try_lock() else {
            return;
        };
        let mut buf = [0; PATH_MAX];
        buf[..path.len()].copy_from_slice(path.as_bytes());
        *slot = Some(Cached {
            subject,
            len,
            path: buf,
            privs,
        });
    }

    /// Forget every answer (the engine changed).
    pub(super) fn clear(&mut self) {
        self.slots = std::sync::OnceLock::new();
    }
}

fn index(subject: Subject, path: &str) -> usize {
    let mut h = FxBuildHasher.build_hasher();
    subject.hash(&mut h);
    path.hash(&mut h);
    // Fx's high bits are its best mixed.
    (h.finish() >> 54) as usize & (SLOTS - 1)
}

impl Default for PrivsCache {
    fn default() -> PrivsCache {
        PrivsCache {
            slots: std::sync::OnceLock::new(),
        }
    }
}

/// A clone is another engine (about to be changed): it starts empty.
impl Clone for PrivsCache {
    fn clone(&self) -> PrivsCache {
        PrivsCache::default()
    }
}

impl std::fmt::Debug for PrivsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivsCache").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::access::Engine;
    use crate::config::UserConfig;
    use crate::config::user_cfg::{AclMember, Change};
    use crate::identity::Authid;
    use crate::vocabulary::AclPath;

    /// Cached answers are the walk's, a clone starts empty, and a change is seen at once.
    #[test]
    fn cached_answers_follow_changes() {
        let (cfg, _) = UserConfig::parse(
            "user:joe@pve:1:0:::::\ntoken:joe@pve!tk:0:1::\n\
             acl:1:/vms:joe@pve:PVEVMAdmin:\nacl:1:/vms:joe@pve!tk:PVEAuditor:\n",
        );
        let engine = Engine::build(&cfg);
        let long = format!("/vms/{}", "9".repeat(80));
        for who in ["joe@pve", "joe@pve!tk"] {
            let subject = engine.subject(&who.parse::<Authid>().unwrap());
            for path in ["/vms/100", "/", long.as_str()] {
                let walked = engine.privs_uncached(subject, path);
                assert_eq!(engine.privs_of(subject, path), walked, "{who} {path}");
                assert_eq!(engine.privs_of(subject, path), walked, "{who} {path} again");
            }
        }
        let joe: Authid = "joe@pve".parse().unwrap();
        let before = engine.privs(&joe, "/vms/100");
        assert!(!before.granted.is_empty());
        let mut changed = engine.clone();
        assert_eq!(
            changed.privs(&joe, "/vms/100"),
            before,
            "the clone answers alike"
        );
        changed.apply(&Change::Acl {
            path: AclPath::normalize("/vms/100").unwrap(),
            member: AclMember::User("joe@pve".parse().unwrap()),
            role: "NoAccess".parse().unwrap(),
            propagate: Some(true),
        });
        assert!(
            changed.privs(&joe, "/vms/100").granted.is_empty(),
            "NoAccess applies"
        );
        assert_eq!(
            engine.privs(&joe, "/vms/100"),
            before,
            "the original is unchanged"
        );
    }
}
