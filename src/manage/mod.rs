//! Management operations shared by the `aclgate` CLI and the built-in access API: Proxmox's
//! validation rules for users, groups, roles, pools, tokens and ACL entries, written once. Every function edits a
//! [`crate::config::UserConfig`] (and the token secrets) handed in by
//! [`crate::config::StateDir::modify`], so callers get the lock, the re-read and the atomic
//! write for free.

pub mod acl;
pub mod group;
pub mod jobs;
pub mod password;
pub mod permissions;
pub mod pool;
pub mod realm;
pub mod realm_sync;
pub mod role;
pub mod token;
pub mod user;
pub mod value;
