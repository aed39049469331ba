//! The pure permission engine (spec §3, §4): privileges, roles, ACL paths, and the compiled
//! [`Engine`] that answers `roles(authid, path)` and `privs(authid, path)`.

mod engine;
mod path;
mod privilege;
mod role;

pub use engine::{Engine, MatchKind, Privs, Subject};
pub use path::{AclPath, Components, components};
pub use privilege::{PrivSet, Privilege, UnknownPrivilege};
pub use role::{NO_ACCESS, builtin_role, builtin_roles, is_builtin_role};
