//! Proxmox's lenient `user.cfg` reader (spec §2.1). (Being written.)

use super::UserConfig;

/// A line Proxmox would skip or partly drop, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, in Proxmox's words where it has them.
    pub message: String,
}

pub(super) fn parse(_text: &str) -> (UserConfig, Vec<Warning>) {
    todo!("user.cfg reader")
}
