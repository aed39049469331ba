//! The pure permission engine (spec §3, §4): the compiled [`Engine`] that answers
//! `roles(authid, path)` and `privs(authid, path)`, built from `user.cfg`. The vocabulary it
//! speaks — privileges, roles, ACL paths — lives in [`crate::vocabulary`] (below `config`, which
//! reads and writes it too) and is re-exported here.

mod engine;

pub use crate::vocabulary::{
    AclPath, Components, NO_ACCESS, PrivSet, Privilege, UnknownPrivilege, builtin_role,
    builtin_roles, components, is_builtin_role,
};
pub use engine::{Engine, MatchKind, Privs, Subject};
