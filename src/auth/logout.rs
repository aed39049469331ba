//! The logout list (`state/logout.cfg`), consulted on every ticket-authenticated request. The
//! file and its reader and writer live with the other state files in `config::logout_cfg`.

pub use crate::config::logout_cfg::{LogoutError, LogoutList};
