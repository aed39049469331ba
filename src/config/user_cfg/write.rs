//! Proxmox's canonical `user.cfg` writer (spec §2.1). (Being written.)

use super::UserConfig;

pub(super) fn write(_cfg: &UserConfig) -> String {
    todo!("user.cfg writer")
}
