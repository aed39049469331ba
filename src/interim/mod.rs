//! Stand-ins for the parts of other work streams that have not landed on main yet.
//!
//! DELETE this module when `policy` (interfaces.md §B: `RouteTable`, `Params`, `eval`) is
//! merged: every item here has the contract's name and signature, so the swap is a change of
//! `use` lines in `snapshot.rs`, `proxy/` and `cli/`.
//! Deliberately minimal: a policy reader that knows `perm`, `and`,
//! `or`, `user = "all" | "world"` and root-only routes.

pub mod policy;
