//! The access-control vocabulary (spec §3): privileges and their sets, the built-in roles, and
//! ACL paths. A leaf: `config` reads and writes these in `user.cfg`, and `access` (the engine)
//! computes with them; both depend on this module, never the other way round.

mod path;
mod privilege;
mod role;

pub use path::{AclPath, Components, components};
pub use privilege::{PrivSet, Privilege, UnknownPrivilege};
pub use role::{NO_ACCESS, builtin_role, builtin_roles, is_builtin_role};
